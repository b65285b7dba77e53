//! The one crypto backend of JOSE here: `ring` (already in the build through rustls), plugged
//! into `jsonwebtoken` as its process-wide `CryptoProvider` (the crate is built without its
//! `rust_crypto` and `aws_lc_rs` features, so nothing else can sign or verify a JWT), and a
//! fast ES256 signer that keeps the parsed key pair (`jsonwebtoken` re-parses the PKCS#8 key,
//! a scalar multiplication, on every signature).
//!
//! The provider follows `jsonwebtoken`'s own `aws_lc` provider (MIT), whose API `ring`
//! shares; every primitive is `ring`'s.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{ErrorKind, new_error};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature::{Error as SigError, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{self as rs, EcdsaKeyPair, KeyPair};
use std::sync::OnceLock;

type JwtResult<T> = jsonwebtoken::errors::Result<T>;

/// Installs the `ring` provider as `jsonwebtoken`'s process default (idempotent). Every
/// path that signs or verifies calls it first; the server calls it at start.
pub fn install() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        // Fails only when a provider is already installed (then it is this one: the crate
        // has no other backend compiled in).
        let _ = PROVIDER.install_default();
    });
}

/// The `ring` provider.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    jwk_utils: JwkUtils {
        extract_rsa_public_key_components,
        extract_ec_public_key_coordinates,
        compute_digest,
    },
};

fn rng() -> &'static SystemRandom {
    static RNG: OnceLock<SystemRandom> = OnceLock::new();
    RNG.get_or_init(SystemRandom::new)
}

fn ecdsa_signing(alg: Algorithm) -> Option<&'static rs::EcdsaSigningAlgorithm> {
    match alg {
        Algorithm::ES256 => Some(&rs::ECDSA_P256_SHA256_FIXED_SIGNING),
        Algorithm::ES384 => Some(&rs::ECDSA_P384_SHA384_FIXED_SIGNING),
        _ => None,
    }
}

fn rsa_signing(alg: Algorithm) -> Option<&'static dyn rs::RsaEncoding> {
    Some(match alg {
        Algorithm::RS256 => &rs::RSA_PKCS1_SHA256,
        Algorithm::RS384 => &rs::RSA_PKCS1_SHA384,
        Algorithm::RS512 => &rs::RSA_PKCS1_SHA512,
        Algorithm::PS256 => &rs::RSA_PSS_SHA256,
        Algorithm::PS384 => &rs::RSA_PSS_SHA384,
        Algorithm::PS512 => &rs::RSA_PSS_SHA512,
        _ => return None,
    })
}

fn rsa_verification(alg: Algorithm) -> Option<&'static rs::RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => &rs::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &rs::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &rs::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &rs::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &rs::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &rs::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn hmac_alg(alg: Algorithm) -> Option<ring::hmac::Algorithm> {
    match alg {
        Algorithm::HS256 => Some(ring::hmac::HMAC_SHA256),
        Algorithm::HS384 => Some(ring::hmac::HMAC_SHA384),
        Algorithm::HS512 => Some(ring::hmac::HMAC_SHA512),
        _ => None,
    }
}

enum SignKey {
    Ecdsa(EcdsaKeyPair),
    Rsa(rs::RsaKeyPair, &'static dyn rs::RsaEncoding),
    Hmac(ring::hmac::Key),
    Ed(rs::Ed25519KeyPair),
}

struct RingSigner {
    alg: Algorithm,
    key: SignKey,
}

impl Signer<Vec<u8>> for RingSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, SigError> {
        match &self.key {
            SignKey::Ecdsa(k) => k
                .sign(rng(), msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| SigError::new()),
            SignKey::Rsa(k, enc) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(*enc, rng(), msg, &mut sig)
                    .map_err(|_| SigError::new())?;
                Ok(sig)
            }
            SignKey::Hmac(k) => Ok(ring::hmac::sign(k, msg).as_ref().to_vec()),
            SignKey::Ed(k) => Ok(k.sign(msg).as_ref().to_vec()),
        }
    }
}

