//! The user's security info (`/my/security-info`): registered second factors, and enrolment of
//! an authenticator app (TOTP) confirmed by a first valid code.

use crate::edge::auth::{PageUser, RequestCtx, SessionCtx};
use crate::edge::cookies::WIZARD;
use crate::edge::error::AppError;
use crate::edge::pages::{Chrome, CsrfForm, PageError, PageResult, fmt_time, render};
use crate::edge::pages::{CsrfOnlyForm, Flash};
use crate::portal::enrolment::verify_binding;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use rand::RngCore;
use serde::Deserialize;
use trustplane_core::audit::AuditDraft;
use trustplane_core::mfa::email::{CodePurpose, mask_address};
use trustplane_core::mfa::{
    RECOVERY_CODE_BYTES, RECOVERY_CODE_COUNT, format_recovery_code, normalize_recovery_code,
};
use uuid::Uuid;

pub(super) const HERE: &str = "/my/security-info";

/// Changes to security info need a sign-in this recent.
pub(super) const RECENT_AUTH: time::Duration = time::Duration::minutes(15);

/// How long an enrolment may take between showing the secret and confirming it.
pub(super) const ENROL_LIFETIME_SECS: i64 = 10 * 60;

pub struct MethodRow {
    pub(super) id: Uuid,
    pub(super) label: String,
    pub(super) kind: &'static str,
    pub(super) added: String,
    pub(super) last_used: String,
}

