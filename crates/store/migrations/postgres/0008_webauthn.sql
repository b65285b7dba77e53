-- WebAuthn credentials (FIDO2 security keys and passkeys). `passkey` is the webauthn-rs
-- serialisation (public key, counter, flags): public material, no secret.
CREATE TABLE webauthn_credentials (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,   -- base64url, as the authenticator chose it
    passkey TEXT NOT NULL,
    label TEXT NOT NULL,
    aaguid TEXT,                          -- authenticator model; NULL when not given
    backup_eligible BIGINT NOT NULL,     -- 1: synced passkey, 0: device-bound
    backup_state BIGINT NOT NULL,
    user_verified BIGINT NOT NULL,       -- UV performed at registration
    attestation_format TEXT NOT NULL,
    attested BIGINT NOT NULL,            -- a vendor attestation certificate was presented
    sign_count BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials(user_id);

-- Ceremonies in progress (registration or authentication challenge state, server side so
-- that any instance can finish them). Single use: deleted when consumed; expired ones swept.
CREATE TABLE webauthn_ceremonies (
    id_hash TEXT PRIMARY KEY NOT NULL,    -- SHA-256 of the random id the browser holds
    purpose TEXT NOT NULL,                -- register | second_factor | passwordless
    binding TEXT NOT NULL,                -- the session or sign-in flow it belongs to
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies(expires_at);