impl JwtSigner for RingSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> JwtResult<Box<dyn JwtSigner>> {
    let alg = *alg;
    let family_is = |f: AlgorithmFamily| {
        if key.family() == f {
            Ok(())
        } else {
            Err(new_error(ErrorKind::InvalidKeyFormat))
        }
    };
    let signing_key = if let Some(h) = hmac_alg(alg) {
        SignKey::Hmac(ring::hmac::Key::new(h, key.try_get_hmac_secret()?))
    } else if let Some(ec) = ecdsa_signing(alg) {
        family_is(AlgorithmFamily::Ec)?;
        SignKey::Ecdsa(
            EcdsaKeyPair::from_pkcs8(ec, key.inner(), rng())
                .map_err(|_| new_error(ErrorKind::InvalidEcdsaKey))?,
        )
    } else if let Some(enc) = rsa_signing(alg) {
        family_is(AlgorithmFamily::Rsa)?;
        let pair = rs::RsaKeyPair::from_der(key.inner())
            .or_else(|_| rs::RsaKeyPair::from_pkcs8(key.inner()))
            .map_err(|e| new_error(ErrorKind::InvalidRsaKey(e.to_string())))?;
        SignKey::Rsa(pair, enc)
    } else {
        family_is(AlgorithmFamily::Ed)?;
        SignKey::Ed(
            rs::Ed25519KeyPair::from_pkcs8_maybe_unchecked(key.inner())
                .map_err(|_| new_error(ErrorKind::InvalidEddsaKey))?,
        )
    };
    Ok(Box::new(RingSigner {
        alg,
        key: signing_key,
    }))
}

struct RingVerifier {
    alg: Algorithm,
    key: DecodingKey,
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), SigError> {
        let unspecified = |_: ring::error::Unspecified| SigError::new();
        if let Some(h) = hmac_alg(self.alg) {
            let secret = self
                .key
                .try_get_hmac_secret()
                .map_err(|_| SigError::new())?;
            return ring::hmac::verify(&ring::hmac::Key::new(h, secret), msg, sig)
                .map_err(unspecified);
        }
        let raw = |k: &DecodingKey| match k.kind() {
            DecodingKeyKind::SecretOrDer(b) => Ok(b.clone()),
            DecodingKeyKind::RsaModulusExponent { .. } => Err(SigError::new()),
        };
        match self.alg {
            Algorithm::ES256 => {
                rs::UnparsedPublicKey::new(&rs::ECDSA_P256_SHA256_FIXED, raw(&self.key)?)
                    .verify(msg, sig)
                    .map_err(unspecified)
            }
            Algorithm::ES384 => {
                rs::UnparsedPublicKey::new(&rs::ECDSA_P384_SHA384_FIXED, raw(&self.key)?)
                    .verify(msg, sig)
                    .map_err(unspecified)
            }
            Algorithm::EdDSA => rs::UnparsedPublicKey::new(&rs::ED25519, raw(&self.key)?)
                .verify(msg, sig)
                .map_err(unspecified),
            other => {
                let params = rsa_verification(other).ok_or_else(SigError::new)?;
                match self.key.kind() {
                    DecodingKeyKind::SecretOrDer(der) => rs::UnparsedPublicKey::new(params, der)
                        .verify(msg, sig)
                        .map_err(unspecified),
                    DecodingKeyKind::RsaModulusExponent { n, e } => {
                        rs::RsaPublicKeyComponents { n, e }
                            .verify(params, msg, sig)
                            .map_err(unspecified)
                    }
                }
            }
        }
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> JwtResult<Box<dyn JwtVerifier>> {
    let want = match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => AlgorithmFamily::Hmac,
        Algorithm::ES256 | Algorithm::ES384 => AlgorithmFamily::Ec,
        Algorithm::EdDSA => AlgorithmFamily::Ed,
        _ => AlgorithmFamily::Rsa,
    };
    if key.family() != want {
        return Err(new_error(ErrorKind::InvalidKeyFormat));
    }
    Ok(Box::new(RingVerifier {
        alg: *alg,
        key: key.clone(),
    }))
}

fn extract_rsa_public_key_components(der: &[u8]) -> JwtResult<(Vec<u8>, Vec<u8>)> {
    let pair = rs::RsaKeyPair::from_der(der)
        .map_err(|e| new_error(ErrorKind::InvalidRsaKey(e.to_string())))?;
    let c = rs::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
    Ok((c.n, c.e))
}

