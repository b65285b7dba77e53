-- Named settings documents (JSON), e.g. the authentication methods policy. Every change is
-- audited with its before and after.
CREATE TABLE settings (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- When the user was first asked to register a second factor (the registration interrupt's
-- postponement is counted from it).
ALTER TABLE users ADD COLUMN mfa_registration_prompted_at BIGINT;
