//! Password operations: evaluation against the banned lists and the breach filter, the
//! organisation's banned terms, setting a password, temporary passwords.

use crate::edge::error::AppError;
use crate::ops::Ops;
use crate::platform::secrets::random_salt;
use std::sync::{Arc, OnceLock};
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::credential::{HashParams, hash_password};
use trustplane_core::password::{
    BannedList, PasswordChecker, UserTerms, Verdict, normalize::normalize_term,
};
use uuid::Uuid;

/// The built-in global banned list, decompressed and indexed once per process.
pub fn global_banned() -> Result<&'static BannedList, AppError> {
    static GLOBAL: OnceLock<Result<BannedList, String>> = OnceLock::new();
    GLOBAL
        .get_or_init(|| BannedList::global().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| {
            tracing::error!(error = %e, "the built-in banned password list is unusable");
            AppError::internal()
        })
}

/// A refused password as an API error: every reason in plain words, none revealing the lists.
pub fn password_error(v: &Verdict) -> AppError {
    AppError::bad_request("password_rejected", v.messages().join(" "))
}

/// Hashes on a blocking thread (Argon2id takes tens of milliseconds by design).
pub async fn hash(password: &str, params: HashParams) -> Result<String, AppError> {
    let pw = password.to_string();
    tokio::task::spawn_blocking(move || hash_password(&pw, &params, &random_salt()))
        .await
        .map_err(|_| AppError::internal())?
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            AppError::internal()
        })
}

/// The compiled organisation banned list, with the store revision it was built from.
#[derive(Default)]
pub struct BannedCache(std::sync::Mutex<Option<(i64, Arc<BannedList>)>>);

impl Ops {
    /// The organisation's custom banned list, as stored now. Compiling it takes about 20 ms
    /// per thousand terms, so it is cached and rebuilt only when the store's revision counter
    /// for the terms moved (one indexed read per check; every instance sees changes at once).
    pub async fn custom_banned(&self) -> Result<Arc<BannedList>, AppError> {
        let rev = self.store.banned_terms_revision().await?;
        if let Some(cache) = &self.banned_cache
            && let Some(list) = cache.get(rev)
        {
            return Ok(list);
        }
        let terms = self.store.list_banned_terms().await?;
        let list =
            BannedList::from_normalized(terms.iter().map(|t| t.term.as_str())).map_err(|e| {
                tracing::error!(error = %e, "a stored banned term is unusable");
                AppError::internal()
            })?;
        let list = Arc::new(list);
        if let Some(cache) = &self.banned_cache {
            // Read the revision before the terms: the cached list is never older than `rev`.
            cache.put(rev, list.clone());
        }
        Ok(list)
    }

    /// Evaluates a candidate password for a user (identified by login, display name and
    /// email, for the personal-information check).
    pub async fn evaluate_password(
        &self,
        login: &str,
        display_name: &str,
        email: Option<&str>,
        password: &str,
    ) -> Result<Verdict, AppError> {
        let custom = self.custom_banned().await?;
        let checker = PasswordChecker {
            policy: &self.password_policy,
            global: global_banned()?,
            custom: &custom,
        };
        let mut names = display_name.split_whitespace();
        let first = names.next();
        let last = names.next_back();
        let org = Some(self.organisation.as_str()).filter(|o| !o.is_empty() && *o != "trustplane");
        let mut verdict = checker.evaluate(
            &UserTerms {
                first_name: first,
                last_name: last,
                display_name: Some(display_name),
                login: Some(login),
                email,
                organisation: org,
            },
            password,
        );
        if let Some(f) = &self.breach
            && f.contains_password(password)
        {
            verdict.refuse(trustplane_core::password::Reason::Breached);
        }
        Ok(verdict)
    }

    /// Refuses the password with every reason unless it passes password protection.
    pub async fn check_new_password(
        &self,
        login: &str,
        display_name: &str,
        email: Option<&str>,
        password: &str,
    ) -> Result<(), AppError> {
        let v = self
            .evaluate_password(login, display_name, email, password)
            .await?;
        if v.accepted {
            Ok(())
        } else {
            Err(password_error(&v))
        }
    }

