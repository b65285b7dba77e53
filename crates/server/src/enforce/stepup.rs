//! Sign-ins on behalf of an application, and step-up.
//!
//! An enforcement point (forward-auth, the OIDC authorization endpoint) that finds no session,
//! or a session that does not satisfy what the application requires, sends the browser to
//! `/login` with:
//! - `next`: where to return (validated against registered applications);
//! - `app`: the application, so conditional access is evaluated for it (with the sensitivity
//!   label of the resource and the authentication context that label maps to);
//! - `prompt=login`: authenticate again even with a valid session;
//! - `max_age=N`: authenticate again when the last authentication is older than N seconds;
//! - `acr`: a strength the application demands (`mfa`, `passwordless_mfa`,
//!   `phishing_resistant_mfa`), or an authentication context id.
//!
//! With a valid session and no re-authentication asked for, the login page does not ask for
//! the password again: it steps the session up, asking only for what is missing (a passkey,
//! a second factor, terms), and then adds the methods to the same session.

use crate::edge::error::AppError;
use crate::state::AppState;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use time::OffsetDateTime;
use trustplane_core::access::TargetRequest;
use trustplane_core::authn::{ACR_VALUES, FlowTarget, MethodUse, last_authenticated};
use trustplane_store::Store;

/// The sign-in parameters an enforcement point passes to `/login` (query string, and hidden
/// form fields on the way back).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct SignInRequest {
    #[serde(default)]
    pub app: Option<String>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub max_age: Option<i64>,
    #[serde(default)]
    pub acr: Option<String>,
}

impl SignInRequest {
    /// The request a sign-in form carries on (hidden `app` and `acr` fields; empty: none).
    pub fn from_form(app: &str, acr: &str) -> Self {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        SignInRequest {
            app: opt(app),
            acr: opt(acr),
            ..Default::default()
        }
    }

    /// Whether an application asked for anything (otherwise `/login` is a plain sign-in).
    pub fn is_for_application(&self) -> bool {
        self.app.is_some() || self.acr.is_some()
    }

