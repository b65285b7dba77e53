//! Signing keys for the assertions trustplane issues (forward-auth, later ID tokens): ES256
//! (P-256) keys, the private half sealed at rest with a key derived from the master key and
//! bound to the key id, the public half published at `/.well-known/jwks.json`.

use crate::edge::error::AppError;
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
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use time::{Duration, OffsetDateTime};
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_store::{SigningKey, Store};
use uuid::Uuid;

/// The default algorithm (P-256).
pub const ES256: &str = "ES256";
/// For relying parties that cannot verify ES256 (RSA 2048, created on first use).
pub const RS256: &str = "RS256";
/// Kept for callers that predate RS256.
pub const ALG: &str = ES256;

/// A new key is published this long before it signs, so that relying parties that cache the
/// JWKS (`max-age` 300 s) know it before they meet a token signed with it.
pub const PUBLISH_AHEAD: Duration = Duration::minutes(10);
/// The longest lifetime of anything trustplane signs (refresh-token bound ID and access
/// tokens are far shorter): a superseded key stays published this long after it last signed.
pub const MAX_SIGNED_LIFETIME: Duration = Duration::hours(24);

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
    #[error("unsupported signing algorithm {0} (ES256 or RS256)")]
    UnsupportedAlg(String),
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
            KeyError::UnsupportedAlg(_) => "unsupported_alg",
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

/// A new key of `alg`: (DER private key as jsonwebtoken reads it, public JWK).
fn generate(kid: &str, alg: &str) -> Result<(Vec<u8>, serde_json::Value), KeyError> {
    match alg {
        ES256 => generate_es256(kid),
        RS256 => generate_rs256(kid),
        _ => Err(KeyError::Generate),
    }
}

/// RSA 2048 (PKCS#1 DER, which `EncodingKey::from_rsa_der` reads).
fn generate_rs256(kid: &str) -> Result<(Vec<u8>, serde_json::Value), KeyError> {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let secret = rsa::RsaPrivateKey::new(&mut OsRng, 2048).map_err(|_| KeyError::Generate)?;
    let der = secret.to_pkcs1_der().map_err(|_| KeyError::Generate)?;
    let jwk = serde_json::json!({
        "kty": "RSA",
        "n": URL_SAFE_NO_PAD.encode(secret.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(secret.e().to_bytes_be()),
        "kid": kid,
        "alg": RS256,
        "use": "sig",
    });
    Ok((der.as_bytes().to_vec(), jwk))
}

/// A new P-256 key: (PKCS#8 DER private key, public JWK).
fn generate_es256(kid: &str) -> Result<(Vec<u8>, serde_json::Value), KeyError> {
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
        "alg": ES256,
        "use": "sig",
    });
    Ok((der.as_bytes().to_vec(), jwk))
}

/// Creates and stores a new key of `alg` (audited as `actor`).
async fn create(
    store: &dyn Store,
    seal_key: &[u8; 32],
    alg: &str,
    actor: &Actor,
    reason: &str,
    now: time::OffsetDateTime,
) -> Result<String, KeyError> {
    let kid = Uuid::now_v7().simple().to_string();
    let alg_owned = alg.to_string();
    let kid_owned = kid.clone();
    // RSA generation takes a while: off the async workers.
    let (der, jwk) = tokio::task::spawn_blocking(move || generate(&kid_owned, &alg_owned))
        .await
        .map_err(|_| KeyError::Generate)??;
    let sealed = crate::platform::secrets::seal(seal_key, kid.as_bytes(), &der)
        .map_err(|_| KeyError::Generate)?;
    let audit = AuditDraft::new(
        actor,
        "signing_key.create",
        "signing_key",
        Some(kid.clone()),
    )
    .after(&serde_json::json!({ "alg": alg, "jwk": jwk, "reason": reason }));
    store
        .add_signing_key(
            &SigningKey {
                kid: kid.clone(),
                alg: alg.into(),
                sealed_private: sealed,
                public_jwk: jwk.to_string(),
                created_at: now,
                retired_at: None,
            },
            audit,
        )
        .await?;
    crate::platform::keyring::invalidate();
    tracing::info!(kid = %kid, alg, reason, "created a signing key");
    Ok(kid)
}

