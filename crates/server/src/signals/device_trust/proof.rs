//! Device proofs: every request an agent makes after registration carries
//! `Device-Proof: <compact JWS>` signed with the device key (ES256; header
//! `typ: trustplane-device-proof+jwt`, `kid`: the device id; claims `htm`, `htu`, `iat`, `jti`
//! and `bh`, the SHA-256 of the body). It is bound to the method, URL and body, lives 60 s
//! and is accepted once. The key is the one in the device's current certificate; a disabled
//! or deleted device, or one whose certificate expired, proves nothing.

use crate::edge::error::AppError;
use crate::state::AppState;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use trustplane_core::device::{Device, DeviceState};
use uuid::Uuid;

pub const HEADER: &str = "device-proof";
pub const TYP: &str = "trustplane-device-proof+jwt";
/// How far `iat` may be from the server's clock, either way (seconds).
pub const WINDOW: i64 = 60;
/// Proofs remembered at most; past this the oldest half is dropped (their `iat` window
/// still refuses them once they are older than [`WINDOW`]).
const MAX_REMEMBERED: usize = 200_000;

#[derive(serde::Deserialize)]
struct Claims {
    htm: String,
    htu: String,
    iat: i64,
    jti: String,
    #[serde(default)]
    bh: Option<String>,
}

/// `jti`s seen in the last [`WINDOW`] × 2 seconds. (One instance's memory: with several
/// instances a proof could be replayed once on another instance within 60 s; each instance
/// still refuses its own replays.)
#[derive(Default)]
pub struct ReplayCache(Mutex<HashMap<String, i64>>);

impl ReplayCache {
    /// Records `jti` (for `device`); false when it was seen.
    fn first_use(&self, device: Uuid, jti: &str, now: i64) -> bool {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_REMEMBERED {
            m.retain(|_, at| now - *at <= 2 * WINDOW);
            if m.len() >= MAX_REMEMBERED {
                m.clear();
            }
        }
        m.insert(format!("{device}:{jti}"), now).is_none()
    }
}

fn refused(message: impl Into<String>) -> AppError {
    AppError::new(StatusCode::UNAUTHORIZED, "invalid_device_proof", message)
}

/// The (uncompressed) P-256 point of a certificate's key, as JWK `x` and `y`.
fn key_of(certificate_pem: &str) -> Option<DecodingKey> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(certificate_pem.as_bytes()).ok()?;
    let cert = pem.parse_x509().ok()?;
    let point = cert.public_key().subject_public_key.data.as_ref();
    if point.len() != 65 || point[0] != 4 {
        return None;
    }
    let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
    let y = URL_SAFE_NO_PAD.encode(&point[33..]);
    DecodingKey::from_ec_components(&x, &y).ok()
}

/// Checks the request's proof and returns the device it proves. `url` is the request URL as
/// the agent addressed it (scheme, host and path, no query).
pub async fn verify(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    url: &str,
    body: &[u8],
) -> Result<Device, AppError> {
    crate::platform::jose::install();
    let token = headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refused("A Device-Proof header signed with the device key is required."))?;
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| refused("The device proof is not a compact JWS."))?;
    if header.alg != Algorithm::ES256 || header.typ.as_deref() != Some(TYP) {
        return Err(refused(format!(
            "The device proof must be ES256 with typ {TYP}."
        )));
    }
    let id = header
        .kid
        .as_deref()
        .and_then(|k| Uuid::parse_str(k).ok())
        .ok_or_else(|| refused("The device proof's kid must be the device id."))?;
    let now = state.now();
    let device = state
        .store
        .get_device(id)
        .await?
        .filter(|d| d.state == DeviceState::Enabled && now < d.cert_not_after)
        .ok_or_else(|| refused("This device is unknown, disabled or its certificate expired."))?;
    let key = key_of(&device.certificate_pem)
        .ok_or_else(|| refused("The device's certificate has no usable key."))?;
    let mut v = Validation::new(Algorithm::ES256);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &v)
        .map_err(|_| refused("The device proof's signature does not verify with the device key."))?
        .claims;
    let t = now.unix_timestamp();
    if (t - claims.iat).abs() > WINDOW {
        return Err(refused(format!(
            "The device proof is older than {WINDOW} seconds (or from the future): check the \
             device's clock."
        )));
    }
    if !claims.htm.eq_ignore_ascii_case(method) || claims.htu != url {
        return Err(refused(
            "The device proof was made for another request (htm/htu).",
        ));
    }
    let bh = (!body.is_empty()).then(|| URL_SAFE_NO_PAD.encode(Sha256::digest(body)));
    if claims.bh != bh {
        return Err(refused(
            "The device proof does not match the request body (bh).",
        ));
    }
    if claims.jti.len() < 16 || claims.jti.len() > 128 {
        return Err(refused(
            "The device proof's jti must be 16 to 128 characters.",
        ));
    }
    if !state.device_proofs.first_use(id, &claims.jti, t) {
        return Err(refused("This device proof was already used."));
    }
    Ok(device)
}
