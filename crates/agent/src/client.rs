//! The trustplane side of the protocol (`docs/device-protocol.md`): the device authorization
//! grant, registration with a CSR, and requests signed with the device key (`Device-Proof`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

pub const CLIENT_ID: &str = "trustplane-agent";

pub struct Client {
    http: reqwest::Client,
    pub server: String,
}

fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

impl Client {
    /// `extra_ca`: a PEM root to trust besides the system's (a test or private server).
    pub fn new(server: &str, extra_ca: Option<&str>) -> Result<Client, String> {
        let server = server.trim_end_matches('/').to_string();
        if !(server.starts_with("https://") || server.starts_with("http://")) {
            return Err(format!("--server must be an http(s) URL, not `{server}`"));
        }
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("trustplane-agent/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = extra_ca {
            let cert = reqwest::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| err("the extra CA certificate is unusable", e))?;
            b = b.add_root_certificate(cert);
        }
        Ok(Client {
            http: b.build().map_err(|e| err("cannot set up HTTPS", e))?,
            server,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    /// Runs the device authorization grant: prints what the user must do, polls until the
    /// user approved (or denied, or the code expired) and returns the access token.
    pub async fn device_grant(&self, mut show: impl FnMut(&Value)) -> Result<String, String> {
        let r = self
            .http
            .post(self.url("/oauth2/device_authorization"))
            .form(&[("client_id", CLIENT_ID), ("scope", "device.register")])
            .send()
            .await
            .map_err(|e| err("cannot reach the server", e))?;
        let status = r.status();
        let d: Value = r.json().await.map_err(|e| err("unexpected answer", e))?;
        if !status.is_success() {
            return Err(format!("the server refused to start registration: {d}"));
        }
        show(&d);
        let device_code = d["device_code"]
            .as_str()
            .ok_or("no device_code in the answer")?;
        let mut interval = d["interval"].as_u64().unwrap_or(5).max(1);
        let deadline = std::time::Instant::now()
            + Duration::from_secs(d["expires_in"].as_u64().unwrap_or(600));
        loop {
            tokio::time::sleep(Duration::from_secs(interval)).await;
            if std::time::Instant::now() > deadline {
                return Err("the code expired before it was approved; run register again".into());
            }
            let r = self
                .http
                .post(self.url("/oauth2/token"))
                .form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("device_code", device_code),
                    ("client_id", CLIENT_ID),
                ])
                .send()
                .await
                .map_err(|e| err("cannot reach the server", e))?;
            let t: Value = r.json().await.map_err(|e| err("unexpected answer", e))?;
            if let Some(at) = t["access_token"].as_str() {
                return Ok(at.to_string());
            }
            match t["error"].as_str() {
                Some("authorization_pending") => {}
                Some("slow_down") => interval += 5,
                Some("access_denied") => return Err("the registration was denied".into()),
                Some("expired_token") => {
                    return Err(
                        "the code expired before it was approved; run register again".into(),
                    );
                }
                _ => return Err(format!("the server refused the registration: {t}")),
            }
        }
    }

    /// `POST /api/v1/devices/register`.
    pub async fn register(&self, token: &str, body: &Value) -> Result<Value, String> {
        let r = self
            .http
            .post(self.url("/api/v1/devices/register"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .map_err(|e| err("cannot reach the server", e))?;
        answer(r, reqwest::StatusCode::CREATED).await
    }

    /// A request signed with the device key.
    pub async fn signed(
        &self,
        key_pkcs8: &[u8],
        device_id: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(reqwest::StatusCode, Value), String> {
        let url = self.url(path);
        let bytes = match body {
            Some(v) => serde_json::to_vec(v).map_err(|e| e.to_string())?,
            None => Vec::new(),
        };
        let proof = proof(key_pkcs8, device_id, method.as_str(), &url, &bytes)?;
        let mut rb = self
            .http
            .request(method, &url)
            .header("device-proof", proof);
        if body.is_some() {
            rb = rb.header("content-type", "application/json").body(bytes);
        }
        let r = rb
            .send()
            .await
            .map_err(|e| err("cannot reach the server", e))?;
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        let v = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok((status, v))
    }
}

async fn answer(r: reqwest::Response, want: reqwest::StatusCode) -> Result<Value, String> {
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    if status != want {
        let msg = v["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string());
        return Err(format!("the server answered {status}: {msg}"));
    }
    Ok(v)
}

/// A `Device-Proof` (ES256 compact JWS) for one request.
pub fn proof(
    key_pkcs8: &[u8],
    device_id: &str,
    method: &str,
    url: &str,
    body: &[u8],
) -> Result<String, String> {
    let rng = SystemRandom::new();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, key_pkcs8, &rng)
        .map_err(|_| "the device key is not a P-256 PKCS#8 key".to_string())?;
    let header = json!({ "alg": "ES256", "typ": "trustplane-device-proof+jwt", "kid": device_id });
    let mut claims = json!({
        "htm": method,
        "htu": url.split('?').next().unwrap_or(url),
        "iat": time::OffsetDateTime::now_utc().unix_timestamp(),
        "jti": URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()),
    });
    if !body.is_empty() {
        claims["bh"] = URL_SAFE_NO_PAD.encode(Sha256::digest(body)).into();
    }
    let mut out = URL_SAFE_NO_PAD.encode(header.to_string());
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
    let sig = pair
        .sign(&rng, out.as_bytes())
        .map_err(|_| "cannot sign with the device key".to_string())?;
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(sig.as_ref()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_verifies_with_the_public_key_and_names_the_request() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let p = proof(
            &key.serialize_der(),
            "dev-1",
            "POST",
            "https://tp/x?y=1",
            b"{}",
        )
        .unwrap();
        let parts: Vec<&str> = p.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["htu"], "https://tp/x");
        assert_eq!(claims["bh"], URL_SAFE_NO_PAD.encode(Sha256::digest(b"{}")));
        // ring verifies it with the public key alone (an independent check of the framing).
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            key.public_key_raw(),
        );
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        assert!(public.verify(signed.as_bytes(), &sig).is_ok());
        assert!(public.verify(b"other", &sig).is_err());
    }
}