#[derive(Template)]
#[template(path = "security_info.html")]
pub(super) struct SecurityInfoPage {
    pub(super) c: Chrome,
    pub(super) methods: Vec<MethodRow>,
    pub(super) recovery_left: i64,
    /// An address waiting for its confirmation code (masked).
    pub(super) email_pending: Option<String>,
    pub(super) email_allowed: bool,
    /// Security keys and passkeys (pages/webauthn.rs).
    pub(super) keys: Vec<crate::signin::passkey_pages::KeyRow>,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub(super) struct RecoveryCodesPage {
    pub(super) c: Chrome,
    pub(super) codes: Vec<String>,
    /// Where "I have saved them" leads.
    pub(super) back: &'static str,
}

#[derive(Template)]
#[template(path = "totp_enrol.html")]
pub(super) struct EnrolPage {
    pub(super) c: Chrome,
    pub(super) qr_svg: String,
    pub(super) secret_b32: String,
    pub(super) uri: String,
    pub(super) pending: String,
    pub(super) label: String,
}

pub(super) fn flash_text(code: &str) -> Option<String> {
    let t = match code {
        "added" => "Authenticator app added. You will be asked for a code when you sign in.",
        "email-sent" => {
            "We emailed an 8-digit code to the address. Enter it below to confirm the address."
        }
        "email-added" => {
            "Email address confirmed. Codes sent there can verify your sign-ins and password resets."
        }
        "removed" => "The method was removed.",
        "renamed" => "The method was renamed.",
        "setup" => "Your security info is set up.",
        "codes" => "New recovery codes were issued; the old ones no longer work.",
        other => crate::signin::passkey_pages::flash_text(other)?,
    };
    Some(t.to_string())
}

/// Cookie marking that the user is going through the setup wizard (so that each method's
/// confirmation returns to the wizard rather than to the overview).
pub(super) const SETUP: &str = "/my/security-info/setup";

pub(super) fn in_wizard(state: &AppState, jar: &CookieJar) -> bool {
    state.cookie_value(jar, WIZARD).is_some()
}

/// Where to go after a successful change: the wizard's next step, or the overview.
pub(super) fn done(state: &AppState, jar: &CookieJar, flash: &str) -> Response {
    if in_wizard(state, jar) {
        Redirect::to(SETUP).into_response()
    } else {
        Redirect::to(&format!("{HERE}?ok={flash}")).into_response()
    }
}

pub(super) fn back_with_error(state: &AppState, message: &str) -> Response {
    Redirect::to(&crate::edge::pages::with_error(state, HERE, message)).into_response()
}

/// [`require_recent`] for the security key pages.
pub(crate) fn require_recent_for(
    ctx: &SessionCtx,
    now: time::OffsetDateTime,
) -> Result<(), String> {
    require_recent(ctx, now)
}

/// [`notify`] for the security key pages.
pub(crate) async fn notify_change(
    state: &AppState,
    ctx: &SessionCtx,
    what: &str,
    ip: Option<std::net::IpAddr>,
) {
    notify(state, ctx, what, ip).await
}

/// Changing security info needs a recent sign-in, so that a session left open on a shared
/// computer cannot be used to add or remove a second factor.
pub(super) fn require_recent(ctx: &SessionCtx, now: time::OffsetDateTime) -> Result<(), String> {
    if now - ctx.session.created_at > RECENT_AUTH {
        Err("For your security, sign out and sign in again (within 15 minutes) to change your security info.".into())
    } else {
        Ok(())
    }
}

pub async fn page(
    State(state): State<AppState>,
    jar: CookieJar,
    PageUser(ctx): PageUser,
    Query(flash): Query<Flash>,
) -> PageResult {
    let methods = state.store.list_mfa_methods(ctx.user.id).await?;
    let recovery_left = state.store.unused_recovery_codes(ctx.user.id).await?;
    let email_pending = state
        .store
        .live_code(
            &verify_binding(&ctx),
            CodePurpose::VerifyAddress,
            state.now(),
        )
        .await?
        .map(|l| mask_address(&l.destination));
    let email_allowed = state
        .ops()
        .methods_policy()
        .await?
        .email_allowed(&state.store.group_ids_of(ctx.user.id).await?);
    let (jar, csrf) = state.csrf_issue(jar);
    let mut c = Chrome::new(&ctx, csrf, "security");
    c.notice = flash.ok.as_deref().and_then(flash_text);
    c.error =
        crate::edge::pages::verified_error(&state, flash.err.as_deref(), flash.sig.as_deref());
    let page = SecurityInfoPage {
        c,
        methods: methods
            .into_iter()
            .map(|m| MethodRow {
                id: m.id,
                label: m.label,
                kind: m.kind.label(),
                added: fmt_time(m.created_at),
                last_used: m
                    .last_used_at
                    .map(fmt_time)
                    .unwrap_or_else(|| "never".into()),
            })
            .collect(),
        recovery_left,
        email_pending,
        email_allowed,
        keys: crate::signin::passkey_pages::rows(&state, ctx.user.id).await?,
    };
    Ok((jar, render(&page)).into_response())
}

/// `POST /my/security-info/recovery-codes`: issues 10 new single-use codes (replacing any
/// earlier ones) and shows them once.
pub async fn new_recovery_codes(
    State(state): State<AppState>,
    req: RequestCtx,
    jar: CookieJar,
    PageUser(ctx): PageUser,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    if let Err(m) = require_recent(&ctx, state.now()) {
        return Ok(back_with_error(&state, &m));
    }
    if state.store.list_mfa_methods(ctx.user.id).await?.is_empty() {
        return Ok(back_with_error(
            &state,
            "Add an authenticator app first: recovery codes stand in for it when it is lost.",
        ));
    }
    let policy = state.ops().methods_policy().await?;
    if !policy.recovery_codes_allowed(&state.store.group_ids_of(ctx.user.id).await?) {
        return Ok(back_with_error(
            &state,
            "Your organisation does not allow recovery codes for your account.",
        ));
    }
    let mut codes = Vec::with_capacity(RECOVERY_CODE_COUNT);
    let mut hashes = Vec::with_capacity(RECOVERY_CODE_COUNT);
    for _ in 0..RECOVERY_CODE_COUNT {
        let mut raw = [0u8; RECOVERY_CODE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let code = format_recovery_code(&raw);
        let canonical = normalize_recovery_code(&code).ok_or_else(AppError::internal)?;
        hashes.push(trustplane_core::credential::secret_digest(&canonical));
        codes.push(code);
    }
    let audit = AuditDraft::new(
        &ctx.actor(req.ip),
        "mfa.recovery_codes.issue",
        "user",
        Some(ctx.user.id.to_string()),
    )
    .after(&serde_json::json!({ "count": RECOVERY_CODE_COUNT }));
    state
        .store
        .replace_recovery_codes(ctx.user.id, &hashes, state.now(), audit)
        .await?;
    notify(
        &state,
        &ctx,
        "New recovery codes were issued for your account",
        req.ip,
    )
    .await;
    let (jar, csrf) = state.csrf_issue(jar);
    let mut c = Chrome::new(&ctx, csrf, "security");
    c.notice = flash_text("codes");
    let page = RecoveryCodesPage {
        c,
        codes,
        back: if in_wizard(&state, &jar) { SETUP } else { HERE },
    };
    // Shown once: never cached.
    Ok((
        jar,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        render(&page),
    )
        .into_response())
}

/// Tells the user (by email, best effort) that their security info changed.
pub(super) async fn notify(
    state: &AppState,
    ctx: &SessionCtx,
    what: &str,
    ip: Option<std::net::IpAddr>,
) {
    let (subject, body) = crate::platform::mail::security_notice(
        &state.cfg.organisation,
        &ctx.user.display_name,
        what,
        ip,
        state.now(),
    );
    state
        .notify(ctx.user.email.as_deref(), &subject, &body)
        .await;
}

/// `POST /my/security-info/{id}/remove`.
pub async fn remove(
    State(state): State<AppState>,
    req: RequestCtx,
    PageUser(ctx): PageUser,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<CsrfOnlyForm>,
) -> PageResult {
    if let Err(m) = require_recent(&ctx, state.now()) {
        return Ok(back_with_error(&state, &m));
    }
    // The last method cannot be removed while MFA is required of the user (an administrator
    // can still remove it, e.g. for a lost phone; the user then registers a new one).
    let policy = state.ops().methods_policy().await?;
    let methods = state.store.list_mfa_methods(ctx.user.id).await?;
    if policy
        .require_mfa
        .applies(&state.store.group_ids_of(ctx.user.id).await?)
        && methods.len() == 1
        && methods[0].id == id
    {
        return Ok(back_with_error(
            &state,
            "This is your only second factor and your organisation requires one. Add another method first.",
        ));
    }
    state
        .ops()
        .remove_mfa_method(&ctx.actor(req.ip), ctx.user.id, id)
        .await?;
    notify(
        &state,
        &ctx,
        "A sign-in method was removed from your account",
        req.ip,
    )
    .await;
    Ok(Redirect::to(&format!("{HERE}?ok=removed")).into_response())
}

#[derive(Deserialize)]
pub struct RenameForm {
    pub(super) label: String,
}

/// `POST /my/security-info/{id}/rename`.
pub async fn rename(
    State(state): State<AppState>,
    req: RequestCtx,
    PageUser(ctx): PageUser,
    Path(id): Path<Uuid>,
    CsrfForm(f): CsrfForm<RenameForm>,
) -> PageResult {
    if let Err(m) = require_recent(&ctx, state.now()) {
        return Ok(back_with_error(&state, &m));
    }
    let label = f.label.trim();
    if label.is_empty() || label.chars().count() > 64 || label.chars().any(char::is_control) {
        return Ok(back_with_error(
            &state,
            "A name is 1 to 64 characters, without control characters.",
        ));
    }
    let audit = AuditDraft::new(
        &ctx.actor(req.ip),
        "mfa.method.rename",
        "user",
        Some(ctx.user.id.to_string()),
    )
    .after(&serde_json::json!({ "method": id, "label": label }));
    if !state
        .store
        .rename_mfa_method(id, ctx.user.id, label, audit)
        .await?
    {
        return Err(PageError(AppError::not_found("method")));
    }
    Ok(Redirect::to(&format!("{HERE}?ok=renamed")).into_response())
}
