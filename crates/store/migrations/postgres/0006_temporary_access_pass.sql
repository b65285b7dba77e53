-- Temporary Access Passes: at most one per user; only the SHA-256 of the pass is stored.
CREATE TABLE temporary_access_passes (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    pass_hash TEXT NOT NULL,
    one_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    used_at BIGINT
);
