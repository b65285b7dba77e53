//! Second factors checked during sign-in: TOTP codes and one-time codes sent by email.

use crate::edge::error::AppError;
use crate::signin::flow::PendingLogin;
use crate::signin::steps::StepResult;
use crate::state::AppState;
use time::OffsetDateTime;
use trustplane_core::authn::Step;
use trustplane_core::credential::secret_digest;
use trustplane_core::mfa::email::{CodePurpose, mask_address};
use trustplane_core::mfa::{MfaKind, TotpCheck, verify_totp};
use uuid::Uuid;

/// Emails a sign-in code to the user's registered address (the second-factor step).
pub async fn send_sign_in_code(
    state: &AppState,
    flow_secret: &str,
) -> Result<StepResult, AppError> {
    let Some(mut pending) = PendingLogin::load(state, flow_secret).await? else {
        return Ok(StepResult::Restart);
    };
    let (Some(Step::SecondFactor { methods }), Some(user_id)) =
        (pending.flow.current_step().cloned(), pending.flow.user_id())
    else {
        return Ok(StepResult::Restart);
    };
    let retry = |pending: PendingLogin, message: &str| StepResult::Retry {
        pending: Box::new(pending),
        message: message.to_string(),
    };
    let address = if methods.contains(&MfaKind::Email) {
        email_address_of(state, user_id).await?
    } else {
        None
    };
    let Some(address) = address else {
        return Ok(retry(
            pending,
            "No email address is registered for sign-in codes. Use another method.",
        ));
    };
    match crate::signin::email_codes::send(
        state,
        user_id,
        CodePurpose::SignIn,
        &secret_digest(flow_secret),
        &address,
    )
    .await?
    {
        Ok(()) => {
            pending.email_sent_to = Some(mask_address(&address));
            pending.save(state, flow_secret).await?;
            Ok(retry(pending, ""))
        }
        Err(crate::signin::email_codes::SendRefusal::TooMany) => Ok(retry(
            pending,
            "Several codes were sent in the last few minutes. Use the latest one, wait a little, or use another method.",
        )),
        Err(crate::signin::email_codes::SendRefusal::Undeliverable) => Ok(retry(
            pending,
            "The code could not be sent just now. Try again in a moment or use another method.",
        )),
    }
}

/// The user's oldest registered email address for codes, opened from its sealed form.
pub async fn email_address_of(state: &AppState, user_id: Uuid) -> Result<Option<String>, AppError> {
    for m in state.store.list_mfa_methods(user_id).await? {
        if m.kind != MfaKind::Email {
            continue;
        }
        let Some((_, sealed)) = state.store.mfa_secret(m.id).await? else {
            continue;
        };
        let raw = crate::platform::secrets::open(&state.mfa_key, m.id.as_bytes(), &sealed).map_err(|_| {
            tracing::error!(method = %m.id, "a stored email address cannot be opened (wrong master key?)");
            AppError::internal()
        })?;
        return Ok(String::from_utf8(raw).ok());
    }
    Ok(None)
}

/// Checks a TOTP code against the user's authenticator apps; a valid code's step is recorded
/// atomically (so a code raced from two requests is accepted once). Returns the outcome and
/// the method that accepted it.
pub async fn check_totp(
    state: &AppState,
    user_id: Uuid,
    code: &str,
    now: OffsetDateTime,
) -> Result<(TotpCheck, Option<Uuid>), AppError> {
    let unix = now.unix_timestamp().max(0) as u64;
    let mut outcome = TotpCheck::Invalid;
    for m in state.store.list_mfa_methods(user_id).await? {
        if m.kind != MfaKind::Totp {
            continue;
        }
        let Some((_, sealed)) = state.store.mfa_secret(m.id).await? else {
            continue;
        };
        let secret = crate::platform::secrets::open(&state.mfa_key, m.id.as_bytes(), &sealed).map_err(|_| {
            tracing::error!(method = %m.id, "a stored TOTP secret cannot be opened (wrong master key?)");
            AppError::internal()
        })?;
        match verify_totp(&secret, code, unix, m.last_step).map_err(|_| AppError::internal())? {
            TotpCheck::Valid { step } => {
                if state.store.use_totp_step(m.id, step, now).await? {
                    return Ok((TotpCheck::Valid { step }, Some(m.id)));
                }
                outcome = TotpCheck::Replayed;
            }
            TotpCheck::Replayed => outcome = TotpCheck::Replayed,
            TotpCheck::Invalid => {}
        }
    }
    Ok((outcome, None))
}
