//! Admin API, conditional access: the versioned policy set (JSON or YAML), its versions,
//! templates, lint, what-if and impact replay.

use crate::edge::api_input::{Path, Query};
use crate::edge::auth::ApiCaller;
use crate::edge::error::{AppError, ErrorBody};
use crate::enforce::policy;
use crate::ops::what_if::{ReplayReport, WhatIf};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use trustplane_core::access::Warning;
use trustplane_core::identity::Permission;
use utoipa::{IntoParams, ToSchema};

/// The policy set in force.
#[derive(Serialize, ToSchema)]
pub struct PolicySetView {
    /// 0 when none was ever saved (no policies).
    pub version: i64,
    #[schema(value_type = Object)]
    pub document: serde_json::Value,
    #[schema(value_type = Vec<Object>)]
    pub warnings: Vec<Warning>,
}

#[utoipa::path(get, path = "/api/v1/conditional-access", tag = "admin",
    responses((status = 200, body = PolicySetView)))]
pub async fn get_policy_set(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<PolicySetView>, AppError> {
    caller.require(Permission::PolicyRead)?;
    let loaded = state.policies.get(state.store.as_ref()).await?;
    let warnings = trustplane_core::access::lint(
        &loaded.set,
        &policy::lint_directory(state.store.as_ref()).await?,
    );
    Ok(Json(PolicySetView {
        version: loaded.version,
        document: serde_json::to_value(loaded.set.document()).map_err(|_| AppError::internal())?,
        warnings,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct SaveParams {
    /// The version this change was made on (optimistic concurrency): 409 when another
    /// change was saved since.
    based_on: i64,
    /// Why (kept with the version).
    #[serde(default)]
    comment: String,
}

/// Whether the body is YAML (by content type).
fn is_yaml(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("yaml"))
}

const MAX_DOCUMENT: usize = 4 * 1024 * 1024;

/// Replaces the policy set with the document in the body (JSON, or YAML with a YAML content
/// type). Validated first: any problem is refused with every error naming its field, and
/// the stored set is unchanged. Saved as a new version; the previous ones are kept.
#[utoipa::path(put, path = "/api/v1/conditional-access", tag = "admin", params(SaveParams),
    request_body(content = Object, description = "the policy set document (policies, named_locations, authentication_strengths)"),
    responses((status = 200, body = PolicySetView), (status = 400, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn put_policy_set(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(p): Query<SaveParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PolicySetView>, AppError> {
    caller.require(Permission::PolicyWrite)?;
    let set = parse_body(&state, &headers, &body).await?;
    let (saved, warnings) = policy::save(
        state.store.as_ref(),
        &caller.actor(),
        &set,
        p.based_on,
        p.comment.trim(),
        state.now(),
    )
    .await?;
    Ok(Json(PolicySetView {
        version: saved.version,
        document: serde_json::to_value(set.document()).map_err(|_| AppError::internal())?,
        warnings,
    }))
}

async fn parse_body(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<trustplane_core::access::PolicySet, AppError> {
    if body.len() > MAX_DOCUMENT {
        return Err(AppError::bad_request(
            "too_large",
            "The policy set document is larger than 4 MiB.",
        ));
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| AppError::bad_request("invalid_body", "The body is not UTF-8 text."))?;
    policy::validate(state.store.as_ref(), text, is_yaml(headers)).await
}

/// Validates a document and lints it, without saving anything.
#[utoipa::path(post, path = "/api/v1/conditional-access/validate", tag = "admin",
    request_body(content = Object, description = "a policy set document"),
    responses((status = 200, body = PolicySetView), (status = 400, body = ErrorBody)))]
pub async fn validate_policy_set(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PolicySetView>, AppError> {
    caller.require(Permission::PolicyRead)?;
    let set = parse_body(&state, &headers, &body).await?;
    let warnings =
        trustplane_core::access::lint(&set, &policy::lint_directory(state.store.as_ref()).await?);
    Ok(Json(PolicySetView {
        version: 0,
        document: serde_json::to_value(set.document()).map_err(|_| AppError::internal())?,
        warnings,
    }))
}

/// A stored version, without its document.
#[derive(Serialize, ToSchema)]
pub struct VersionView {
    pub version: i64,
    pub created_at: String,
    pub created_by: String,
    pub comment: String,
}

#[utoipa::path(get, path = "/api/v1/conditional-access/versions", tag = "admin",
    responses((status = 200, body = [VersionView])))]
pub async fn list_versions(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<VersionView>>, AppError> {
    caller.require(Permission::PolicyRead)?;
    let versions = state.store.list_policy_versions(1000).await?;
    Ok(Json(
        versions
            .into_iter()
            .map(|v| VersionView {
                version: v.version,
                created_at: v
                    .created_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                created_by: v.created_by,
                comment: v.comment,
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/conditional-access/versions/{version}", tag = "admin",
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn get_version(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(version): Path<i64>,
) -> Result<Json<serde_json::Value>, AppError> {
    caller.require(Permission::PolicyRead)?;
    let v = state
        .store
        .policy_version(version)
        .await?
        .ok_or_else(|| AppError::not_found("policy version"))?;
    let doc: serde_json::Value =
        serde_json::from_str(&v.document).map_err(|_| AppError::internal())?;
    Ok(Json(serde_json::json!({
        "version": v.version, "created_by": v.created_by, "comment": v.comment, "document": doc,
    })))
}

#[derive(Deserialize, IntoParams)]
pub struct RestoreParams {
    based_on: i64,
}

/// Saves an earlier version again as the newest one (validated against today's directory).
#[utoipa::path(post, path = "/api/v1/conditional-access/versions/{version}/restore", tag = "admin",
    params(RestoreParams),
    responses((status = 200, body = PolicySetView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn restore_version(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(version): Path<i64>,
    Query(p): Query<RestoreParams>,
) -> Result<Json<PolicySetView>, AppError> {
    caller.require(Permission::PolicyWrite)?;
    let v = state
        .store
        .policy_version(version)
        .await?
        .ok_or_else(|| AppError::not_found("policy version"))?;
    let set = policy::validate(state.store.as_ref(), &v.document, false).await?;
    let (saved, warnings) = policy::save(
        state.store.as_ref(),
        &caller.actor(),
        &set,
        p.based_on,
        &format!("restored version {version}"),
        state.now(),
    )
    .await?;
    Ok(Json(PolicySetView {
        version: saved.version,
        document: serde_json::to_value(set.document()).map_err(|_| AppError::internal())?,
        warnings,
    }))
}

/// The shipped templates (all disabled): copy them into the policy set to use them.
#[utoipa::path(get, path = "/api/v1/conditional-access/templates", tag = "admin",
    responses((status = 200, body = [Object])))]
pub async fn templates(caller: ApiCaller) -> Result<Json<serde_json::Value>, AppError> {
    caller.require(Permission::PolicyRead)?;
    Ok(Json(
        serde_json::to_value(trustplane_core::access::templates())
            .map_err(|_| AppError::internal())?,
    ))
}

/// The decision, with a record for every policy, for a hypothetical request.
#[utoipa::path(post, path = "/api/v1/conditional-access/what-if", tag = "admin",
    request_body = WhatIf,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)))]
pub async fn what_if(
    State(state): State<AppState>,
    caller: ApiCaller,
    crate::api::JsonBody(w): crate::api::JsonBody<WhatIf>,
) -> Result<Json<serde_json::Value>, AppError> {
    caller.require(Permission::PolicyRead)?;
    Ok(Json(
        crate::ops::what_if::what_if(state.store.as_ref(), &state.policies, &w, state.now())
            .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// The draft policy set document.
    #[schema(value_type = Object)]
    pub draft: serde_json::Value,
    /// 1..=90.
    pub days: u32,
}

/// Evaluates a draft policy set against the sign-ins of the last N days and reports what
/// would have been decided differently. Nothing is saved.
#[utoipa::path(post, path = "/api/v1/conditional-access/replay", tag = "admin",
    request_body = ReplayRequest,
    responses((status = 200, body = ReplayReport), (status = 400, body = ErrorBody)))]
pub async fn replay(
    State(state): State<AppState>,
    caller: ApiCaller,
    crate::api::JsonBody(r): crate::api::JsonBody<ReplayRequest>,
) -> Result<Json<ReplayReport>, AppError> {
    caller.require(Permission::PolicyRead)?;
    caller.require(Permission::SignInLogRead)?;
    let draft = policy::validate(state.store.as_ref(), &r.draft.to_string(), false).await?;
    Ok(Json(
        crate::ops::what_if::replay(state.store.as_ref(), &draft, r.days, state.now()).await?,
    ))
}

/// The three kinds of objects in a policy set, by their path segment.
fn array_of(kind: &str) -> Result<&'static str, AppError> {
    match kind {
        "policies" => Ok("policies"),
        "named-locations" => Ok("named_locations"),
        "authentication-strengths" => Ok("authentication_strengths"),
        _ => Err(AppError::not_found("kind of conditional access object")),
    }
}

#[derive(Deserialize, IntoParams)]
pub struct ObjectParams {
    /// The version this change was made on; default: the version in force (the save still
    /// fails with 409 if another change lands in between).
    based_on: Option<i64>,
    #[serde(default)]
    comment: String,
}

/// One policy, named location or authentication strength.
#[utoipa::path(get, path = "/api/v1/conditional-access/{kind}/{id}", tag = "admin",
    params(("kind" = String, Path, description = "policies, named-locations or authentication-strengths")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn get_object(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, AppError> {
    caller.require(Permission::PolicyRead)?;
    let array = array_of(&kind)?;
    let loaded = state.policies.get(state.store.as_ref()).await?;
    let doc = serde_json::to_value(loaded.set.document()).map_err(|_| AppError::internal())?;
    doc[array]
        .as_array()
        .and_then(|a| a.iter().find(|o| o["id"] == id.as_str()))
        .cloned()
        .map(Json)
        .ok_or_else(|| AppError::not_found(array))
}

/// Saves a new version with `object` created or replaced (`Some`) or removed (`None`).
async fn change_object(
    state: &AppState,
    caller: &ApiCaller,
    kind: &str,
    id: &str,
    object: Option<serde_json::Value>,
    p: ObjectParams,
) -> Result<PolicySetView, AppError> {
    let array = array_of(kind)?;
    let store = state.store.as_ref();
    let loaded = state.policies.get(store).await?;
    let mut doc = serde_json::to_value(loaded.set.document()).map_err(|_| AppError::internal())?;
    let list = doc[array].as_array_mut().ok_or_else(AppError::internal)?;
    let pos = list.iter().position(|o| o["id"] == id);
    match (object, pos) {
        (Some(o), Some(i)) => list[i] = o,
        (Some(o), None) => list.push(o),
        (None, Some(i)) => {
            list.remove(i);
        }
        (None, None) => return Err(AppError::not_found(array)),
    }
    let set = policy::validate(store, &doc.to_string(), false).await?;
    let comment = if p.comment.trim().is_empty() {
        format!("{kind}/{id}")
    } else {
        p.comment.trim().to_string()
    };
    let (saved, warnings) = policy::save(
        store,
        &caller.actor(),
        &set,
        p.based_on.unwrap_or(loaded.version),
        &comment,
        state.now(),
    )
    .await?;
    Ok(PolicySetView {
        version: saved.version,
        document: serde_json::to_value(set.document()).map_err(|_| AppError::internal())?,
        warnings,
    })
}

/// Creates or replaces one object (its `id` must be the one in the path); the whole set is
/// validated and saved as a new version.
#[utoipa::path(put, path = "/api/v1/conditional-access/{kind}/{id}", tag = "admin",
    params(("kind" = String, Path, description = "policies, named-locations or authentication-strengths"), ObjectParams),
    request_body(content = Object, description = "the object"),
    responses((status = 200, body = PolicySetView), (status = 400, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn put_object(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((kind, id)): Path<(String, String)>,
    Query(p): Query<ObjectParams>,
    crate::api::JsonBody(object): crate::api::JsonBody<serde_json::Value>,
) -> Result<Json<PolicySetView>, AppError> {
    caller.require(Permission::PolicyWrite)?;
    if object["id"] != id.as_str() {
        return Err(AppError::bad_request(
            "id_mismatch",
            format!("id: the body's id must be {id:?}, the id in the path"),
        ));
    }
    Ok(Json(
        change_object(&state, &caller, &kind, &id, Some(object), p).await?,
    ))
}

/// Removes one object (refused when a policy still refers to it); saved as a new version.
#[utoipa::path(delete, path = "/api/v1/conditional-access/{kind}/{id}", tag = "admin",
    params(("kind" = String, Path, description = "policies, named-locations or authentication-strengths"), ObjectParams),
    responses((status = 200, body = PolicySetView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_object(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((kind, id)): Path<(String, String)>,
    Query(p): Query<ObjectParams>,
) -> Result<Json<PolicySetView>, AppError> {
    caller.require(Permission::PolicyWrite)?;
    Ok(Json(
        change_object(&state, &caller, &kind, &id, None, p).await?,
    ))
}

/// Terms of use as created through the API.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTerms {
    /// Lowercase slug (letters, digits, `-`, `_`), referred to by policies.
    pub id: String,
    pub name: String,
    /// Plain text shown to users (at most 100,000 characters).
    pub body: String,
}

#[utoipa::path(get, path = "/api/v1/terms-of-use", tag = "admin",
    responses((status = 200, body = [Object])))]
pub async fn list_terms(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<Vec<trustplane_store::TermsOfUse>>, AppError> {
    caller.require(Permission::PolicyRead)?;
    Ok(Json(state.store.list_terms().await?))
}

/// Creates terms of use (policies can then require them with `{"terms_of_use": id}`).
#[utoipa::path(post, path = "/api/v1/terms-of-use", tag = "admin", request_body = NewTerms,
    responses((status = 201, body = Object), (status = 400, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn create_terms(
    State(state): State<AppState>,
    caller: ApiCaller,
    crate::api::JsonBody(t): crate::api::JsonBody<NewTerms>,
) -> Result<(axum::http::StatusCode, Json<trustplane_store::TermsOfUse>), AppError> {
    caller.require(Permission::PolicyWrite)?;
    let id = t.id.trim();
    if id.is_empty()
        || id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(AppError::bad_request(
            "invalid_id",
            "id: use 1 to 64 lowercase letters, digits, '-' or '_'",
        ));
    }
    let name = trustplane_core::identity::validate_name("name", &t.name)?;
    if t.body.trim().is_empty() || t.body.chars().count() > 100_000 {
        return Err(AppError::bad_request(
            "invalid_body",
            "body: give the text of the terms (at most 100,000 characters)",
        ));
    }
    let terms = trustplane_store::TermsOfUse {
        id: id.to_string(),
        name,
        body: t.body,
        created_at: state.now(),
    };
    let audit = trustplane_core::audit::AuditDraft::new(
        &caller.actor(),
        "terms_of_use.create",
        "terms_of_use",
        Some(terms.id.clone()),
    )
    .after(&terms);
    state.store.create_terms(&terms, audit).await?;
    Ok((axum::http::StatusCode::CREATED, Json(terms)))
}

/// Deletes terms of use (refused while a policy requires them).
#[utoipa::path(delete, path = "/api/v1/terms-of-use/{id}", tag = "admin",
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_terms(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<axum::http::StatusCode, AppError> {
    caller.require(Permission::PolicyWrite)?;
    let loaded = state.policies.get(state.store.as_ref()).await?;
    let doc = serde_json::to_string(loaded.set.document()).map_err(|_| AppError::internal())?;
    if doc.contains(&format!(
        "{{\"terms_of_use\":{}}}",
        serde_json::Value::String(id.clone())
    )) {
        return Err(AppError::new(
            axum::http::StatusCode::CONFLICT,
            "terms_in_use",
            format!(
                "terms of use {id:?} are required by a conditional access policy; change the policy first"
            ),
        ));
    }
    let audit = trustplane_core::audit::AuditDraft::new(
        &caller.actor(),
        "terms_of_use.delete",
        "terms_of_use",
        Some(id.clone()),
    );
    if state.store.delete_terms(&id, audit).await? {
        Ok(axum::http::StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found("terms of use"))
    }
}

/// This resource's routes.
pub(super) fn routes() -> axum::Router<crate::state::AppState> {
    use axum::routing::{delete, get, post};
    axum::Router::new()
        .route(
            "/conditional-access",
            get(get_policy_set).put(put_policy_set),
        )
        .route("/conditional-access/validate", post(validate_policy_set))
        .route("/conditional-access/versions", get(list_versions))
        .route("/conditional-access/versions/{version}", get(get_version))
        .route(
            "/conditional-access/versions/{version}/restore",
            post(restore_version),
        )
        .route("/conditional-access/templates", get(templates))
        .route("/conditional-access/what-if", post(what_if))
        .route("/conditional-access/replay", post(replay))
        .route("/terms-of-use", get(list_terms).post(create_terms))
        .route("/terms-of-use/{id}", delete(delete_terms))
        .route(
            "/conditional-access/{kind}/{id}",
            get(get_object).put(put_object).delete(delete_object),
        )
}