/// Creates an ES256 key unless an active one exists (called at start).
pub async fn ensure_active(
    store: &dyn Store,
    seal_key: &[u8; 32],
    now: time::OffsetDateTime,
) -> Result<(), KeyError> {
    if store
        .active_signing_keys()
        .await?
        .iter()
        .any(|k| k.alg == ES256)
    {
        return Ok(());
    }
    create(store, seal_key, ES256, &Actor::system(), "initial", now).await?;
    Ok(())
}

/// Rotates the `alg` keys: a new key is created (it signs once [`PUBLISH_AHEAD`] has passed)
/// and every older active key of that algorithm is retired: it stays published until what
/// it may still sign has expired. Returns the new key id.
pub async fn rotate(
    store: &dyn Store,
    seal_key: &[u8; 32],
    alg: &str,
    actor: &Actor,
    reason: &str,
    now: time::OffsetDateTime,
) -> Result<String, KeyError> {
    if alg != ES256 && alg != RS256 {
        return Err(KeyError::UnsupportedAlg(alg.to_string()));
    }
    let older: Vec<SigningKey> = store
        .active_signing_keys()
        .await?
        .into_iter()
        .filter(|k| k.alg == alg)
        .collect();
    let kid = create(store, seal_key, alg, actor, reason, now).await?;
    let until = now + PUBLISH_AHEAD + MAX_SIGNED_LIFETIME;
    for k in older {
        let audit = AuditDraft::new(
            actor,
            "signing_key.retire",
            "signing_key",
            Some(k.kid.clone()),
        )
        .after(
            &serde_json::json!({ "published_until": until.unix_timestamp(),
                "replaced_by": kid }),
        );
        store.retire_signing_key(&k.kid, until, audit).await?;
        crate::platform::keyring::invalidate();
    }
    Ok(kid)
}

/// Rotates every algorithm whose newest key is older than `every` (the periodic task).
pub async fn rotate_due(
    store: &dyn Store,
    seal_key: &[u8; 32],
    every: Duration,
    now: time::OffsetDateTime,
) -> Result<Vec<String>, KeyError> {
    let keys = store.active_signing_keys().await?;
    let mut rotated = Vec::new();
    for alg in [ES256, RS256] {
        if let Some(newest) = keys.iter().find(|k| k.alg == alg)
            && now - newest.created_at >= every
        {
            rotated.push(rotate(store, seal_key, alg, &Actor::system(), "scheduled", now).await?);
        }
    }
    Ok(rotated)
}

/// The key that signs with `alg` now: the newest published key that has been published for
/// at least [`PUBLISH_AHEAD`]; when none has (a new installation, or rotations in quick
/// succession), the oldest still published, so that a freshly created key never signs
/// before relying parties could have fetched it, unless it is the only one.
pub fn signing_choice(keys: &[SigningKey], alg: &str, now: OffsetDateTime) -> Option<SigningKey> {
    let of_alg: Vec<&SigningKey> = keys
        .iter()
        .filter(|k| k.alg == alg && k.retired_at.is_none_or(|r| r > now))
        .collect();
    of_alg
        .iter()
        .filter(|k| k.created_at + PUBLISH_AHEAD <= now)
        .max_by_key(|k| k.created_at)
        .or_else(|| of_alg.iter().min_by_key(|k| k.created_at))
        .map(|k| (*k).clone())
}

/// An unsealed key: for `jsonwebtoken` and, for ES256, parsed once for the fast signer.
#[derive(Clone)]
struct Unsealed {
    enc: Arc<jsonwebtoken::EncodingKey>,
    es256: Option<Arc<crate::platform::jose::Es256>>,
}

/// Unsealed keys by kid (kids are random and never reused, so a cached key is always the
/// one stored under that kid).
fn key_cache() -> &'static Mutex<HashMap<String, Unsealed>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Unsealed>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn remember(kid: &str, u: &Unsealed) {
    if let Ok(mut cache) = key_cache().lock() {
        if cache.len() > 64 {
            cache.clear();
        }
        cache.insert(kid.to_string(), u.clone());
    }
}

