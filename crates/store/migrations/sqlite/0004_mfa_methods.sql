-- Registered second factors. Secrets are sealed (XChaCha20-Poly1305 under a key derived from
-- the master key) before they reach the database.
CREATE TABLE mfa_methods (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    secret_sealed TEXT NOT NULL,
    last_step INTEGER,                 -- TOTP: the last accepted time step (replay protection)
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX mfa_methods_user ON mfa_methods(user_id);

-- Single-use recovery codes (high-entropy; only their SHA-256 is stored).
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    used_at INTEGER,
    PRIMARY KEY (user_id, code_hash)
);