    /// Adds organisation-specific banned terms (normalised; at least 4 characters each).
    pub async fn add_banned_terms(&self, actor: &Actor, terms: &[String]) -> Result<u64, AppError> {
        let mut pairs = Vec::new();
        for t in terms {
            let display = t.trim();
            if display.is_empty() {
                continue;
            }
            if display.chars().any(char::is_control) || display.chars().count() > 64 {
                return Err(AppError::bad_request(
                    "invalid_term",
                    format!(
                        "`{}` is not a usable term (1 to 64 printable characters).",
                        display.chars().take(64).collect::<String>()
                    ),
                ));
            }
            let norm = normalize_term(display, &self.password_policy.substitutions);
            if norm.chars().count() < trustplane_core::password::banned::MIN_TERM_LEN {
                return Err(AppError::bad_request(
                    "term_too_short",
                    format!(
                        "`{display}` is shorter than 4 characters; short terms would refuse too much."
                    ),
                ));
            }
            pairs.push((norm, display.to_string()));
        }
        if pairs.is_empty() {
            return Err(AppError::bad_request("no_terms", "No terms given."));
        }
        let audit = AuditDraft::new(actor, "password.banned_terms.add", "banned_terms", None)
            .after(&pairs.iter().map(|(_, d)| d.as_str()).collect::<Vec<_>>());
        Ok(self
            .store
            .add_banned_terms(&pairs, &actor.id, audit)
            .await?)
    }

    pub async fn remove_banned_term(&self, actor: &Actor, term: &str) -> Result<bool, AppError> {
        let norm = normalize_term(term, &self.password_policy.substitutions);
        let audit = AuditDraft::new(
            actor,
            "password.banned_terms.remove",
            "banned_terms",
            Some(norm.clone()),
        )
        .before(&term);
        Ok(self.store.remove_banned_term(&norm, audit).await?)
    }

    /// Sets a password (admin reset or CLI); with `must_change` the user has to choose a new
    /// one at their next sign-in. All of the user's sessions are revoked in the same
    /// transaction.
    pub async fn set_password(
        &self,
        actor: &Actor,
        id: Uuid,
        password: &str,
        must_change: bool,
    ) -> Result<(), AppError> {
        let user = self.user(id).await?;
        self.check_new_password(
            &user.username,
            &user.display_name,
            user.email.as_deref(),
            password,
        )
        .await?;
        let h = self.hash(password).await?;
        let now = self.now();
        let audit = AuditDraft::new(actor, "user.password.set", "user", Some(id.to_string()))
            .after(&serde_json::json!({
                "username": user.username,
                "sessions_revoked": true,
                "must_change": must_change,
            }));
        self.store
            .set_password_hash(id, &h, must_change, Some(now), Some(audit))
            .await?;
        Ok(())
    }

    /// Sets a generated temporary password (100 random bits, shown once to the administrator)
    /// that the user must change at their next sign-in; every session of the user is revoked.
    pub async fn temporary_password(&self, actor: &Actor, id: Uuid) -> Result<String, AppError> {
        use rand::RngCore;
        let mut raw = [0u8; 25];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let b32 = trustplane_core::mfa::base32(&raw).to_ascii_lowercase();
        let password = format!(
            "{}-{}-{}-{}-{}",
            &b32[0..4],
            &b32[4..8],
            &b32[8..12],
            &b32[12..16],
            &b32[16..20]
        );
        self.set_password(actor, id, &password, true).await?;
        Ok(password)
    }
}

impl BannedCache {
    fn get(&self, rev: i64) -> Option<Arc<BannedList>> {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.as_ref()
            .filter(|(r, _)| *r == rev)
            .map(|(_, l)| l.clone())
    }

    fn put(&self, rev: i64, list: Arc<BannedList>) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *g = Some((rev, list));
    }
}
