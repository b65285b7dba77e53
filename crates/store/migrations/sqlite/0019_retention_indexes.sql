-- Retention deletes expired rows in small batches (crates/store/src/retention.rs): index the
-- expiry columns it searches. (Numbered 0019 to stay clear of concurrent 0014+ migrations.)
CREATE INDEX sessions_idle_expires ON sessions(idle_expires_at);
CREATE INDEX sessions_absolute_expires ON sessions(absolute_expires_at);
CREATE INDEX one_time_codes_expires ON one_time_codes(expires_at);
CREATE INDEX oidc_requests_expires ON oidc_requests(expires_at);
CREATE INDEX oidc_codes_expires ON oidc_codes(expires_at);
CREATE INDEX oidc_device_codes_expires ON oidc_device_codes(expires_at);
CREATE INDEX oidc_tokens_expires ON oidc_tokens(expires_at);
