-- One-time codes sent by email (sign-in second factor, address verification, password
-- reset). Only a keyed hash of the code is stored; a code is bound to one ceremony (the
-- digest of a sign-in or reset flow, or of a session) and one purpose.
CREATE TABLE one_time_codes (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    bound_to TEXT NOT NULL,
    destination TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX one_time_codes_bound ON one_time_codes(bound_to, purpose);
CREATE INDEX one_time_codes_user ON one_time_codes(user_id, created_at);

-- An administrator required the user to register their second factors again.
ALTER TABLE users ADD COLUMN mfa_reregister_required BIGINT NOT NULL DEFAULT 0;
