//! Login flows in progress, risk detections, and the banned-terms revision counter.

use crate::support::*;
use time::Duration;
use trustplane_core::risk::{DetectionKind, DetectionState, RiskDetection, RiskLevel};
use trustplane_store::StoreError;
use trustplane_store::prelude::*;
use uuid::Uuid;

pub async fn login_flow_lifecycle(db: &TestDb) {
    let s = &db.store;
    let u = add_user(s, "flow").await;
    let t = now();
    s.save_login_flow("h1", Some(u.id), "{\"a\":1}", t, t + Duration::minutes(15))
        .await
        .unwrap();
    assert_eq!(
        s.load_login_flow("h1", t).await.unwrap().as_deref(),
        Some("{\"a\":1}")
    );
    // Replaced in place (same id).
    s.save_login_flow("h1", Some(u.id), "{\"a\":2}", t, t + Duration::minutes(15))
        .await
        .unwrap();
    assert_eq!(
        s.load_login_flow("h1", t).await.unwrap().as_deref(),
        Some("{\"a\":2}")
    );
    // Expired flows are not returned, and are swept by the next save.
    assert_eq!(
        s.load_login_flow("h1", t + Duration::minutes(16))
            .await
            .unwrap(),
        None
    );
    s.save_login_flow(
        "h2",
        None,
        "{}",
        t + Duration::minutes(20),
        t + Duration::minutes(35),
    )
    .await
    .unwrap();
    assert_eq!(db.raw_i64("SELECT COUNT(*) FROM login_flows").await, 1);
    // Deleting reports whether it existed: only one request can finish a flow.
    assert!(s.delete_login_flow("h2").await.unwrap());
    assert!(!s.delete_login_flow("h2").await.unwrap());
    assert_eq!(s.load_login_flow("unknown", t).await.unwrap(), None);
    // Deleting the user deletes their flows.
    s.save_login_flow("h3", Some(u.id), "{}", t, t + Duration::minutes(15))
        .await
        .unwrap();
    s.delete_user(u.id, draft("user.delete")).await.unwrap();
    assert_eq!(s.load_login_flow("h3", t).await.unwrap(), None);
}

fn detection(user: Uuid, at: time::OffsetDateTime) -> RiskDetection {
    RiskDetection::new(
        Uuid::now_v7(),
        user,
        DetectionKind::LeakedCredentials,
        "sign_in",
        Some("corr-1".into()),
        ms(at),
    )
}

pub async fn risk_detections_round_trip_and_close(db: &TestDb) {
    let s = &db.store;
    let a = add_user(s, "risky").await;
    let b = add_user(s, "other").await;
    let t = now();
    let d1 = detection(a.id, t);
    let d2 = detection(b.id, t + Duration::seconds(1));
    s.record_risk_detection(&d1).await.unwrap();
    s.record_risk_detection(&d2).await.unwrap();
    assert_eq!(d1.level, RiskLevel::High);
    // Newest first; filters by user and state.
    assert_eq!(
        s.list_risk_detections(None, None, 10).await.unwrap(),
        [d2.clone(), d1.clone()]
    );
    assert_eq!(
        s.list_risk_detections(Some(a.id), Some(DetectionState::AtRisk), 10)
            .await
            .unwrap(),
        [d1.clone()]
    );
    assert_eq!(s.get_risk_detection(d1.id).await.unwrap(), Some(d1.clone()));
    // A detection for a user that does not exist is refused.
    let ghost = detection(Uuid::now_v7(), t);
    assert!(matches!(
        s.record_risk_detection(&ghost).await,
        Err(StoreError::NotFound("user"))
    ));

    // Closing: audited, once.
    let mut audit = AuditWatch::start(s).await;
    let later = t + Duration::minutes(5);
    assert!(
        s.close_risk_detection(
            d1.id,
            DetectionState::Dismissed,
            later,
            draft("risk.detection.dismiss")
        )
        .await
        .unwrap()
    );
    audit.one(s, "risk.detection.dismiss", &admin()).await;
    assert!(
        !s.close_risk_detection(
            d1.id,
            DetectionState::Dismissed,
            later,
            draft("risk.detection.dismiss")
        )
        .await
        .unwrap()
    );
    audit.none(s, "a second dismissal").await;
    let closed = s.get_risk_detection(d1.id).await.unwrap().unwrap();
    assert_eq!(closed.state, DetectionState::Dismissed);
    assert_eq!(closed.updated_at, ms(later));
    assert!(
        s.list_risk_detections(Some(a.id), Some(DetectionState::AtRisk), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn password_change_remediates_leaked_credentials(db: &TestDb) {
    let s = &db.store;
    let u = add_user(s, "leaky").await;
    let d = detection(u.id, now());
    s.record_risk_detection(&d).await.unwrap();
    // The silent re-hash after a sign-in (no audit) is not a change.
    s.set_password_hash(u.id, "rehash", false, None, None)
        .await
        .unwrap();
    assert_eq!(
        s.get_risk_detection(d.id).await.unwrap().unwrap().state,
        DetectionState::AtRisk
    );
    s.set_password_hash(
        u.id,
        "new",
        false,
        Some(now()),
        Some(draft("user.password.change")),
    )
    .await
    .unwrap();
    assert_eq!(
        s.get_risk_detection(d.id).await.unwrap().unwrap().state,
        DetectionState::Remediated
    );
}

pub async fn banned_terms_revision_moves_on_every_change(db: &TestDb) {
    let s = &db.store;
    let r0 = s.banned_terms_revision().await.unwrap();
    s.add_banned_terms(
        &[("contoso".into(), "Contoso".into())],
        "root",
        draft("banned_term.add"),
    )
    .await
    .unwrap();
    let r1 = s.banned_terms_revision().await.unwrap();
    assert_ne!(r0, r1);
    // Adding nothing new changes nothing.
    s.add_banned_terms(
        &[("contoso".into(), "Contoso".into())],
        "root",
        draft("banned_term.add"),
    )
    .await
    .unwrap();
    assert_eq!(s.banned_terms_revision().await.unwrap(), r1);
    assert!(
        s.remove_banned_term("contoso", draft("banned_term.remove"))
            .await
            .unwrap()
    );
    let r2 = s.banned_terms_revision().await.unwrap();
    assert_ne!(r1, r2);
    assert_ne!(r0, r2);
}
