//! Sign-in limits: failure counters and flow attempts are counted atomically (also under
//! concurrency, from several connections), known browsers are remembered per user.

use crate::support::*;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use trustplane_store::Store;
use trustplane_store::prelude::*;

pub async fn failure_counter_counts_in_a_window(db: &TestDb) {
    let s = db.store.limits();
    let t = OffsetDateTime::now_utc();
    let w = Duration::minutes(15);
    assert_eq!(s.failures("mfa:a", t, w).await.unwrap(), 0);
    for i in 1..=3 {
        assert_eq!(s.add_failure("mfa:a", t, w).await.unwrap(), i);
    }
    assert_eq!(s.failures("mfa:a", t, w).await.unwrap(), 3);
    s.release_failure("mfa:a").await.unwrap();
    assert_eq!(s.failures("mfa:a", t, w).await.unwrap(), 2);
    assert_eq!(s.add_failure("mfa:a", t, w).await.unwrap(), 3);
    s.release_failure("nobody").await.unwrap();
    assert_eq!(s.failures("mfa:b", t, w).await.unwrap(), 0);
    // After the window: a new one starts at 1.
    let later = t + w + Duration::seconds(1);
    assert_eq!(s.failures("mfa:a", later, w).await.unwrap(), 0);
    assert_eq!(s.add_failure("mfa:a", later, w).await.unwrap(), 1);
    s.clear_failures("mfa:a").await.unwrap();
    assert_eq!(s.failures("mfa:a", later, w).await.unwrap(), 0);
}

pub async fn concurrent_failures_are_all_counted(db: &TestDb) {
    let store = Arc::new(db.store.clone());
    let t = OffsetDateTime::now_utc();
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.limits()
                .add_failure("mfa:race", t, Duration::minutes(15))
                .await
                .unwrap()
        }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=40).collect::<Vec<u32>>(),
        "each failure its own count"
    );
}

pub async fn flow_attempts_are_claimed_atomically(db: &TestDb) {
    let store = Arc::new(db.store.clone());
    let now = OffsetDateTime::now_utc();
    store
        .save_login_flow("flow-1", None, "{}", now, now + Duration::minutes(15))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.limits()
                .claim_flow_attempt("flow-1", 10, now)
                .await
                .unwrap()
        }));
    }
    let mut granted = 0;
    for task in tasks {
        granted += usize::from(task.await.unwrap());
    }
    assert_eq!(granted, 10, "50 concurrent claims, a limit of 10");
    // Saving the flow again (the next step) does not give attempts back.
    store
        .save_login_flow(
            "flow-1",
            None,
            "{\"x\":1}",
            now,
            now + Duration::minutes(15),
        )
        .await
        .unwrap();
    assert!(
        !store
            .limits()
            .claim_flow_attempt("flow-1", 10, now)
            .await
            .unwrap()
    );
    // Unknown and expired flows grant nothing.
    assert!(
        !store
            .limits()
            .claim_flow_attempt("nope", 10, now)
            .await
            .unwrap()
    );
    store
        .save_login_flow("flow-2", None, "{}", now, now + Duration::minutes(1))
        .await
        .unwrap();
    let late = now + Duration::minutes(2);
    assert!(
        !store
            .limits()
            .claim_flow_attempt("flow-2", 10, late)
            .await
            .unwrap()
    );
}

pub async fn known_devices_are_per_user(db: &TestDb) {
    let a = add_user(&db.store, "dev-a").await;
    add_user(&db.store, "dev-b").await;
    let s = db.store.limits();
    let now = OffsetDateTime::now_utc();
    assert!(!s.is_known_device("h1", "dev-a").await.unwrap());
    s.remember_device("h1", a.id, now).await.unwrap();
    s.remember_device("h1", a.id, now).await.unwrap();
    assert!(s.is_known_device("h1", "dev-a").await.unwrap());
    assert!(!s.is_known_device("h1", "dev-b").await.unwrap());
    assert!(!s.is_known_device("h2", "dev-a").await.unwrap());
    assert!(
        s.remember_device("h1", uuid::Uuid::now_v7(), now)
            .await
            .is_err(),
        "an unknown user"
    );
}
