//! The fast token endpoint: access tokens typed `at+jwt` (RFC 9068), signed by the one JOSE
//! backend (ring) and verifiable with the published key; access-token rows written behind in
//! batches without ever letting a revocation miss one (SQLite and PostgreSQL).

use crate::harness::*;
use crate::oidc::{Rp, introspect, register, revoke, token};
use serde_json::Value;
use std::time::{Duration, Instant};
use trustplane_core::credential::secret_digest;

async fn client_token(s: &TestServer, rp: &Rp) -> String {
    let r = token(
        s,
        rp,
        &[("grant_type", "client_credentials"), ("scope", "api.read")],
    )
    .await;
    assert_eq!(r.status(), 200);
    json(r).await["access_token"].as_str().unwrap().to_string()
}

/// RFC 9068 2.1: an access token's JOSE header says `typ: at+jwt`, so that a resource server
/// cannot mistake another JWT of ours (an ID token, a forward-auth assertion) for one.
/// Failed before (the header said `typ: JWT`).
#[tokio::test]
async fn access_tokens_are_typed_at_jwt_and_verify_with_the_published_key() {
    let s = TestServer::start().await;
    let rp = register(&s, false, &["client_credentials"]).await;
    let at = client_token(&s, &rp).await;
    let h = jsonwebtoken::decode_header(&at).unwrap();
    assert_eq!(h.typ.as_deref(), Some("at+jwt"));
    assert_eq!(h.alg, jsonwebtoken::Algorithm::ES256);
    // Verifies with the key the JWKS publishes under its kid.
    let jwks = json(
        client()
            .get(s.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let k = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == h.kid.as_deref())
        .unwrap()
        .clone();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(k).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&[rp.id.as_str()]);
    v.set_issuer(&[s.base.as_str()]);
    let claims = jsonwebtoken::decode::<Value>(&at, &key, &v).unwrap().claims;
    assert_eq!(claims["client_id"], rp.id);
    assert_eq!(claims["scope"], "api.read");
    // A forged token: the same claims under another (attacker's) P-256 key and our kid.
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = h.kid.clone();
    header.typ = Some("at+jwt".into());
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref()),
    )
    .unwrap();
    assert_eq!(introspect(&s, &rp, &forged).await["active"], false);
    assert_eq!(introspect(&s, &rp, &at).await["active"], true);
    s.stop().await;
}

/// Access-token rows are written behind the response. An attacker who revokes (or gets
/// revoked) a token in the instant after it was issued must still see it revoked: a
/// revocation writes what is pending first.
async fn revocation_never_misses_a_just_issued_token(s: &TestServer) {
    let rp = register(s, false, &["client_credentials"]).await;
    for _ in 0..20 {
        let at = client_token(s, &rp).await;
        assert_eq!(revoke(s, &rp, &at).await.status(), 200);
        assert_eq!(introspect(s, &rp, &at).await["active"], false);
        let row = s
            .state
            .store
            .oidc_token(&secret_digest(&at))
            .await
            .unwrap()
            .expect("the revoked token is recorded");
        assert!(row.revoked_at.is_some());
    }
    // Many at once (more than one batch): every one is active and reaches the database.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let (base, id, secret) = (s.base.clone(), rp.id.clone(), rp.secret.clone());
        set.spawn(async move {
            let mut out = Vec::new();
            for _ in 0..15 {
                let r = client()
                    .post(format!("{base}/oauth2/token"))
                    .basic_auth(&id, secret.as_deref())
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                out.push(json(r).await["access_token"].as_str().unwrap().to_string());
            }
            out
        });
    }
    let mut all = Vec::new();
    while let Some(r) = set.join_next().await {
        all.extend(r.unwrap());
    }
    assert_eq!(all.len(), 600);
    for at in all.iter().step_by(37) {
        assert_eq!(introspect(s, &rp, at).await["active"], true);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut missing = 0;
        for at in &all {
            if s.state
                .store
                .oidc_token(&secret_digest(at))
                .await
                .unwrap()
                .is_none()
            {
                missing += 1;
            }
        }
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} tokens never reached the database"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(s.state.token_ledger.waiting(), 0);
}

#[tokio::test]
async fn revocation_never_misses_a_just_issued_token_sqlite() {
    let s = TestServer::start().await;
    revocation_never_misses_a_just_issued_token(&s).await;
    s.stop().await;
}

#[tokio::test]
async fn revocation_never_misses_a_just_issued_token_postgres() {
    let Some(admin) = crate::postgres::admin_url() else {
        return;
    };
    let url = crate::postgres::fresh_database(&admin).await;
    let s = TestServer::with(Options {
        database_url: Some(url),
        ..Options::default()
    })
    .await;
    revocation_never_misses_a_just_issued_token(&s).await;
    s.stop().await;
}

/// Tokens issued right before a clean shutdown are written before the process ends.
#[tokio::test]
async fn a_clean_shutdown_writes_pending_tokens() {
    let s = TestServer::start().await;
    let rp = register(&s, false, &["client_credentials"]).await;
    let mut issued = Vec::new();
    for _ in 0..10 {
        issued.push(client_token(&s, &rp).await);
    }
    let store = s.state.store.clone();
    let ledger = s.state.token_ledger.clone();
    // (The data directory stays until the end: the database is read after the shutdown.)
    let _data = s.stop_keeping_data().await;
    assert_eq!(ledger.waiting(), 0);
    for at in issued {
        assert!(
            store
                .oidc_token(&secret_digest(&at))
                .await
                .unwrap()
                .is_some()
        );
    }
}

/// Clients are cached for client authentication. An attacker holding a leaked secret must
/// lose it the moment an administrator rotates it (or deletes the client): the cache is
/// dropped by every change made through this server.
#[tokio::test]
async fn a_rotated_secret_or_deleted_client_is_refused_at_once() {
    use trustplane_core::audit::Actor;
    use trustplane_server::enforce::oidc::clients;
    let s = TestServer::start().await;
    let rp = register(&s, false, &["client_credentials"]).await;
    client_token(&s, &rp).await; // cached now
    let (_, fresh) = clients::rotate_secret(
        s.state.store.as_ref(),
        &Actor::system(),
        &rp.id,
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    let r = token(&s, &rp, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), 401, "the old secret still worked");
    let rotated = Rp {
        id: rp.id.clone(),
        secret: Some(fresh),
    };
    client_token(&s, &rotated).await;
    clients::delete(s.state.store.as_ref(), &Actor::system(), &rp.id)
        .await
        .unwrap();
    let r = token(&s, &rotated, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), 401, "a deleted client still got tokens");
    s.stop().await;
}
