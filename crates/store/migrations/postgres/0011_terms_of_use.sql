-- Terms of use that conditional access can require users to accept, and who accepted what.
CREATE TABLE terms_of_use (
    id TEXT PRIMARY KEY NOT NULL,      -- slug, referred to by policies
    name TEXT NOT NULL,
    body TEXT NOT NULL,                -- plain text shown to the user
    created_at BIGINT NOT NULL
);
CREATE TABLE terms_acceptances (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    terms_id TEXT NOT NULL REFERENCES terms_of_use(id) ON DELETE CASCADE,
    accepted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, terms_id)
);
