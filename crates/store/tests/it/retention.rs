//! Retention: expired rows are deleted in batches of a given size, live rows and the audit
//! log never.

use crate::support::*;
use time::{Duration, OffsetDateTime};
use trustplane_core::identity::User;
use trustplane_core::signin::{SignInEvent, SignInResult};
use trustplane_store::prelude::*;
use trustplane_store::{Application, Expired, OidcClient, OidcToken, SqlStore};
use uuid::Uuid;

fn sign_in(at: time::OffsetDateTime) -> SignInEvent {
    SignInEvent {
        id: Uuid::now_v7(),
        at,
        user_id: None,
        username: "someone".into(),
        result: SignInResult::Failure,
        failure_reason: Some("unknown_user".into()),
        ip: Some("192.0.2.9".into()),
        user_agent: None,
        correlation_id: Uuid::now_v7().to_string(),
        methods: vec![],
        details: serde_json::json!({ "flow": "password" }),
    }
}

async fn oidc_client(s: &trustplane_store::SqlStore) {
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
    s.create_oidc_client(
        &OidcClient {
            id: "crm-web".into(),
            name: "CRM".into(),
            app_id: "crm".into(),
            secret_hash: Some("ab".repeat(32)),
            redirect_uris: vec!["https://crm.example.com/cb".into()],
            post_logout_redirect_uris: vec![],
            scopes: vec!["openid".into()],
            grant_types: vec!["client_credentials".into()],
            token_endpoint_auth_method: "client_secret_basic".into(),
            id_token_alg: "ES256".into(),
            groups_claim: false,
            created_at: now(),
            updated_at: now(),
        },
        draft("oidc_client.create"),
    )
    .await
    .unwrap();
}

fn token(hash: &str, expires_at: time::OffsetDateTime) -> OidcToken {
    OidcToken {
        hash: hash.into(),
        id: Uuid::now_v7(),
        kind: "access".into(),
        grant_id: Uuid::now_v7(),
        client_id: "crm-web".into(),
        user_id: None,
        session_id: None,
        scope: "openid".into(),
        data: "null".into(),
        created_at: expires_at - Duration::hours(1),
        expires_at,
        used_at: None,
        revoked_at: None,
    }
}

pub async fn expired_rows_go_in_batches_and_live_rows_stay(db: &TestDb) {
    let s = &db.store;
    let t = now();
    let u = add_user(s, "ret").await;
    oidc_client(s).await;
    let mut watch = AuditWatch::start(s).await;

    sessions_go_when_expired_or_revoked(s, &u, t).await;

    // Tokens: 5 expired, 1 live; batches of 2.
    for i in 0..5 {
        s.create_oidc_token(&token(&format!("old{i}"), t - Duration::minutes(i + 1)))
            .await
            .unwrap();
    }
    s.create_oidc_token(&token("live", t + Duration::minutes(5)))
        .await
        .unwrap();
    let mut batches = Vec::new();
    loop {
        let n = s.purge_expired(Expired::OidcTokens, t, 2).await.unwrap();
        batches.push(n);
        if n < 2 {
            break;
        }
    }
    assert_eq!(batches, [2, 2, 1]);
    assert!(s.oidc_token("live").await.unwrap().is_some());
    assert!(s.oidc_token("old0").await.unwrap().is_none());

    // Sign-in flows: the cutoff is exclusive.
    s.save_login_flow(
        "f-old",
        None,
        "{}",
        t - Duration::hours(1),
        t - Duration::seconds(1),
    )
    .await
    .unwrap();
    s.save_login_flow("f-edge", None, "{}", t - Duration::hours(1), t)
        .await
        .unwrap();
    assert_eq!(
        s.purge_expired(Expired::LoginFlows, t, 100).await.unwrap(),
        1
    );
    assert_eq!(
        s.load_login_flow("f-edge", t - Duration::seconds(1))
            .await
            .unwrap()
            .as_deref(),
        Some("{}")
    );

    sign_ins_go_by_when_they_were_written(s, t).await;

    // Every other kind runs on this schema (nothing to delete) and nothing was audited.
    for k in Expired::EXPIRING {
        s.purge_expired(k, t, 10).await.unwrap();
    }
    watch.none(s, "retention").await;
}

/// Sessions: one live, one past its idle expiry, one past its absolute expiry, one revoked
/// (and otherwise live).
async fn sessions_go_when_expired_or_revoked(s: &SqlStore, u: &User, t: OffsetDateTime) {
    let live = session(u.id, t);
    let mut idle = session(u.id, t - Duration::hours(10));
    idle.absolute_expires_at = t + Duration::hours(10);
    let absolute = session(u.id, t - Duration::days(3));
    let revoked = session(u.id, t);
    for (x, h) in [
        (&live, "a"),
        (&idle, "b"),
        (&absolute, "c"),
        (&revoked, "d"),
    ] {
        s.create_session(x, h).await.unwrap();
    }
    s.revoke_session(revoked.id, t - Duration::minutes(1), None)
        .await
        .unwrap();
    assert_eq!(s.purge_expired(Expired::Sessions, t, 100).await.unwrap(), 3);
    assert!(s.get_session(live.id).await.unwrap().is_some());
    for gone in [&idle, &absolute, &revoked] {
        assert!(s.get_session(gone.id).await.unwrap().is_none());
    }
}

/// The sign-in log: rows written before the cutoff.
async fn sign_ins_go_by_when_they_were_written(s: &SqlStore, t: OffsetDateTime) {
    let old = sign_in(t - Duration::days(91));
    let recent = sign_in(t - Duration::days(89));
    s.record_sign_in(&old).await.unwrap();
    s.record_sign_in(&recent).await.unwrap();
    let cutoff = t - Duration::days(90);
    assert_eq!(
        s.purge_expired(Expired::SignIns, cutoff, 100)
            .await
            .unwrap(),
        1
    );
    let left = s
        .list_sign_ins(&trustplane_store::SignInQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        left.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![recent.id]
    );
}
