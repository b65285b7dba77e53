//! OpenID Connect provider persistence: clients (audited), pending requests, single-use
//! codes, refresh rotation and family revocation, device codes.

use crate::support::*;
use time::Duration;
use trustplane_store::prelude::*;
use trustplane_store::{
    Application, CodeTake, DeviceCode, DeviceDecision, OidcClient, OidcCode, OidcRequest,
    OidcToken, StoreError,
};
use uuid::Uuid;

async fn crm(s: &trustplane_store::SqlStore) {
    s.create_application(
        &Application {
            id: "crm".into(),
            name: "CRM".into(),
            allowed_hosts: vec![],
            sensitivity_label: None,
            created_at: now(),
        },
        draft("application.create"),
    )
    .await
    .unwrap();
}

fn client(id: &str) -> OidcClient {
    OidcClient {
        id: id.into(),
        name: "CRM 'quoted' \"name\"".into(),
        app_id: "crm".into(),
        secret_hash: Some("ab".repeat(32)),
        redirect_uris: vec!["https://crm.example.com/cb".into()],
        post_logout_redirect_uris: vec![],
        scopes: vec!["openid".into(), "profile".into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        token_endpoint_auth_method: "client_secret_basic".into(),
        id_token_alg: "ES256".into(),
        groups_claim: true,
        created_at: now(),
        updated_at: now(),
    }
}

fn tok(hash: &str, kind: &str, grant: Uuid, user: Uuid, at: time::OffsetDateTime) -> OidcToken {
    OidcToken {
        hash: hash.into(),
        id: Uuid::now_v7(),
        kind: kind.into(),
        grant_id: grant,
        client_id: "crm-web".into(),
        user_id: Some(user),
        session_id: None,
        scope: "openid".into(),
        data: "null".into(),
        created_at: at,
        expires_at: at + Duration::hours(1),
        used_at: None,
        revoked_at: None,
    }
}

pub async fn clients_round_trip_with_audit(db: &TestDb) {
    let s = &db.store;
    crm(s).await;
    let mut watch = AuditWatch::start(s).await;
    let c = client("crm-web");
    s.create_oidc_client(&c, draft("oidc_client.create"))
        .await
        .unwrap();
    watch.one(s, "oidc_client.create", &admin()).await;
    assert_eq!(s.get_oidc_client("crm-web").await.unwrap(), Some(c.clone()));
    let e = s
        .create_oidc_client(&c, draft("oidc_client.create"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    let mut orphan = client("orphan");
    orphan.app_id = "nope".into();
    let e = s
        .create_oidc_client(&orphan, draft("oidc_client.create"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound("application")), "{e:?}");
    watch.none(s, "refused creations").await;

    let mut public = c.clone();
    public.secret_hash = None;
    public.token_endpoint_auth_method = "none".into();
    public.groups_claim = false;
    public.updated_at = now();
    s.update_oidc_client(&public, draft("oidc_client.update"))
        .await
        .unwrap();
    watch.one(s, "oidc_client.update", &admin()).await;
    assert_eq!(s.get_oidc_client("crm-web").await.unwrap(), Some(public));
    assert_eq!(s.list_oidc_clients().await.unwrap().len(), 1);
    let e = s
        .update_oidc_client(&client("missing"), draft("oidc_client.update"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");

    let u = add_user(s, "alice").await;
    s.create_oidc_token(&tok("h1", "access", Uuid::now_v7(), u.id, now()))
        .await
        .unwrap();
    assert!(
        s.delete_oidc_client("crm-web", draft("oidc_client.delete"))
            .await
            .unwrap()
    );
    assert_eq!(s.get_oidc_client("crm-web").await.unwrap(), None);
    assert_eq!(s.oidc_token("h1").await.unwrap(), None);
    assert!(
        !s.delete_oidc_client("crm-web", draft("oidc_client.delete"))
            .await
            .unwrap()
    );
}

pub async fn codes_are_single_use_and_tokens_revoke_by_family(db: &TestDb) {
    let s = &db.store;
    crm(s).await;
    s.create_oidc_client(&client("crm-web"), draft("oidc_client.create"))
        .await
        .unwrap();
    let u = add_user(s, "alice").await;
    let t = now();

    // Pending requests expire.
    let r = OidcRequest {
        id: "req-1".into(),
        client_id: "crm-web".into(),
        data: "{}".into(),
        created_at: t,
        expires_at: t + Duration::minutes(15),
    };
    s.save_oidc_request(&r).await.unwrap();
    assert_eq!(s.load_oidc_request("req-1", t).await.unwrap(), Some(r));
    assert_eq!(
        s.load_oidc_request("req-1", t + Duration::minutes(16))
            .await
            .unwrap(),
        None
    );
    assert!(s.delete_oidc_request("req-1", t).await.unwrap());
    assert_eq!(s.load_oidc_request("req-1", t).await.unwrap(), None);

    // A code is taken once; concurrent takes have one winner.
    let grant = Uuid::now_v7();
    let code = OidcCode {
        hash: "code-hash".into(),
        grant_id: grant,
        client_id: "crm-web".into(),
        user_id: u.id,
        session_id: None,
        data: "{}".into(),
        created_at: t,
        expires_at: t + Duration::seconds(60),
        used_at: None,
    };
    s.create_oidc_code(&code).await.unwrap();
    let (a, b) = tokio::join!(
        s.take_oidc_code("code-hash", t),
        s.take_oidc_code("code-hash", t)
    );
    let fresh = [&a, &b]
        .iter()
        .filter(|x| matches!(x, Ok(CodeTake::Fresh(_))))
        .count();
    let reused = [&a, &b]
        .iter()
        .filter(|x| matches!(x, Ok(CodeTake::Reused(_))))
        .count();
    assert_eq!((fresh, reused), (1, 1), "{a:?} {b:?}");
    assert_eq!(
        s.take_oidc_code("other", t).await.unwrap(),
        CodeTake::Unknown
    );

    // Refresh tokens are spent once; the family is revoked together.
    s.create_oidc_token(&tok("r1", "refresh", grant, u.id, t))
        .await
        .unwrap();
    s.create_oidc_token(&tok("a1", "access", grant, u.id, t))
        .await
        .unwrap();
    s.create_oidc_token(&tok("other", "access", Uuid::now_v7(), u.id, t))
        .await
        .unwrap();
    assert!(!s.use_refresh_token("a1", t).await.unwrap());
    let (x, y) = tokio::join!(s.use_refresh_token("r1", t), s.use_refresh_token("r1", t));
    assert_eq!([x.unwrap(), y.unwrap()].iter().filter(|v| **v).count(), 1);
    assert!(s.oidc_token("r1").await.unwrap().unwrap().used_at.is_some());
    assert_eq!(s.revoke_oidc_grant(grant, t).await.unwrap(), 2);
    assert!(!s.oidc_token("a1").await.unwrap().unwrap().is_live(t));
    assert!(s.oidc_token("other").await.unwrap().unwrap().is_live(t));
    assert!(s.revoke_oidc_token("other", t).await.unwrap());
    assert!(!s.revoke_oidc_token("other", t).await.unwrap());
    assert!(!s.oidc_token("other").await.unwrap().unwrap().is_live(t));
    s.create_oidc_token(&tok("r2", "refresh", Uuid::now_v7(), u.id, t))
        .await
        .unwrap();
    assert!(
        !s.use_refresh_token("r2", t + Duration::hours(2))
            .await
            .unwrap(),
        "expired"
    );
}

pub async fn device_codes_are_decided_once(db: &TestDb) {
    let s = &db.store;
    crm(s).await;
    s.create_oidc_client(&client("crm-web"), draft("oidc_client.create"))
        .await
        .unwrap();
    let u = add_user(s, "alice").await;
    let t = now();
    let d = DeviceCode {
        hash: "dev-hash".into(),
        grant_id: Uuid::now_v7(),
        user_code: "BCDFGHJK".into(),
        client_id: "crm-web".into(),
        scope: "openid".into(),
        status: "pending".into(),
        user_id: None,
        session_id: None,
        data: "null".into(),
        created_at: t,
        expires_at: t + Duration::minutes(10),
        last_poll_at: None,
    };
    s.create_device_code(&d).await.unwrap();
    let mut dup = d.clone();
    dup.hash = "other".into();
    assert!(matches!(
        s.create_device_code(&dup).await.unwrap_err(),
        StoreError::Conflict(_)
    ));
    assert_eq!(
        s.device_by_user_code("BCDFGHJK").await.unwrap(),
        Some(d.clone())
    );
    assert_eq!(s.poll_device_code("dev-hash", t).await.unwrap(), None);
    assert_eq!(
        s.poll_device_code("dev-hash", t + Duration::seconds(5))
            .await
            .unwrap(),
        Some(t)
    );
    assert!(
        !s.use_device_code("dev-hash").await.unwrap(),
        "still pending"
    );
    // Too late to decide.
    let sid = Uuid::now_v7();
    let approve = DeviceDecision::Approve {
        user_id: u.id,
        session_id: sid,
        data: "{\"acr\":\"mfa\"}".into(),
    };
    assert!(
        !s.decide_device_code("dev-hash", approve.clone(), t + Duration::minutes(11))
            .await
            .unwrap()
    );
    assert!(
        s.decide_device_code("dev-hash", approve.clone(), t)
            .await
            .unwrap()
    );
    assert!(
        !s.decide_device_code("dev-hash", DeviceDecision::Deny, t)
            .await
            .unwrap()
    );
    let got = s.device_code("dev-hash").await.unwrap().unwrap();
    assert_eq!(got.status, "approved");
    assert_eq!(got.user_id, Some(u.id));
    assert_eq!(got.session_id, Some(sid));
    assert_eq!(got.data, "{\"acr\":\"mfa\"}");
    assert!(s.use_device_code("dev-hash").await.unwrap());
    assert!(!s.use_device_code("dev-hash").await.unwrap());
}

/// The access-token write-behind: many tokens in one call (more than one multi-row chunk);
/// a token already stored is kept as it is; a token whose client or user is gone is skipped
/// without losing the others.
pub async fn tokens_are_written_in_batches(db: &TestDb) {
    let s = &db.store;
    crm(s).await;
    s.create_oidc_client(&client("crm-web"), draft("oidc_client.create"))
        .await
        .unwrap();
    let u = add_user(s, "alice").await;
    let t = now();
    s.create_oidc_tokens(&[]).await.unwrap();
    let mut revoked = tok("h-0", "access", Uuid::now_v7(), u.id, t);
    revoked.revoked_at = Some(t);
    s.create_oidc_token(&revoked).await.unwrap();
    let batch: Vec<OidcToken> = (0..450)
        .map(|i| tok(&format!("h-{i}"), "access", Uuid::now_v7(), u.id, t))
        .collect();
    s.create_oidc_tokens(&batch).await.unwrap();
    for b in &batch[1..] {
        assert_eq!(s.oidc_token(&b.hash).await.unwrap().as_ref(), Some(b));
    }
    assert_eq!(
        s.oidc_token("h-0").await.unwrap(),
        Some(revoked),
        "an existing row is not overwritten"
    );
    // One orphan (its client was deleted) among good tokens.
    let mut orphan = tok("orphan", "access", Uuid::now_v7(), u.id, t);
    orphan.client_id = "gone".into();
    let good = tok("good", "access", Uuid::now_v7(), u.id, t);
    s.create_oidc_tokens(&[orphan, good.clone()]).await.unwrap();
    assert_eq!(s.oidc_token("orphan").await.unwrap(), None);
    assert_eq!(s.oidc_token("good").await.unwrap(), Some(good));
}

/// Transactions that read before they write (creating a client checks its application
/// first) must not fail when other connections commit writes meanwhile. On SQLite a deferred
/// transaction failed at once with "database is locked" in that case (the busy timeout does
/// not cover the upgrade from reader to writer); write transactions now take the lock first.
pub async fn writes_that_read_first_survive_concurrent_writers(db: &TestDb) {
    crm(&db.store).await;
    let store = std::sync::Arc::new(db.store.clone());
    let mut tasks = Vec::new();
    for i in 0..24 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                s.create_oidc_client(&client(&format!("c{i}")), draft("oidc_client.create"))
                    .await
            } else {
                s.append_audit(draft("noise")).await.map(|_| ())
            }
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(store.list_oidc_clients().await.unwrap().len(), 12);
}
