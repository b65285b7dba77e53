//! API tokens and sessions: create and revoke tokens, revoke a session, token lifetimes.

use crate::edge::error::AppError;
use crate::ops::Ops;
use crate::platform::secrets::random_token;
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::credential::secret_digest;
use trustplane_core::identity::{Role, validate_name};
use trustplane_core::session::ApiToken;
use uuid::Uuid;

/// Parses a lifetime like `90d`, `12h`, `30m`.
pub fn parse_lifetime(s: &str) -> Result<time::Duration, AppError> {
    let s = s.trim();
    let bad = || {
        AppError::bad_request(
            "invalid_expiry",
            format!("`{s}` is not a lifetime: use a number with d, h or m (e.g. 90d)"),
        )
    };
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = num.parse().map_err(|_| bad())?;
    if n <= 0 {
        return Err(bad());
    }
    let lifetime = match unit {
        "d" => crate::platform::durations::days(n),
        "h" => crate::platform::durations::hours(n),
        "m" => crate::platform::durations::minutes(n),
        _ => return Err(bad()),
    };
    lifetime.ok_or_else(|| {
        AppError::bad_request(
            "invalid_expiry",
            format!("`{s}` is too long a lifetime (at most 366 days)"),
        )
    })
}

impl Ops {
    /// Creates an API token; returns it with the secret, which is shown once and never stored.
    pub async fn create_token(
        &self,
        actor: &Actor,
        name: &str,
        role: Role,
        lifetime: time::Duration,
    ) -> Result<(ApiToken, String), AppError> {
        if lifetime <= time::Duration::ZERO || lifetime > time::Duration::days(366) {
            return Err(AppError::bad_request(
                "invalid_expiry",
                "Token lifetime must be between 1 minute and 366 days.",
            ));
        }
        let now = self.now();
        let token = ApiToken {
            id: Uuid::now_v7(),
            name: validate_name("name", name)?,
            role,
            created_at: now,
            expires_at: now + lifetime,
            created_by: actor.id.clone(),
            last_used_at: None,
            revoked_at: None,
        };
        let secret = format!("tpat_{}", random_token());
        let audit = AuditDraft::new(
            actor,
            "token.create",
            "api_token",
            Some(token.id.to_string()),
        )
        .after(&token);
        self.store
            .create_api_token(&token, &secret_digest(&secret), audit)
            .await?;
        Ok((token, secret))
    }

    pub async fn revoke_token(&self, actor: &Actor, id: Uuid) -> Result<bool, AppError> {
        let audit = AuditDraft::new(actor, "token.revoke", "api_token", Some(id.to_string()));
        Ok(self.store.revoke_api_token(id, self.now(), audit).await?)
    }

    pub async fn revoke_session(&self, actor: &Actor, session_id: Uuid) -> Result<bool, AppError> {
        let audit = AuditDraft::new(
            actor,
            "session.revoke",
            "session",
            Some(session_id.to_string()),
        );
        Ok(self
            .store
            .revoke_session(session_id, self.now(), Some(audit))
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_parse() {
        assert_eq!(parse_lifetime("90d").unwrap(), time::Duration::days(90));
        assert_eq!(parse_lifetime("12h").unwrap(), time::Duration::hours(12));
        for bad in [
            "",
            "d",
            "0d",
            "-1d",
            "5y",
            "abc",
            "9999999999999999d",
            "9223372036854775807m",
        ] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }
}
