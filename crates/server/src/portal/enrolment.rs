//! Registering an authenticator app (TOTP) or an email address for codes from the security
//! info page; the secret is bound to the session and confirmed with a first code.

use crate::edge::auth::{PageUser, RequestCtx, SessionCtx};
use crate::edge::error::AppError;
use crate::edge::pages::CsrfOnlyForm;
use crate::edge::pages::{Chrome, CsrfForm, PageError, PageResult, render};
use crate::platform::secrets::{open, seal};
use crate::portal::security_info::ENROL_LIFETIME_SECS;
use crate::portal::security_info::EnrolPage;
use crate::portal::security_info::back_with_error;
use crate::portal::security_info::done;
use crate::portal::security_info::notify;
use crate::portal::security_info::require_recent;
use crate::state::AppState;
use axum::extract::State;
use axum::response::IntoResponse;
use axum_extra::extract::cookie::CookieJar;
use rand::RngCore;
use serde::Deserialize;
use trustplane_core::audit::AuditDraft;
use trustplane_core::mfa::email::{CodePurpose, plausible_address};
use trustplane_core::mfa::{
    MfaKind, MfaMethod, TOTP_SECRET_LEN, TotpCheck, otpauth_uri, verify_totp,
};
use uuid::Uuid;

pub(super) fn enrol_context(ctx: &SessionCtx) -> Vec<u8> {
    format!("totp-enrol:{}:{}", ctx.user.id, ctx.session.id).into_bytes()
}

/// `POST /my/security-info/totp`: shows a new secret (QR code and text) to scan.
pub async fn start_totp(
    State(state): State<AppState>,
    jar: CookieJar,
    PageUser(ctx): PageUser,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    if let Err(m) = require_recent(&ctx, state.now()) {
        return Ok(back_with_error(&state, &m));
    }
    let policy = state.ops().methods_policy().await?;
    if !policy.totp_allowed(&state.store.group_ids_of(ctx.user.id).await?) {
        return Ok(back_with_error(
            &state,
            "Your organisation does not allow authenticator apps for your account.",
        ));
    }
    let mut secret = [0u8; TOTP_SECRET_LEN];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let expires = state.now().unix_timestamp() + ENROL_LIFETIME_SECS;
    let mut plain = secret.to_vec();
    plain.extend_from_slice(&expires.to_be_bytes());
    let pending =
        seal(&state.mfa_key, &enrol_context(&ctx), &plain).map_err(|_| AppError::internal())?;
    let account = ctx
        .user
        .email
        .clone()
        .unwrap_or_else(|| ctx.user.username.clone());
    let uri = otpauth_uri(&secret, &state.cfg.organisation, &account);
    enrol_page(
        &state,
        jar,
        &ctx,
        &secret,
        uri,
        pending,
        "Authenticator app",
        None,
    )
}

#[allow(clippy::too_many_arguments)]
pub(super) fn enrol_page(
    state: &AppState,
    jar: CookieJar,
    ctx: &SessionCtx,
    secret: &[u8],
    uri: String,
    pending: String,
    label: &str,
    error: Option<String>,
) -> PageResult {
    let qr_svg = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|_| AppError::internal())?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(false)
        .build();
    let (jar, csrf) = state.csrf_issue(jar);
    let mut c = Chrome::new(ctx, csrf, "security");
    c.error = error;
    let page = EnrolPage {
        c,
        qr_svg,
        secret_b32: trustplane_core::mfa::base32(secret),
        uri,
        pending,
        label: label.to_string(),
    };
    Ok((jar, render(&page)).into_response())
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    pub(super) pending: String,
    pub(super) code: String,
    #[serde(default)]
    pub(super) label: String,
}

/// `POST /my/security-info/totp/confirm`: registers the app once it shows a valid code.
pub async fn confirm_totp(
    State(state): State<AppState>,
    req: RequestCtx,
    jar: CookieJar,
    PageUser(ctx): PageUser,
    CsrfForm(f): CsrfForm<ConfirmForm>,
) -> PageResult {
    if let Err(m) = require_recent(&ctx, state.now()) {
        return Ok(back_with_error(&state, &m));
    }
    let Ok(plain) = open(&state.mfa_key, &enrol_context(&ctx), &f.pending) else {
        return Ok(back_with_error(
            &state,
            "This enrolment is not valid any more. Start again.",
        ));
    };
    if plain.len() != TOTP_SECRET_LEN + 8 {
        return Err(PageError(AppError::internal()));
    }
    let (secret, exp) = plain.split_at(TOTP_SECRET_LEN);
    let mut exp_bytes = [0u8; 8];
    exp_bytes.copy_from_slice(exp);
    let now = state.now();
    if now.unix_timestamp() > i64::from_be_bytes(exp_bytes) {
        return Ok(back_with_error(
            &state,
            "The enrolment took more than 10 minutes. Start again.",
        ));
    }
    let label: String = {
        let l = f.label.trim();
        let l = if l.is_empty() { "Authenticator app" } else { l };
        l.chars().filter(|c| !c.is_control()).take(64).collect()
    };
    let account = ctx
        .user
        .email
        .clone()
        .unwrap_or_else(|| ctx.user.username.clone());
    let retry = |message: &str| {
        enrol_page(
            &state,
            jar.clone(),
            &ctx,
            secret,
            otpauth_uri(secret, &state.cfg.organisation, &account),
            f.pending.clone(),
            &label,
            Some(message.to_string()),
        )
    };
    let unix = now.unix_timestamp().max(0) as u64;
    let step = match verify_totp(secret, &f.code, unix, None).map_err(|_| AppError::internal())? {
        TotpCheck::Valid { step } => step,
        _ => {
            return retry(
                "That code is not correct. Check that the app shows a code for this account and that the phone's clock is right.",
            );
        }
    };
    let method = MfaMethod {
        id: Uuid::now_v7(),
        user_id: ctx.user.id,
        kind: MfaKind::Totp,
        label,
        // The confirming code cannot be used again to sign in.
        last_step: Some(step),
        created_at: now,
        last_used_at: None,
    };
    let sealed =
        seal(&state.mfa_key, method.id.as_bytes(), secret).map_err(|_| AppError::internal())?;
    let audit = AuditDraft::new(
        &ctx.actor(req.ip),
        "mfa.method.add",
        "user",
        Some(ctx.user.id.to_string()),
    )
    .after(&serde_json::json!({ "method": method.id, "kind": "totp", "label": method.label }));
    state.store.add_mfa_method(&method, &sealed, audit).await?;
    notify(
        &state,
        &ctx,
        "An authenticator app was added to your account",
        req.ip,
    )
    .await;
    Ok(done(&state, &jar, "added"))
}

