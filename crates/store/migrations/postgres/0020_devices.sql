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
    certificate_pem TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    last_report_at BIGINT,
    compliance_json TEXT NOT NULL,
    -- The latest posture report as the server read it (JSON), for re-judging and the console.
    posture_json TEXT,
    machine_risk TEXT NOT NULL
);

CREATE INDEX devices_owner ON devices (owner_id);
CREATE INDEX devices_last_seen ON devices (last_seen);

-- The installation's device certificate authority (one, id 'current'; the private key is
-- sealed with a key derived from the master key, like signing keys).
CREATE TABLE device_authorities (
    id TEXT PRIMARY KEY NOT NULL,
    certificate_pem TEXT NOT NULL,
    sealed_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    not_after BIGINT NOT NULL
);
