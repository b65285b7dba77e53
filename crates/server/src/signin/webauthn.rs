//! WebAuthn relying party: security keys and passkeys, registered on the security info page,
//! used as a second factor, or alone for a passwordless (username-less) sign-in.
//!
//! Every ceremony is done by `webauthn-rs` (challenge, origin, signature, attestation, counter
//! checks); its state is kept server side in the store (single use, 5 minutes), named by a
//! random id the browser holds, and bound to the session or sign-in flow that started it.

use crate::edge::auth::SessionCtx;
use crate::edge::error::AppError;
use crate::platform::config::Config;
use crate::platform::secrets::random_token;
use crate::state::AppState;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use std::net::SocketAddr;
use trustplane_core::audit::AuditDraft;
use trustplane_core::credential::secret_digest;
use trustplane_core::mfa::webauthn::{WebauthnCredential, clean_label};
use url::Url;
use uuid::Uuid;
use webauthn_rs::prelude::*;
use webauthn_rs_core::proto::{AttestationConveyancePreference, ResidentKeyRequirement};

/// How long a ceremony may take between its options and its answer.
pub const CEREMONY_LIFETIME: time::Duration = time::Duration::minutes(5);

pub(super) const REGISTER: &str = "register";

pub(super) const SECOND_FACTOR: &str = "second_factor";

pub(super) const PASSWORDLESS: &str = "passwordless";

pub(super) const RESET: &str = "reset";

/// The relying party from the configuration: id = host of `public_url`, origin =
/// `public_url`; without one, `http://localhost:PORT` (the port actually bound) with id
/// `localhost` (browsers treat `http://localhost` as a secure context, not `127.0.0.1`).
pub fn relying_party(cfg: &Config, bound: SocketAddr) -> Result<Webauthn, String> {
    let origin = match &cfg.public_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => format!("http://localhost:{}", bound.port()),
    };
    let url = Url::parse(&origin).map_err(|e| format!("public_url {origin:?}: {e}"))?;
    let rp_id = url
        .host_str()
        .ok_or_else(|| format!("public_url {origin:?} has no host name"))?
        .to_string();
    WebauthnBuilder::new(&rp_id, &url)
        .and_then(|b| b.rp_name(&cfg.organisation).build())
        .map_err(|e| {
            format!(
                "cannot act as a WebAuthn relying party for {origin} (id {rp_id:?}): {e}. \
                 Set public_url to the https:// address users reach (an IP address cannot be \
                 a relying party id)."
            )
        })
}

pub(super) fn rp(state: &AppState) -> Result<&Webauthn, AppError> {
    state.webauthn.as_deref().ok_or_else(|| {
        AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "webauthn_unavailable",
            "Security keys and passkeys are not available on this server.",
        )
    })
}

/// What the browser gets to start a ceremony: `publicKey` for `navigator.credentials`, and
/// the ceremony id to send back with the answer.
#[derive(Serialize)]
pub struct Options<T: Serialize> {
    pub ceremony: String,
    #[serde(rename = "publicKey")]
    pub public_key: T,
}

pub(super) async fn save_ceremony<S: Serialize>(
    state: &AppState,
    purpose: &str,
    binding: &str,
    user_id: Option<Uuid>,
    ceremony_state: &S,
) -> Result<String, AppError> {
    let id = random_token();
    let data = serde_json::to_string(ceremony_state).map_err(|_| AppError::internal())?;
    let now = state.now();
    state
        .store
        .save_webauthn_ceremony(
            &secret_digest(&id),
            purpose,
            binding,
            user_id,
            &data,
            now,
            now + CEREMONY_LIFETIME,
        )
        .await?;
    Ok(id)
}