fn unsealed(seal_key: &[u8; 32], key: &SigningKey) -> Result<Unsealed, KeyError> {
    if let Ok(cache) = key_cache().lock()
        && let Some(k) = cache.get(&key.kid)
    {
        return Ok(k.clone());
    }
    let der = crate::platform::secrets::open(seal_key, key.kid.as_bytes(), &key.sealed_private)
        .map_err(|_| KeyError::Unseal(key.kid.clone()))?;
    let u = match key.alg.as_str() {
        RS256 => Unsealed {
            enc: Arc::new(jsonwebtoken::EncodingKey::from_rsa_der(&der)),
            es256: None,
        },
        _ => Unsealed {
            enc: Arc::new(jsonwebtoken::EncodingKey::from_ec_der(&der)),
            es256: Some(Arc::new(
                crate::platform::jose::Es256::from_pkcs8(&der)
                    .ok_or(KeyError::Unseal(key.kid.clone()))?,
            )),
        },
    };
    remember(&key.kid, &u);
    Ok(u)
}

/// The `alg` key that signs now, unsealed (creating a key when there is none). The
/// published keys come from the state's key ring (read at most every few seconds).
async fn key_in_use(state: &AppState, alg: &str) -> Result<(SigningKey, Unsealed), KeyError> {
    crate::platform::jose::install();
    let store = state.store.as_ref();
    let now = state.now();
    let mut key = signing_choice(&state.keyring.published(store, now).await?.keys, alg, now);
    if key.is_none() {
        create(
            store,
            &state.signing_key,
            alg,
            &Actor::system(),
            "first use",
            now,
        )
        .await?;
        key = signing_choice(&state.keyring.published(store, now).await?.keys, alg, now);
    }
    let key = key.ok_or(KeyError::NoKey)?;
    let u = unsealed(&state.signing_key, &key)?;
    Ok((key, u))
}

/// The ES256 key in use, unsealed: (kid, encoding key), for callers that keep it (the
/// forward-auth decision cache). Creates one if there is none.
pub async fn signer(state: &AppState) -> Result<(String, jsonwebtoken::EncodingKey), KeyError> {
    let (key, u) = key_in_use(state, ES256).await?;
    Ok((key.kid, (*u.enc).clone()))
}

/// Signs `claims` as an ES256 JWT with the key `kid` (`typ: JWT`).
pub fn encode(
    kid: &str,
    enc: &jsonwebtoken::EncodingKey,
    claims: &serde_json::Value,
) -> Result<String, KeyError> {
    let cached = key_cache()
        .lock()
        .ok()
        .and_then(|c| c.get(kid).and_then(|u| u.es256.clone()));
    let fast = match cached {
        Some(f) => f,
        None => {
            let f = Arc::new(
                crate::platform::jose::Es256::from_pkcs8(enc.inner()).ok_or(KeyError::Sign)?,
            );
            remember(
                kid,
                &Unsealed {
                    enc: Arc::new(enc.clone()),
                    es256: Some(f.clone()),
                },
            );
            f
        }
    };
    fast.sign("JWT", kid, claims).ok_or(KeyError::Sign)
}

/// Signs `claims` with the ES256 key in use (creating one if there is none), `typ: JWT`.
pub async fn sign(state: &AppState, claims: &serde_json::Value) -> Result<String, KeyError> {
    sign_with(state, ES256, claims).await
}

/// The JOSE `typ` of an OAuth access token (RFC 9068 section 2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Signs an access token's claims with the ES256 key in use, `typ: at+jwt` (RFC 9068).
pub async fn sign_access_token(
    state: &AppState,
    claims: &serde_json::Value,
) -> Result<String, KeyError> {
    let (key, u) = key_in_use(state, ES256).await?;
    let fast = u.es256.ok_or(KeyError::Sign)?;
    fast.sign(ACCESS_TOKEN_TYP, &key.kid, claims)
        .ok_or(KeyError::Sign)
}

/// Signs `claims` with the `alg` key in use (creating one if there is none; RS256 keys are
/// only created when something first asks for RS256).
pub async fn sign_with(
    state: &AppState,
    alg: &str,
    claims: &serde_json::Value,
) -> Result<String, KeyError> {
    let algorithm = match alg {
        ES256 => jsonwebtoken::Algorithm::ES256,
        RS256 => jsonwebtoken::Algorithm::RS256,
        other => return Err(KeyError::UnsupportedAlg(other.to_string())),
    };
    let (key, u) = key_in_use(state, alg).await?;
    if let Some(fast) = &u.es256 {
        return fast.sign("JWT", &key.kid, claims).ok_or(KeyError::Sign);
    }
    let mut header = jsonwebtoken::Header::new(algorithm);
    header.kid = Some(key.kid);
    jsonwebtoken::encode(&header, claims, &u.enc).map_err(|_| KeyError::Sign)
}

