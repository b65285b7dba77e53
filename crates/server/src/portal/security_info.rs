//! The user's security info (`/my/security-info`): registered second factors, and enrolment of
//! an authenticator app (TOTP) confirmed by a first valid code.

use crate::edge::auth::{PageUser, RequestCtx, SessionCtx};
use crate::edge::cookies::WIZARD;
use crate::edge::error::AppError;
use crate::edge::pages::{Chrome, CsrfForm, PageError, PageResult, fmt_time, render};
use crate::edge::pages::{CsrfOnlyForm, Flash};
use crate::platform::secrets::{open, seal};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use rand::RngCore;
use serde::Deserialize;
use trustplane_core::audit::AuditDraft;
use trustplane_core::mfa::email::{CodePurpose, mask_address, plausible_address};
use trustplane_core::mfa::{
    MfaKind, MfaMethod, RECOVERY_CODE_BYTES, RECOVERY_CODE_COUNT, TOTP_SECRET_LEN, TotpCheck,
    format_recovery_code, normalize_recovery_code, otpauth_uri, verify_totp,
};
use uuid::Uuid;

const HERE: &str = "/my/security-info";
/// Changes to security info need a sign-in this recent.
const RECENT_AUTH: time::Duration = time::Duration::minutes(15);
/// How long an enrolment may take between showing the secret and confirming it.
const ENROL_LIFETIME_SECS: i64 = 10 * 60;

pub struct MethodRow {
    id: Uuid,
    label: String,
    kind: &'static str,
    added: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "security_info.html")]
