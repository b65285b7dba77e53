-- Organisation-specific banned password terms (password protection).
CREATE TABLE banned_terms (
    term TEXT PRIMARY KEY NOT NULL,   -- normalised matching form
    display TEXT NOT NULL,            -- as the administrator typed it
    added_at BIGINT NOT NULL,
    added_by TEXT NOT NULL
);
