//! Self-service password reset, the last step: the new password (with the live strength
//! check), sessions signed out.

use crate::edge::auth::RequestCtx;
use crate::edge::error::AppError;
use crate::edge::pages::{CsrfForm, PageResult, render_status};
use crate::signin::reset::COOKIE;
use crate::signin::reset::DonePage;
use crate::signin::reset::PendingReset;
use crate::signin::reset::digest;
use crate::signin::reset::render_password;
use crate::signin::reset::restart;
use crate::signin::reset::secret_of;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use trustplane_core::audit::{Actor, AuditDraft};

#[derive(Deserialize)]
pub struct PasswordForm {
    pub(super) new_password: String,
    pub(super) confirm_password: String,
}

/// `POST /reset/password`: sets the new password once identity is verified.
pub async fn password_submit(
    State(state): State<AppState>,
    ctx: RequestCtx,
    jar: CookieJar,
    CsrfForm(f): CsrfForm<PasswordForm>,
) -> PageResult {
    let Some(secret) = secret_of(&state, &jar) else {
        return Ok(restart(&state, jar));
    };
    let Some(p) = PendingReset::load(&state, &secret).await? else {
        return Ok(restart(&state, jar));
    };
    let Some(user_id) = p.user_id.filter(|_| p.done()) else {
        return Ok(Redirect::to("/reset/verify").into_response());
    };
    let Some(user) = state
        .store
        .get_user(user_id)
        .await?
        .filter(|u| u.is_enabled())
    else {
        state.store.delete_login_flow(&digest(&secret)).await?;
        return Ok(restart(&state, jar));
    };
    if f.new_password.len() > 1024 {
        return Ok(render_password(
            &state,
            jar,
            &p,
            Some("That password is too long."),
        ));
    }
    if f.new_password != f.confirm_password {
        return Ok(render_password(
            &state,
            jar,
            &p,
            Some("The two passwords do not match."),
        ));
    }
    let verdict = state
        .ops()
        .evaluate_password(
            &user.username,
            &user.display_name,
            user.email.as_deref(),
            &f.new_password,
        )
        .await?;
    if !verdict.accepted {
        return Ok(render_password(
            &state,
            jar,
            &p,
            Some(&verdict.messages().join(" ")),
        ));
    }
    // Only one request can finish the flow.
    if !state.store.delete_login_flow(&digest(&secret)).await? {
        return Ok(restart(&state, jar));
    }
    let now = state.now();
    let hash = state.hash_new_password(&f.new_password).await?;
    let audit = AuditDraft::new(
        &Actor::user(user_id, &user.username, ctx.ip.map(|i| i.to_string())),
        "user.password.reset",
        "user",
        Some(user_id.to_string()),
    )
    .after(&serde_json::json!({ "self_service": true, "verified_with": p.verified }));
    // Every session of the user is revoked in the same transaction.
    state
        .store
        .set_password_hash(user_id, &hash, false, Some(now), Some(audit))
        .await?;
    crate::signin::limits::reset_password_lock(&state, &user.username).await?;
    metrics::counter!("trustplane_password_resets_total", "result" => "success").increment(1);
    let (subject, body) = crate::platform::mail::security_notice(
        &state.cfg.organisation,
        &user.display_name,
        "Your password was reset and every session of yours was signed out",
        ctx.ip,
        state.now(),
    );
    let registered = crate::signin::factors::email_address_of(&state, user_id).await?;
    state.notify(user.email.as_deref(), &subject, &body).await;
    if registered.is_some() && registered != user.email {
        state.notify(registered.as_deref(), &subject, &body).await;
    }
    let jar = state.remove_cookie(jar, COOKIE);
    let page = DonePage {
        organisation: &state.cfg.organisation,
    };
    Ok((jar, render_status(StatusCode::OK, &page)).into_response())
}

/// `POST /reset/check-password`: the strength meter once identity is verified.
pub async fn check_password(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    if body.len() > crate::signin::step_pages::MAX_CHECK_BODY {
        return Err(crate::signin::step_pages::too_large());
    }
    let Some(secret) = secret_of(&state, &jar) else {
        return Err(AppError::unauthenticated());
    };
    let Some(p) = PendingReset::load(&state, &secret).await? else {
        return Err(AppError::unauthenticated());
    };
    let Some(user_id) = p.user_id.filter(|_| p.done()) else {
        return Err(AppError::unauthenticated());
    };
    let Some(u) = state.store.get_user(user_id).await? else {
        return Err(AppError::unauthenticated());
    };
    crate::signin::step_pages::live_check(
        &state,
        &jar,
        &headers,
        format!("reset:{user_id}"),
        (&u.username, &u.display_name, u.email.as_deref()),
        &body,
    )
    .await
}