pub(super) async fn take_ceremony<S: serde::de::DeserializeOwned>(
    state: &AppState,
    id: &str,
    purpose: &str,
    binding: &str,
) -> Result<Option<(Option<Uuid>, S)>, AppError> {
    if id.is_empty() || id.len() > 128 {
        return Ok(None);
    }
    let Some((user, data)) = state
        .store
        .take_webauthn_ceremony(&secret_digest(id), purpose, binding, state.now())
        .await?
    else {
        return Ok(None);
    };
    Ok(serde_json::from_str(&data).ok().map(|s| (user, s)))
}

pub(super) fn expired() -> AppError {
    AppError::bad_request(
        "ceremony_expired",
        "This request expired or was already used. Try again.",
    )
}

pub(super) fn parse_passkey(json: &str) -> Result<Passkey, AppError> {
    serde_json::from_str(json).map_err(|e| {
        tracing::error!(error = %e, "a stored WebAuthn credential cannot be read");
        AppError::internal()
    })
}

// --- registration ---------------------------------------------------------------------------

/// Starts registering a security key or passkey for the signed-in user.
pub async fn registration_options(
    state: &AppState,
    ctx: &SessionCtx,
) -> Result<Options<serde_json::Value>, AppError> {
    let wa = rp(state)?;
    let policy = state.ops().methods_policy().await?;
    if !policy.webauthn_allowed(&state.store.group_ids_of(ctx.user.id).await?) {
        return Err(AppError::forbidden(
            "Your organisation does not allow security keys or passkeys for your account.",
        ));
    }
    let existing: Vec<CredentialID> = state
        .store
        .webauthn_keys(ctx.user.id)
        .await?
        .iter()
        .map(|(_, k)| parse_passkey(k).map(|p| p.cred_id().clone()))
        .collect::<Result<_, _>>()?;
    let display = if ctx.user.display_name.is_empty() {
        &ctx.user.username
    } else {
        &ctx.user.display_name
    };
    let (mut ccr, reg) = wa
        .start_passkey_registration(ctx.user.id, &ctx.user.username, display, Some(existing))
        .map_err(|e| {
            tracing::error!(error = %e, "cannot start a WebAuthn registration");
            AppError::internal()
        })?;
    // A discoverable credential when the authenticator can (for passwordless sign-in), and
    // the vendor attestation (for the attestation / model policy). Neither is checked from
    // the request when the answer comes back; what the authenticator did is read from it.
    if let Some(sel) = ccr.public_key.authenticator_selection.as_mut() {
        sel.resident_key = Some(ResidentKeyRequirement::Preferred);
        sel.require_resident_key = false;
    }
    ccr.public_key.attestation = Some(AttestationConveyancePreference::Direct);
    let ceremony = save_ceremony(
        state,
        REGISTER,
        &ctx.session.id.to_string(),
        Some(ctx.user.id),
        &reg,
    )
    .await?;
    Ok(Options {
        ceremony,
        public_key: serde_json::to_value(&ccr.public_key).map_err(|_| AppError::internal())?,
    })
}

/// The AAGUID in the attested credential data of a registration answer (already verified
/// by `webauthn-rs`): the attestation object is decoded by a CBOR library and its
/// authenticator data by webauthn-rs-core's parser.
pub(super) fn aaguid_of(reg: &RegisterPublicKeyCredential) -> Option<Uuid> {
    use webauthn_rs_core::internals::AuthenticatorData;
    use webauthn_rs_core::proto::Registration;
    let value: serde_cbor_2::Value =
        serde_cbor_2::from_slice(reg.response.attestation_object.as_ref()).ok()?;
    let serde_cbor_2::Value::Map(map) = value else {
        return None;
    };
    let auth_data = map.iter().find_map(|(k, v)| match (k, v) {
        (serde_cbor_2::Value::Text(k), serde_cbor_2::Value::Bytes(b)) if k == "authData" => Some(b),
        _ => None,
    })?;
    let parsed = AuthenticatorData::<Registration>::try_from(auth_data.as_slice()).ok()?;
    let aaguid = Uuid::from_bytes(parsed.acd?.aaguid);
    (!aaguid.is_nil()).then_some(aaguid)
}

