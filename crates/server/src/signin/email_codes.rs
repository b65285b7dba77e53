//! Sending and checking one-time codes by email (see `trustplane_core::mfa::email`).

use crate::edge::error::AppError;
use crate::state::AppState;
use rand::RngCore;
use rand::rngs::OsRng;
use trustplane_core::credential::constant_time_eq;
use trustplane_core::mfa::email::{
    CodePurpose, EMAIL_CODE_LIFETIME, EMAIL_CODE_MAX_ATTEMPTS, EMAIL_CODE_WINDOW,
    EMAIL_CODES_PER_WINDOW, code_from_random, normalize_email_code,
};
use trustplane_store::NewCode;
use uuid::Uuid;

/// Why a code could not be sent.
#[derive(Debug, PartialEq, Eq)]
pub enum SendRefusal {
    /// Too many codes for this user recently.
    TooMany,
    /// The mail transport failed (logged).
    Undeliverable,
}

/// The keyed hash of a code (the code id is part of the message, so equal codes of two
/// ceremonies never share a hash).
fn hash(state: &AppState, id: Uuid, code: &str) -> String {
    crate::platform::secrets::hmac_b64(&state.code_key, format!("{id}:{code}").as_bytes())
}

/// Generates a code, stores its hash bound to `bound_to`, and emails it to `destination`
/// before returning (so the page can honestly say it was sent).
pub async fn send(
    state: &AppState,
    user_id: Uuid,
    purpose: CodePurpose,
    bound_to: &str,
    destination: &str,
) -> Result<Result<(), SendRefusal>, AppError> {
    let now = state.now();
    if state
        .store
        .codes_sent_since(user_id, now - EMAIL_CODE_WINDOW)
        .await?
        >= EMAIL_CODES_PER_WINDOW
    {
        metrics::counter!("trustplane_email_codes_total", "result" => "rate_limited").increment(1);
        return Ok(Err(SendRefusal::TooMany));
    }
    let Some(mailer) = state.mailer() else {
        tracing::error!("a one-time code cannot be sent: email is not configured");
        return Ok(Err(SendRefusal::Undeliverable));
    };
    let mut random = [0u8; 8];
    OsRng.fill_bytes(&mut random);
    let code = code_from_random(random);
    let id = Uuid::now_v7();
    state
        .store
        .create_code(&NewCode {
            id,
            user_id,
            purpose,
            bound_to: bound_to.to_string(),
            destination: destination.to_string(),
            code_hash: hash(state, id, &code),
            created_at: now,
            expires_at: now + EMAIL_CODE_LIFETIME,
        })
        .await?;
    let org = &state.cfg.organisation;
    let (subject, why) = match purpose {
        CodePurpose::SignIn => (format!("{org} sign-in code"), "to finish signing in"),
        CodePurpose::VerifyAddress => (
            format!("{org}: confirm your email address"),
            "to confirm this address for your account",
        ),
        CodePurpose::PasswordReset => (
            format!("{org} password reset code"),
            "to reset your password",
        ),
    };
    let body = format!(
        "Your {org} code is:\n\n    {} {}\n\nEnter it {why}. It expires in {} minutes and works once.\n\n\
         If you did not ask for it, someone may know your password or be trying to reset it: \
         do not share the code, and tell your administrator.\n",
        &code[..4],
        &code[4..],
        EMAIL_CODE_LIFETIME.whole_minutes()
    );
    match mailer.send(destination, &subject, &body).await {
        Ok(()) => {
            metrics::counter!("trustplane_email_codes_total", "result" => "sent").increment(1);
            Ok(Ok(()))
        }
        Err(e) => {
            tracing::warn!(error = %e, purpose = purpose.as_str(), "a one-time code could not be sent");
            metrics::counter!("trustplane_email_codes_total", "result" => "failed").increment(1);
            Ok(Err(SendRefusal::Undeliverable))
        }
    }
}

/// The result of checking a typed code.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    /// Correct; the code is now used. Carries where it had been sent.
    Valid { user_id: Uuid, destination: String },
    /// Wrong (counted against the code).
    Wrong,
    /// No live code for this ceremony (never sent, expired, used, or voided).
    NoCode,
}

/// Checks `typed` against the live code of a ceremony, in constant time.
pub async fn check(
    state: &AppState,
    bound_to: &str,
    purpose: CodePurpose,
    typed: &str,
) -> Result<Check, AppError> {
    let now = state.now();
    let Some(live) = state.store.live_code(bound_to, purpose, now).await? else {
        return Ok(Check::NoCode);
    };
    let ok = normalize_email_code(typed).is_some_and(|code| {
        constant_time_eq(
            hash(state, live.id, &code).as_bytes(),
            live.code_hash.as_bytes(),
        )
    });
    if ok && state.store.use_code(live.id, now).await? {
        return Ok(Check::Valid {
            user_id: live.user_id,
            destination: live.destination,
        });
    }
    state
        .store
        .fail_code(live.id, EMAIL_CODE_MAX_ATTEMPTS, now)
        .await?;
    Ok(Check::Wrong)
}
