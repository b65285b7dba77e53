-- Applications protected by trustplane (forward-auth) and the routes (host + path prefix)
-- that map a proxied request to one. allowed_hosts: JSON list of host names a sign-in may
-- return to.
CREATE TABLE applications (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    allowed_hosts TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE routes (
    id TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    host TEXT NOT NULL,
    path_prefix TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (host, path_prefix)
);
CREATE INDEX routes_app ON routes(app_id);

-- Signing keys for assertions (forward-auth) and, later, ID tokens. The private key (PKCS#8
-- DER) is sealed with a key derived from the operator's master key, bound to the kid.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    private_key TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);
