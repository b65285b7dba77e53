-- Sign-in limits (docs/security.md "Sign-in limits and lockout").

-- Failure counters in a fixed window, one row per counter name ("mfa:<folded login name>",
-- with a device suffix for a browser that signed in before). Incremented by one conditional
-- upsert, so every instance sees the same count.
CREATE TABLE sign_in_failures (
    name TEXT PRIMARY KEY NOT NULL,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_window ON sign_in_failures(window_start);

-- Codes checked in a flow (sign-in or reset), claimed one at a time before each check.
ALTER TABLE login_flows ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;

-- Browsers that signed in successfully before (the tp_device cookie; only its SHA-256).
CREATE TABLE known_devices (
    device_hash TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (device_hash, user_id)
);
CREATE INDEX known_devices_user ON known_devices(user_id);
