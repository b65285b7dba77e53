-- Multi-step sign-ins kept server-side (any instance can continue them) and risk detections.
CREATE TABLE login_flows (
    id_hash TEXT PRIMARY KEY NOT NULL,   -- SHA-256 of the random flow cookie; the cookie is never stored
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    data TEXT NOT NULL,                  -- the serialised flow (core::authn::LoginFlow and edge context)
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX login_flows_expires ON login_flows(expires_at);

CREATE TABLE risk_detections (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('low', 'medium', 'high')),
    state TEXT NOT NULL CHECK (state IN ('at_risk', 'remediated', 'dismissed')),
    source TEXT NOT NULL,
    correlation_id TEXT,
    detected_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX risk_detections_user ON risk_detections(user_id, detected_at);
CREATE INDEX risk_detections_detected ON risk_detections(detected_at);

-- Revision counters: a cache (e.g. the compiled organisation banned list) asks for one number
-- instead of re-reading the table. Bumped by triggers, so no code path can forget it.
CREATE TABLE revisions (
    name TEXT PRIMARY KEY NOT NULL,
    rev INTEGER NOT NULL
);
INSERT INTO revisions (name, rev) VALUES ('banned_terms', 0);
CREATE TRIGGER banned_terms_rev_insert AFTER INSERT ON banned_terms
BEGIN UPDATE revisions SET rev = rev + 1 WHERE name = 'banned_terms'; END;
CREATE TRIGGER banned_terms_rev_update AFTER UPDATE ON banned_terms
BEGIN UPDATE revisions SET rev = rev + 1 WHERE name = 'banned_terms'; END;
CREATE TRIGGER banned_terms_rev_delete AFTER DELETE ON banned_terms
BEGIN UPDATE revisions SET rev = rev + 1 WHERE name = 'banned_terms'; END;
