//! The combined registration wizard: sign-in and reset methods registered in one pass.

use crate::edge::auth::PageUser;
use crate::edge::cookies::WIZARD;
use crate::edge::pages::{Chrome, PageResult, render};
use crate::portal::enrolment::verify_binding;
use crate::portal::security_info::HERE;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use trustplane_core::mfa::MfaKind;
use trustplane_core::mfa::email::{CodePurpose, mask_address};

/// One step of the setup wizard.
pub struct SetupStep {
    pub(super) key: &'static str,
    pub(super) title: &'static str,
    pub(super) why: &'static str,
    pub(super) done: bool,
    pub(super) current: bool,
}

#[derive(Template)]
#[template(path = "security_setup.html")]
pub(super) struct SetupPage {
    pub(super) c: Chrome,
    pub(super) steps: Vec<SetupStep>,
    /// Index of the step shown now; `None` when every step is done or skipped.
    pub(super) current: Option<usize>,
    pub(super) email_pending: Option<String>,
    pub(super) recovery_left: i64,
}

#[derive(Deserialize)]
pub struct SetupQuery {
    /// Steps up to this index were skipped.
    pub(super) skip: Option<usize>,
    pub(super) finish: Option<String>,
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
    let groups = state.store.group_ids_of(ctx.user.id).await?;
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