struct SecurityInfoPage {
    c: Chrome,
    methods: Vec<MethodRow>,
    recovery_left: i64,
    /// An address waiting for its confirmation code (masked).
    email_pending: Option<String>,
    email_allowed: bool,
    /// Security keys and passkeys (pages/webauthn.rs).
    keys: Vec<crate::signin::passkey_pages::KeyRow>,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage {
    c: Chrome,
    codes: Vec<String>,
    /// Where "I have saved them" leads.
    back: &'static str,
}

#[derive(Template)]
#[template(path = "totp_enrol.html")]
struct EnrolPage {
    c: Chrome,
    qr_svg: String,
    secret_b32: String,
    uri: String,
    pending: String,
    label: String,
}

fn flash_text(code: &str) -> Option<String> {
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
const SETUP: &str = "/my/security-info/setup";

fn in_wizard(state: &AppState, jar: &CookieJar) -> bool {
    state.cookie_value(jar, WIZARD).is_some()
}

/// Where to go after a successful change: the wizard's next step, or the overview.
fn done(state: &AppState, jar: &CookieJar, flash: &str) -> Response {
    if in_wizard(state, jar) {
        Redirect::to(SETUP).into_response()
    } else {
        Redirect::to(&format!("{HERE}?ok={flash}")).into_response()
    }
}

fn back_with_error(state: &AppState, message: &str) -> Response {
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
fn require_recent(ctx: &SessionCtx, now: time::OffsetDateTime) -> Result<(), String> {
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
        .email_allowed(&group_ids(&state, &ctx).await?);
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
    if !policy.recovery_codes_allowed(&group_ids(&state, &ctx).await?) {
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
async fn notify(state: &AppState, ctx: &SessionCtx, what: &str, ip: Option<std::net::IpAddr>) {
    let (subject, body) = crate::platform::mail::security_notice(
        &state.cfg.organisation,
        &ctx.user.display_name,
        what,
        ip,
    );
    state
        .notify(ctx.user.email.as_deref(), &subject, &body)
        .await;
}

async fn group_ids(state: &AppState, ctx: &SessionCtx) -> Result<Vec<Uuid>, AppError> {
    Ok(state
        .store
        .groups_of(ctx.user.id)
        .await?
        .into_iter()
        .map(|g| g.id)
        .collect())
}

fn enrol_context(ctx: &SessionCtx) -> Vec<u8> {
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
    if !policy.totp_allowed(&group_ids(&state, &ctx).await?) {
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
fn enrol_page(
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
    pending: String,
    code: String,
    #[serde(default)]
    label: String,
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
    if policy.require_mfa.applies(&group_ids(&state, &ctx).await?)
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

/// A confirmation code for a new address belongs to the session that asked for it.
fn verify_binding(ctx: &SessionCtx) -> String {
    format!("verify-address:{}", ctx.session.id)
}

#[derive(Deserialize)]
pub struct EmailForm {
    address: String,
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
    if !policy.email_allowed(&group_ids(&state, &ctx).await?) {
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
    code: String,
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

#[derive(Deserialize)]
pub struct RenameForm {
    label: String,
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

/// One step of the setup wizard.
pub struct SetupStep {
    key: &'static str,
    title: &'static str,
    why: &'static str,
    done: bool,
    current: bool,
}

#[derive(Template)]
#[template(path = "security_setup.html")]
struct SetupPage {
    c: Chrome,
    steps: Vec<SetupStep>,
    /// Index of the step shown now; `None` when every step is done or skipped.
    current: Option<usize>,
    email_pending: Option<String>,
    recovery_left: i64,
}

#[derive(Deserialize)]
pub struct SetupQuery {
    /// Steps up to this index were skipped.
    skip: Option<usize>,
    finish: Option<String>,
}

/// `GET /my/security-info/setup`: the combined registration wizard. One page walks the user
/// through every method their organisation allows, for sign-in (MFA) and for password reset
/// (SSPR) together: authenticator app, email address, recovery codes. Each method is
/// registered by the same handlers as on the overview, which return here while the wizard
/// cookie is set.
pub async fn setup(
    State(state): State<AppState>,
    jar: CookieJar,
    PageUser(ctx): PageUser,
    Query(q): Query<SetupQuery>,
) -> PageResult {
    if q.finish.is_some() {
        let jar = state.remove_cookie(jar, WIZARD);
        return Ok((jar, Redirect::to(&format!("{HERE}?ok=setup"))).into_response());
    }
    let methods = state.store.list_mfa_methods(ctx.user.id).await?;
    let recovery_left = state.store.unused_recovery_codes(ctx.user.id).await?;
    let policy = state.ops().methods_policy().await?;
    let groups = group_ids(&state, &ctx).await?;
    let has = |k: MfaKind| methods.iter().any(|m| m.kind == k);
    let mut steps = Vec::new();
    if policy.totp_allowed(&groups) {
        steps.push(SetupStep {
            key: "totp",
            title: "Authenticator app",
            why: "A 6-digit code from an app on your phone: your second factor when you sign in, and a way to prove it is you when you reset your password.",
            done: has(MfaKind::Totp),
            current: false,
        });
    }
    if policy.email_allowed(&groups) {
        steps.push(SetupStep {
            key: "email",
            title: "Email address",
            why: "Codes mailed to an address of yours let you reset a forgotten password, and can verify a sign-in when your phone is not at hand.",
            done: has(MfaKind::Email),
            current: false,
        });
    }
    if policy.recovery_codes_allowed(&groups) {
        steps.push(SetupStep {
            key: "recovery",
            title: "Recovery codes",
            why: "Ten single-use codes to keep somewhere safe, for the day you lose your phone.",
            done: recovery_left > 0,
            current: false,
        });
    }
    let skip = q.skip.unwrap_or(0);
    let current = steps
        .iter()
        .enumerate()
        .position(|(i, s)| i >= skip && !s.done);
    if let Some(i) = current
        && let Some(s) = steps.get_mut(i)
    {
        s.current = true;
    }
    let email_pending = state
        .store
        .live_code(
            &verify_binding(&ctx),
            CodePurpose::VerifyAddress,
            state.now(),
        )
        .await?
        .map(|l| mask_address(&l.destination));
    let (jar, csrf) = state.csrf_issue(jar);
    let mut wizard = state.cookie(WIZARD, "1".into());
    wizard.set_max_age(time::Duration::minutes(30));
    let jar = jar.add(wizard);
    let mut c = Chrome::new(&ctx, csrf, "security");
    c.error = crate::edge::pages::verified_error(&state, None, None);
    let page = SetupPage {
        c,
        steps,
        current,
        email_pending,
        recovery_left,
    };
    Ok((jar, render(&page)).into_response())
}