/// `GET /.well-known/jwks.json`: every published public key (the ones in use, the next ones,
/// and retired ones until what they signed has expired).
pub async fn jwks(State(state): State<AppState>) -> Result<Response, AppError> {
    let keys: Vec<serde_json::Value> = state
        .store
        .published_signing_keys(state.now())
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
        let (der, jwk) = generate("k1", ES256).unwrap();
        assert!(!der.is_empty());
        // The stored form loads in the fast (ring) signer.
        assert!(crate::platform::jose::Es256::from_pkcs8(&der).is_some());
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["kid"], "k1");
        let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
        assert_eq!(x.len(), 32);
        // Another key differs.
        let (_, other) = generate("k2", ES256).unwrap();
        assert_ne!(jwk["x"], other["x"]);
    }

    fn key(
        kid: &str,
        alg: &str,
        created: OffsetDateTime,
        retired: Option<OffsetDateTime>,
    ) -> SigningKey {
        SigningKey {
            kid: kid.into(),
            alg: alg.into(),
            sealed_private: String::new(),
            public_jwk: String::new(),
            created_at: created,
            retired_at: retired,
        }
    }

    #[test]
    fn a_new_key_signs_only_once_published_long_enough() {
        let t = OffsetDateTime::now_utc();
        let kid = |k: Option<SigningKey>| k.map(|k| k.kid);
        // The very first key signs at once.
        let first = vec![key("k1", ES256, t, None)];
        assert_eq!(kid(signing_choice(&first, ES256, t)), Some("k1".into()));
        assert_eq!(kid(signing_choice(&first, RS256, t)), None);
        // Right after a rotation the old (retired, still published) key keeps signing...
        let until = t + PUBLISH_AHEAD + MAX_SIGNED_LIFETIME;
        let keys = vec![
            key("k2", ES256, t, None),
            key("k1", ES256, t - Duration::days(90), Some(until)),
        ];
        assert_eq!(kid(signing_choice(&keys, ES256, t)), Some("k1".into()));
        // ...until the new one has been published for PUBLISH_AHEAD.
        let later = t + PUBLISH_AHEAD;
        assert_eq!(kid(signing_choice(&keys, ES256, later)), Some("k2".into()));
        // Rotations in quick succession: the oldest still published signs meanwhile.
        let quick = vec![
            key("k3", ES256, t, None),
            key("k2", ES256, t - Duration::minutes(1), Some(until)),
            key("k1", ES256, t - Duration::minutes(2), Some(until)),
        ];
        assert_eq!(kid(signing_choice(&quick, ES256, t)), Some("k1".into()));
        // A key past its retirement never signs.
        let gone = vec![key("k1", ES256, t - Duration::days(90), Some(t))];
        assert_eq!(kid(signing_choice(&gone, ES256, t)), None);
    }

    #[test]
    fn rs256_keys_sign_tokens_their_jwk_verifies() {
        crate::platform::jose::install();
        let (der, jwk) = generate("r1", RS256).unwrap();
        assert_eq!(jwk["kty"], "RSA");
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some("r1".into());
        let claims = serde_json::json!({ "sub": "x", "exp": 4_000_000_000u64, "aud": "a" });
        let token = jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_rsa_der(&der),
        )
        .unwrap();
        let dec = jsonwebtoken::DecodingKey::from_rsa_components(
            jwk["n"].as_str().unwrap(),
            jwk["e"].as_str().unwrap(),
        )
        .unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&["a"]);
        let got = jsonwebtoken::decode::<serde_json::Value>(&token, &dec, &v).unwrap();
        assert_eq!(got.claims["sub"], "x");
        // The same token is refused as ES256 (no algorithm confusion).
        let mut es = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        es.set_audience(&["a"]);
        assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &dec, &es).is_err());
    }
}