/// A confirmation code for a new address belongs to the session that asked for it.
pub(super) fn verify_binding(ctx: &SessionCtx) -> String {
    format!("verify-address:{}", ctx.session.id)
}

#[derive(Deserialize)]
pub struct EmailForm {
    pub(super) address: String,
}

/// `POST /my/security-info/email`: sends a confirmation code to a new address.
pub async fn start_email(
    State(state): State<AppState>,
    jar: CookieJar,
    PageUser(ctx): PageUser,
    CsrfForm(f): CsrfForm<EmailForm>,
) -> PageResult {
    if let Err(m) = require_recent(&ctx, state.now()) {
        return Ok(back_with_error(&state, &m));
    }
    let policy = state.ops().methods_policy().await?;
    if !policy.email_allowed(&state.store.group_ids_of(ctx.user.id).await?) {
        return Ok(back_with_error(
            &state,
            "Your organisation does not allow email codes for your account.",
        ));
    }
    let address = f.address.trim();
    if !plausible_address(address) {
        return Ok(back_with_error(
            &state,
            "Enter an email address such as name@example.com.",
        ));
    }
    match crate::signin::email_codes::send(
        &state,
        ctx.user.id,
        CodePurpose::VerifyAddress,
        &verify_binding(&ctx),
        address,
    )
    .await?
    {
        Ok(()) => Ok(done(&state, &jar, "email-sent")),
        Err(crate::signin::email_codes::SendRefusal::TooMany) => Ok(back_with_error(
            &state,
            "Several codes were sent in the last few minutes. Wait a little and try again.",
        )),
        Err(crate::signin::email_codes::SendRefusal::Undeliverable) => Ok(back_with_error(
            &state,
            "The code could not be sent to that address. Check it and try again.",
        )),
    }
}

#[derive(Deserialize)]
pub struct EmailConfirmForm {
    pub(super) code: String,
}

/// `POST /my/security-info/email/confirm`: registers the address once its code is entered.
pub async fn confirm_email(
    State(state): State<AppState>,
    req: RequestCtx,
    jar: CookieJar,
    PageUser(ctx): PageUser,
    CsrfForm(f): CsrfForm<EmailConfirmForm>,
) -> PageResult {
    if let Err(m) = require_recent(&ctx, state.now()) {
        return Ok(back_with_error(&state, &m));
    }
    let code: String = f.code.chars().take(32).collect();
    let address = match crate::signin::email_codes::check(
        &state,
        &verify_binding(&ctx),
        CodePurpose::VerifyAddress,
        &code,
    )
    .await?
    {
        crate::signin::email_codes::Check::Valid {
            user_id,
            destination,
        } if user_id == ctx.user.id => destination,
        crate::signin::email_codes::Check::NoCode => {
            return Ok(back_with_error(
                &state,
                "No code is waiting (codes expire after 10 minutes or 5 wrong tries). Send a new one.",
            ));
        }
        _ => {
            return Ok(back_with_error(
                &state,
                "That code is not correct. Check the latest message we sent.",
            ));
        }
    };
    let now = state.now();
    let method = MfaMethod {
        id: Uuid::now_v7(),
        user_id: ctx.user.id,
        kind: MfaKind::Email,
        label: address.clone(),
        last_step: None,
        created_at: now,
        last_used_at: None,
    };
    let sealed = seal(&state.mfa_key, method.id.as_bytes(), address.as_bytes())
        .map_err(|_| AppError::internal())?;
    let audit = AuditDraft::new(
        &ctx.actor(req.ip),
        "mfa.method.add",
        "user",
        Some(ctx.user.id.to_string()),
    )
    .after(&serde_json::json!({ "method": method.id, "kind": "email" }));
    state.store.add_mfa_method(&method, &sealed, audit).await?;
    notify(
        &state,
        &ctx,
        "An email address for sign-in codes was added to your account",
        req.ip,
    )
    .await;
    Ok(done(&state, &jar, "email-added"))
}
