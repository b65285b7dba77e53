-- Device trust (issue 15): registered devices, identified by the certificate trustplane's
-- device CA issued to their key. The fingerprint (SHA-256 of the certificate's DER, hex) is
-- what a proxy passes; it is unique. Compliance is the server's latest judgement (JSON:
-- state and reasons); machine risk comes from an endpoint-protection connector.
CREATE TABLE devices (
    id TEXT PRIMARY KEY NOT NULL,
    owner_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    platform TEXT NOT NULL,
    os_version TEXT,
    hostname TEXT,
    manufacturer TEXT,
    model TEXT,
    trust_type TEXT NOT NULL,
    state TEXT NOT NULL,
    cert_serial TEXT NOT NULL,
    cert_fingerprint TEXT NOT NULL UNIQUE,
    cert_not_after BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    last_report_at BIGINT,
    compliance_json TEXT NOT NULL,
    machine_risk TEXT NOT NULL
);

CREATE INDEX devices_owner ON devices (owner_id);
CREATE INDEX devices_last_seen ON devices (last_seen);
