-- OpenID Connect provider: clients (each belongs to an application, so conditional access
-- targets it), pending authorization requests, authorization codes, device codes, and the
-- access and refresh tokens issued. Every secret (client secret, code, token, device code)
-- is stored only as its SHA-256 (hex); JSON columns hold lists and per-grant details.
CREATE TABLE oidc_clients (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    app_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    secret_hash TEXT,
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    scopes TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    token_endpoint_auth_method TEXT NOT NULL,
    id_token_alg TEXT NOT NULL,
    groups_claim INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX oidc_clients_app ON oidc_clients(app_id);

CREATE TABLE oidc_requests (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES oidc_clients(id) ON DELETE CASCADE,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE oidc_codes (
    hash TEXT PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES oidc_clients(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_id TEXT,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);

CREATE TABLE oidc_device_codes (
    hash TEXT PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL,
    user_code TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL REFERENCES oidc_clients(id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    status TEXT NOT NULL,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    session_id TEXT,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    last_poll_at INTEGER
);

CREATE TABLE oidc_tokens (
    hash TEXT PRIMARY KEY NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES oidc_clients(id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    session_id TEXT,
    scope TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX oidc_tokens_grant ON oidc_tokens(grant_id);
CREATE INDEX oidc_tokens_session ON oidc_tokens(session_id);
