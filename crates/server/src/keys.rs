//! Signing keys for the assertions trustplane issues (forward-auth, later ID tokens): ES256
//! (P-256) keys, the private half sealed at rest with a key derived from the master key and
//! bound to the key id, the public half published at `/.well-known/jwks.json`.

use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use rand::rngs::OsRng;
use time::OffsetDateTime;
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_store::{SigningKey, Store};
use uuid::Uuid;

pub const ALG: &str = "ES256";

/// Key-management failures (never carry key material).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot generate a signing key")]
    Generate,
    #[error("the signing key {0} cannot be unsealed (wrong master key?)")]
    Unseal(String),
    #[error("no active signing key")]
    NoKey,
    #[error("cannot sign the assertion")]
    Sign,
    #[error(transparent)]
    Store(#[from] trustplane_store::StoreError),
}

impl KeyError {
    pub fn code(&self) -> &'static str {
        match self {
            KeyError::Generate => "key_generation_failed",
            KeyError::Unseal(_) => "key_unseal_failed",
            KeyError::NoKey => "no_signing_key",
            KeyError::Sign => "signing_failed",
            KeyError::Store(e) => e.code(),
        }
    }
}

impl From<KeyError> for AppError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Store(s) => s.into(),
            other => {
                tracing::error!(code = other.code(), error = %other, "signing key");
                AppError::internal()
            }
        }
    }
}

/// A new P-256 key: (PKCS#8 DER private key, public JWK).
fn generate(kid: &str) -> Result<(Vec<u8>, serde_json::Value), KeyError> {
    let secret = p256::SecretKey::random(&mut OsRng);
    let der = secret.to_pkcs8_der().map_err(|_| KeyError::Generate)?;
    let point = secret.public_key().to_encoded_point(false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return Err(KeyError::Generate);
    };
    let jwk = serde_json::json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(x),
        "y": URL_SAFE_NO_PAD.encode(y),
        "kid": kid,
        "alg": ALG,
        "use": "sig",
    });
    Ok((der.as_bytes().to_vec(), jwk))
}

/// Creates an ES256 key unless an active one exists (called at start).
pub async fn ensure_active(store: &dyn Store, seal_key: &[u8; 32]) -> Result<(), KeyError> {
    if !store.active_signing_keys().await?.is_empty() {
        return Ok(());
    }
    let kid = Uuid::now_v7().simple().to_string();
    let (der, jwk) = generate(&kid)?;
    let sealed =
        crate::secrets::seal(seal_key, kid.as_bytes(), &der).map_err(|_| KeyError::Generate)?;
    let audit = AuditDraft::new(
        &Actor::system(),
        "signing_key.create",
        "signing_key",
        Some(kid.clone()),
    )
    .after(&serde_json::json!({ "alg": ALG, "jwk": jwk }));
    store
        .add_signing_key(
            &SigningKey {
                kid: kid.clone(),
                alg: ALG.into(),
                sealed_private: sealed,
                public_jwk: jwk.to_string(),
                created_at: OffsetDateTime::now_utc(),
                retired_at: None,
            },
            audit,
        )
        .await?;
    tracing::info!(kid = %kid, "created an ES256 signing key");
    Ok(())
}

/// Signs `claims` with the newest active key (creating one if there is none).
pub async fn sign(state: &AppState, claims: &serde_json::Value) -> Result<String, KeyError> {
    let (kid, enc) = signer(state).await?;
    encode(&kid, &enc, claims)
}

/// The newest active key, unsealed: (kid, encoding key). Creates one if there is none.
pub async fn signer(state: &AppState) -> Result<(String, jsonwebtoken::EncodingKey), KeyError> {
    let store = state.store.as_ref();
    let mut keys = store.active_signing_keys().await?;
    if keys.is_empty() {
        ensure_active(store, &state.signing_key).await?;
        keys = store.active_signing_keys().await?;
    }
    let key = keys.into_iter().next().ok_or(KeyError::NoKey)?;
    let der = crate::secrets::open(&state.signing_key, key.kid.as_bytes(), &key.sealed_private)
        .map_err(|_| KeyError::Unseal(key.kid.clone()))?;
    Ok((key.kid, jsonwebtoken::EncodingKey::from_ec_der(&der)))
}

/// Signs `claims` as an ES256 JWT with the given key.
pub fn encode(
    kid: &str,
    enc: &jsonwebtoken::EncodingKey,
    claims: &serde_json::Value,
) -> Result<String, KeyError> {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, enc).map_err(|_| KeyError::Sign)
}

/// `GET /.well-known/jwks.json`: every active public key.
pub async fn jwks(State(state): State<AppState>) -> Result<Response, AppError> {
    let keys: Vec<serde_json::Value> = state
        .store
        .active_signing_keys()
        .await?
        .into_iter()
        .filter_map(|k| serde_json::from_str(&k.public_jwk).ok())
        .collect();
    Ok((
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(serde_json::json!({ "keys": keys })),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_p256_coordinates() {
        let (der, jwk) = generate("k1").unwrap();
        assert!(!der.is_empty());
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["kid"], "k1");
        let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
        assert_eq!(x.len(), 32);
        // Another key differs.
        let (_, other) = generate("k2").unwrap();
        assert_ne!(jwk["x"], other["x"]);
    }
}