fn extract_ec_public_key_coordinates(
    der: &[u8],
    alg: Algorithm,
) -> JwtResult<(EllipticCurve, Vec<u8>, Vec<u8>)> {
    let (signing, curve, len) = match alg {
        Algorithm::ES256 => (
            &rs::ECDSA_P256_SHA256_FIXED_SIGNING,
            EllipticCurve::P256,
            32,
        ),
        Algorithm::ES384 => (
            &rs::ECDSA_P384_SHA384_FIXED_SIGNING,
            EllipticCurve::P384,
            48,
        ),
        _ => return Err(new_error(ErrorKind::InvalidEcdsaKey)),
    };
    let pair = EcdsaKeyPair::from_pkcs8(signing, der, rng())
        .map_err(|_| new_error(ErrorKind::InvalidEcdsaKey))?;
    let public = pair.public_key().as_ref();
    match public.split_first() {
        Some((4, xy)) if xy.len() == 2 * len => {
            let (x, y) = xy.split_at(len);
            Ok((curve, x.to_vec(), y.to_vec()))
        }
        _ => Err(new_error(ErrorKind::InvalidEcdsaKey)),
    }
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Vec<u8> {
    let alg = match hash {
        ThumbprintHash::SHA256 => &ring::digest::SHA256,
        ThumbprintHash::SHA384 => &ring::digest::SHA384,
        ThumbprintHash::SHA512 => &ring::digest::SHA512,
    };
    ring::digest::digest(alg, data).as_ref().to_vec()
}

/// An ES256 key pair parsed once, signing compact JWS with a given `typ` and `kid`.
pub struct Es256 {
    pair: EcdsaKeyPair,
}

impl Es256 {
    /// From the PKCS#8 DER private key (as stored, unsealed).
    pub fn from_pkcs8(der: &[u8]) -> Option<Es256> {
        EcdsaKeyPair::from_pkcs8(&rs::ECDSA_P256_SHA256_FIXED_SIGNING, der, rng())
            .ok()
            .map(|pair| Es256 { pair })
    }

    /// `claims` as a compact JWS: header `{"alg":"ES256","typ":typ,"kid":kid}`.
    pub fn sign(&self, typ: &str, kid: &str, claims: &serde_json::Value) -> Option<String> {
        let header = serde_json::json!({ "typ": typ, "alg": "ES256", "kid": kid });
        let header = serde_json::to_vec(&header).ok()?;
        let payload = serde_json::to_vec(claims).ok()?;
        let mut out = URL_SAFE_NO_PAD.encode(header);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut out);
        let sig = self.pair.sign(rng(), out.as_bytes()).ok()?;
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(sig.as_ref(), &mut out);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p256_pkcs8() -> Vec<u8> {
        EcdsaKeyPair::generate_pkcs8(&rs::ECDSA_P256_SHA256_FIXED_SIGNING, rng())
            .unwrap()
            .as_ref()
            .to_vec()
    }

    #[test]
    fn the_fast_signer_makes_tokens_the_provider_verifies() {
        install();
        let der = p256_pkcs8();
        let signer = Es256::from_pkcs8(&der).unwrap();
        let claims = serde_json::json!({ "sub": "x", "exp": 4_000_000_000u64 });
        let token = signer.sign("at+jwt", "k1", &claims).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid.as_deref(), Some("k1"));
        let (_, x, y) = extract_ec_public_key_coordinates(&der, Algorithm::ES256).unwrap();
        let dk =
            DecodingKey::from_ec_components(&URL_SAFE_NO_PAD.encode(x), &URL_SAFE_NO_PAD.encode(y))
                .unwrap();
        let v = jsonwebtoken::Validation::new(Algorithm::ES256);
        let got = jsonwebtoken::decode::<serde_json::Value>(&token, &dk, &v).unwrap();
        assert_eq!(got.claims["sub"], "x");
        // A changed payload fails.
        let mut parts: Vec<&str> = token.split('.').collect();
        let other = URL_SAFE_NO_PAD.encode(br#"{"sub":"y","exp":4000000000}"#);
        parts[1] = &other;
        assert!(jsonwebtoken::decode::<serde_json::Value>(&parts.join("."), &dk, &v).is_err());
        // Signed through the provider too, and an HMAC key never verifies as ES256.
        let via = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::ES256),
            &claims,
            &EncodingKey::from_ec_der(&der),
        )
        .unwrap();
        assert!(jsonwebtoken::decode::<serde_json::Value>(&via, &dk, &v).is_ok());
        let hs = DecodingKey::from_secret(b"secret");
        assert!(jsonwebtoken::decode::<serde_json::Value>(&via, &hs, &v).is_err());
    }
}