/// Finishes a registration: verifies the answer, applies the policy (who, attestation,
/// models), stores the credential (audited). The refusal message is for the user.
pub async fn finish_registration(
    state: &AppState,
    ctx: &SessionCtx,
    ip: Option<std::net::IpAddr>,
    ceremony: &str,
    label: &str,
    answer: &serde_json::Value,
) -> Result<WebauthnCredential, AppError> {
    let (reg, passkey) = verify_registration(state, ctx, ceremony, answer).await?;
    let cred = Credential::from(passkey.clone());
    let attested = matches!(
        cred.attestation.data,
        ParsedAttestationData::Basic(_)
            | ParsedAttestationData::AttCa(_)
            | ParsedAttestationData::AnonCa(_)
    );
    let format = serde_json::to_value(cred.attestation_format)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "none".into());
    let aaguid = aaguid_of(&reg);
    let policy = state.ops().methods_policy().await?;
    let groups = state.store.group_ids_of(ctx.user.id).await?;
    if let Err(refusal) = policy
        .webauthn
        .check_registration(&groups, attested, aaguid)
    {
        tracing::info!(user_id = %ctx.user.id, code = refusal.code(), aaguid = ?aaguid,
            attested, "WebAuthn registration refused by policy");
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            refusal.code(),
            refusal.to_string(),
        ));
    }
    let default = if cred.backup_eligible {
        "Passkey"
    } else {
        "Security key"
    };
    let now = state.now();
    let record = WebauthnCredential {
        id: Uuid::now_v7(),
        user_id: ctx.user.id,
        credential_id: URL_SAFE_NO_PAD.encode(passkey.cred_id().as_slice()),
        label: clean_label(label, default),
        aaguid,
        backup_eligible: cred.backup_eligible,
        backup_state: cred.backup_state,
        user_verified: cred.user_verified,
        attestation_format: format,
        attested,
        sign_count: cred.counter,
        created_at: now,
        last_used_at: None,
    };
    let key = serde_json::to_string(&passkey).map_err(|_| AppError::internal())?;
    let audit = AuditDraft::new(
        &ctx.actor(ip),
        "mfa.method.add",
        "user",
        Some(ctx.user.id.to_string()),
    )
    .after(&serde_json::json!({
        "method": record.id, "kind": record.kind().as_str(), "label": record.label,
        "aaguid": record.aaguid, "binding": record.binding(), "attested": attested,
        "attestation_format": record.attestation_format, "user_verified": record.user_verified,
    }));
    state
        .store
        .add_webauthn_credential(&record, &key, audit)
        .await
        .map_err(|e| match e {
            trustplane_store::StoreError::Conflict(_) => AppError::new(
                StatusCode::CONFLICT,
                "already_registered",
                "This security key or passkey is already registered.",
            ),
            other => other.into(),
        })?;
    Ok(record)
}

/// Verifies a registration answer against the ceremony this session started.
async fn verify_registration(
    state: &AppState,
    ctx: &SessionCtx,
    ceremony: &str,
    answer: &serde_json::Value,
) -> Result<(RegisterPublicKeyCredential, Passkey), AppError> {
    let wa = rp(state)?;
    let Some((user, reg_state)) = take_ceremony::<PasskeyRegistration>(
        state,
        ceremony,
        REGISTER,
        &ctx.session.id.to_string(),
    )
    .await?
    else {
        return Err(expired());
    };
    if user != Some(ctx.user.id) {
        return Err(expired());
    }
    let reg: RegisterPublicKeyCredential = serde_json::from_value(answer.clone())
        .map_err(|_| AppError::bad_request("invalid_credential", "The answer is malformed."))?;
    let passkey = wa.finish_passkey_registration(&reg, &reg_state).map_err(|e| {
        tracing::info!(error = %e, "WebAuthn registration refused");
        AppError::bad_request(
            "registration_failed",
            "The security key or passkey could not be registered (it did not verify). Try again.",
        )
    })?;
    Ok((reg, passkey))
}
