-- Information protection: authentication contexts (what a sensitive resource asks of a
-- sign-in, e.g. "c1: phishing-resistant MFA"), sensitivity labels with an order
-- (Public < General < Confidential < Highly Confidential), each mapped to at most one
-- authentication context, and labels assigned to applications and to route path prefixes.
CREATE TABLE authentication_contexts (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE sensitivity_labels (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    rank INTEGER NOT NULL UNIQUE,
    authentication_context TEXT REFERENCES authentication_contexts(id),
    created_at BIGINT NOT NULL
);

ALTER TABLE applications ADD COLUMN sensitivity_label TEXT REFERENCES sensitivity_labels(id);
ALTER TABLE routes ADD COLUMN sensitivity_label TEXT REFERENCES sensitivity_labels(id);