    /// Whether the session must authenticate again (`prompt=login`, or `max_age` exceeded).
    pub fn needs_reauthentication(&self, methods: &[MethodUse], now: OffsetDateTime) -> bool {
        if self.prompt.as_deref() == Some("login") {
            return true;
        }
        match (self.max_age, last_authenticated(methods)) {
            (Some(max), Some(at)) => (now - at).whole_seconds() > max.max(0),
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// The query string that carries this request (for hidden fields and redirects).
    pub fn query(&self) -> String {
        let mut q = String::new();
        let mut add = |k: &str, v: &str| {
            q.push('&');
            q.push_str(k);
            q.push('=');
            q.push_str(&utf8_percent_encode(v, NON_ALPHANUMERIC).to_string());
        };
        if let Some(a) = &self.app {
            add("app", a);
        }
        if let Some(p) = &self.prompt {
            add("prompt", p);
        }
        if let Some(m) = self.max_age {
            add("max_age", &m.to_string());
        }
        if let Some(a) = &self.acr {
            add("acr", a);
        }
        q
    }
}

/// The sign-in URL an enforcement point redirects to.
pub fn login_url(base: &str, next: &str, req: &SignInRequest) -> String {
    format!(
        "{base}/login?next={}{}",
        utf8_percent_encode(next, NON_ALPHANUMERIC),
        req.query()
    )
}

/// The label a resource carries: the higher-ranked of the application's and the route's.
/// Returns the label and the authentication context it maps to.
pub async fn effective_label(
    store: &dyn Store,
    app_label: Option<&str>,
    route_label: Option<&str>,
) -> Result<(Option<String>, Vec<String>), AppError> {
    if app_label.is_none() && route_label.is_none() {
        return Ok((None, Vec::new()));
    }
    let labels = store.list_sensitivity_labels().await?;
    let find = |id: Option<&str>| id.and_then(|id| labels.iter().find(|l| l.id == id));
    let best = match (find(app_label), find(route_label)) {
        (Some(a), Some(r)) => Some(if r.rank > a.rank { r } else { a }),
        (a, r) => a.or(r),
    };
    Ok(match best {
        Some(l) => (
            Some(l.id.clone()),
            l.authentication_context.iter().cloned().collect(),
        ),
        None => (None, Vec::new()),
    })
}

/// The conditional access target of a request for `app_id` under a route with `route_label`.
pub async fn resource_target(
    store: &dyn Store,
    app_id: &str,
    route_label: Option<&str>,
) -> Result<TargetRequest, AppError> {
    let app = store.get_application(app_id).await?;
    let app_label = app.as_ref().and_then(|a| a.sensitivity_label.as_deref());
    let (label, contexts) = effective_label(store, app_label, route_label).await?;
    Ok(TargetRequest::Application {
        id: app_id.to_string(),
        sensitivity_label: label,
        authentication_contexts: contexts,
    })
}

/// What a sign-in for this request is for: the application (when it exists), the label of
/// the resource `next` points to, and the strength or authentication context asked for.
/// `None` for a plain portal sign-in. Unknown applications and `acr` values are ignored (the
/// sign-in is then for the portal, whose policies still apply).
pub async fn flow_target(
    state: &AppState,
    req: &SignInRequest,
    next: &str,
) -> Result<Option<FlowTarget>, AppError> {
    let store = state.store.as_ref();
    let mut target = FlowTarget {
        app: crate::enforce::policy::PORTAL_APP.to_string(),
        ..Default::default()
    };
    let mut any = false;
    if let Some(app) = req.app.as_deref()
        && let Some(found) = store.get_application(app).await?
    {
        any = true;
        // The route `next` points to, when it belongs to this application.
        let route_label = match url::Url::parse(next) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {
                let host = match (u.host_str(), u.port()) {
                    (Some(h), Some(p)) => Some(format!("{h}:{p}")),
                    (Some(h), None) => Some(h.to_string()),
                    _ => None,
                };
                match host {
                    Some(h) => crate::enforce::app_routes::route_for(store, &h, u.path())
                        .await?
                        .filter(|r| r.app_id == found.id)
                        .and_then(|r| r.sensitivity_label),
                    None => None,
                }
            }
            _ => None,
        };
        let (label, contexts) = effective_label(
            store,
            found.sensitivity_label.as_deref(),
            route_label.as_deref(),
        )
        .await?;
        target.app = found.id;
        target.sensitivity_label = label;
        target.authentication_contexts = contexts;
    }
    if let Some(acr) = req.acr.as_deref() {
        if ACR_VALUES.contains(&acr) {
            if acr != "single_factor" {
                target.strength = Some(acr.to_string());
                any = true;
            }
        } else if store
            .list_authentication_contexts()
            .await?
            .iter()
            .any(|c| c.id == acr)
        {
            if !target.authentication_contexts.iter().any(|c| c == acr) {
                target.authentication_contexts.push(acr.to_string());
            }
            any = true;
        }
    }
    Ok(any.then_some(target))
}

#[cfg(test)]
mod tests {
    use super::*;
    use trustplane_core::authn::AuthMethod;

    #[test]
    fn reauthentication_follows_prompt_and_max_age() {
        let now = OffsetDateTime::now_utc();
        let methods = vec![MethodUse {
            method: AuthMethod::Password,
            at: now - time::Duration::minutes(10),
        }];
        let mut r = SignInRequest::default();
        assert!(!r.needs_reauthentication(&methods, now));
        r.max_age = Some(900);
        assert!(!r.needs_reauthentication(&methods, now));
        r.max_age = Some(60);
        assert!(r.needs_reauthentication(&methods, now));
        r.max_age = Some(-5);
        assert!(r.needs_reauthentication(&methods, now));
        r.max_age = None;
        r.prompt = Some("login".into());
        assert!(r.needs_reauthentication(&methods, now));
        r.prompt = Some("consent".into());
        assert!(!r.needs_reauthentication(&methods, now));
    }

    #[test]
    fn the_login_url_carries_the_request_encoded() {
        let r = SignInRequest {
            app: Some("wiki".into()),
            prompt: Some("login".into()),
            max_age: Some(30),
            acr: Some("phishing_resistant_mfa".into()),
        };
        assert_eq!(
            login_url("https://id.example", "https://wiki.example/a?b=c&d", &r),
            "https://id.example/login?next=https%3A%2F%2Fwiki%2Eexample%2Fa%3Fb%3Dc%26d\
             &app=wiki&prompt=login&max_age=30&acr=phishing%5Fresistant%5Fmfa"
        );
        assert_eq!(
            login_url("", "/my", &SignInRequest::default()),
            "/login?next=%2Fmy"
        );
    }
}
