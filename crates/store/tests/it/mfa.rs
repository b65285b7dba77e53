//! Registered second factors.

use crate::support::*;
use time::Duration;
use trustplane_core::mfa::email::CodePurpose;
use trustplane_core::mfa::{MfaKind, MfaMethod};
use trustplane_store::prelude::*;
use trustplane_store::{NewCode, StoreError};
use uuid::Uuid;

fn method(user: Uuid, label: &str, at: time::OffsetDateTime) -> MfaMethod {
    MfaMethod {
        id: Uuid::now_v7(),
        user_id: user,
        kind: MfaKind::Totp,
        label: label.into(),
        last_step: Some(100),
        created_at: ms(at),
        last_used_at: None,
    }
}

pub async fn mfa_methods_lifecycle(db: &TestDb) {
    let s = &db.store;
    let u = add_user(s, "mfa").await;
    let t = now();
    let mut audit = AuditWatch::start(s).await;
    let a = method(u.id, "Phone", t);
    let b = method(u.id, "Tablet 'ü%_", t + Duration::seconds(1));
    s.add_mfa_method(&a, "sealed-a", draft("mfa.method.add"))
        .await
        .unwrap();
    audit.one(s, "mfa.method.add", &admin()).await;
    s.add_mfa_method(&b, "sealed-b", draft("mfa.method.add"))
        .await
        .unwrap();
    audit.one(s, "mfa.method.add", &admin()).await;
    assert_eq!(
        s.list_mfa_methods(u.id).await.unwrap(),
        [a.clone(), b.clone()]
    );
    assert_eq!(
        s.mfa_secret(a.id).await.unwrap(),
        Some((a.clone(), "sealed-a".to_string()))
    );
    assert_eq!(s.mfa_secret(Uuid::now_v7()).await.unwrap(), None);
    // For a user that does not exist: refused, not audited.
    let ghost = method(Uuid::now_v7(), "x", t);
    assert!(matches!(
        s.add_mfa_method(&ghost, "s", draft("mfa.method.add")).await,
        Err(StoreError::NotFound("user"))
    ));
    audit.none(s, "a refused add").await;

    // A step is accepted only if it is newer than the last one.
    assert!(!s.use_totp_step(a.id, 100, t).await.unwrap());
    assert!(!s.use_totp_step(a.id, 99, t).await.unwrap());
    assert!(s.use_totp_step(a.id, 101, t).await.unwrap());
    assert!(!s.use_totp_step(a.id, 101, t).await.unwrap());
    let got = &s.list_mfa_methods(u.id).await.unwrap()[0];
    assert_eq!(got.last_step, Some(101));
    assert_eq!(got.last_used_at, Some(ms(t)));

    // Removal: audited, once; deleting the user removes the rest.
    assert!(
        s.remove_mfa_method(a.id, draft("mfa.method.remove"))
            .await
            .unwrap()
    );
    audit.one(s, "mfa.method.remove", &admin()).await;
    assert!(
        !s.remove_mfa_method(a.id, draft("mfa.method.remove"))
            .await
            .unwrap()
    );
    audit.none(s, "a second removal").await;
    s.delete_user(u.id, draft("user.delete")).await.unwrap();
    assert_eq!(s.mfa_secret(b.id).await.unwrap(), None);
}

/// Two instances racing to accept the same TOTP step: exactly one wins.
pub async fn concurrent_use_of_one_step_is_accepted_once(db: &TestDb) {
    let s = &db.store;
    let u = add_user(s, "racer").await;
    let m = method(u.id, "Phone", now());
    s.add_mfa_method(&m, "sealed", draft("mfa.method.add"))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.use_totp_step(m.id, 200, now()).await.unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        if t.await.unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
}

pub async fn recovery_codes_are_single_use(db: &TestDb) {
    let s = &db.store;
    let u = add_user(s, "codes").await;
    let t = now();
    let hashes: Vec<String> = (0..3).map(|i| format!("h{i}")).collect();
    s.replace_recovery_codes(u.id, &hashes, t, draft("mfa.recovery_codes.issue"))
        .await
        .unwrap();
    assert_eq!(s.unused_recovery_codes(u.id).await.unwrap(), 3);
    assert!(s.use_recovery_code(u.id, "h1", t).await.unwrap());
    assert!(!s.use_recovery_code(u.id, "h1", t).await.unwrap());
    assert!(!s.use_recovery_code(u.id, "nope", t).await.unwrap());
    // Another user's code is not this user's.
    let other = add_user(s, "other").await;
    assert!(!s.use_recovery_code(other.id, "h2", t).await.unwrap());
    assert_eq!(s.unused_recovery_codes(u.id).await.unwrap(), 2);
    // Replacing drops the old set, used or not.
    s.replace_recovery_codes(
        u.id,
        &["n1".to_string()],
        t,
        draft("mfa.recovery_codes.issue"),
    )
    .await
    .unwrap();
    assert!(!s.use_recovery_code(u.id, "h2", t).await.unwrap());
    assert_eq!(s.unused_recovery_codes(u.id).await.unwrap(), 1);
    s.replace_recovery_codes(u.id, &[], t, draft("mfa.recovery_codes.delete"))
        .await
        .unwrap();
    assert_eq!(s.unused_recovery_codes(u.id).await.unwrap(), 0);
}

pub async fn settings_and_registration_prompt(db: &TestDb) {
    let s = &db.store;
    assert_eq!(s.get_setting("auth_methods").await.unwrap(), None);
    let mut audit = AuditWatch::start(s).await;
    s.put_setting(
        "auth_methods",
        "{\"a\":1}",
        draft("policy.auth_methods.update"),
    )
    .await
    .unwrap();
    audit.one(s, "policy.auth_methods.update", &admin()).await;
    s.put_setting(
        "auth_methods",
        "{\"a\":2}",
        draft("policy.auth_methods.update"),
    )
    .await
    .unwrap();
    assert_eq!(
        s.get_setting("auth_methods").await.unwrap().as_deref(),
        Some("{\"a\":2}")
    );
    let u = add_user(s, "prompted").await;
    let t = now();
    assert_eq!(s.registration_prompted(u.id, t).await.unwrap(), ms(t));
    // Later prompts keep the first time.
    assert_eq!(
        s.registration_prompted(u.id, t + Duration::days(2))
            .await
            .unwrap(),
        ms(t)
    );
    assert!(matches!(
        s.registration_prompted(Uuid::now_v7(), t).await,
        Err(StoreError::NotFound("user"))
    ));
}

pub async fn temporary_access_pass_lifecycle(db: &TestDb) {
    use trustplane_core::mfa::tap::TemporaryAccessPass;
    let s = &db.store;
    let u = add_user(s, "newhire").await;
    let t = now();
    let tap = |one_time| TemporaryAccessPass {
        id: Uuid::now_v7(),
        user_id: u.id,
        one_time,
        created_at: ms(t),
        expires_at: ms(t + Duration::hours(1)),
        created_by: "user:root".into(),
        used_at: None,
    };
    assert_eq!(s.tap_of(u.id).await.unwrap(), None);
    let mut audit = AuditWatch::start(s).await;
    let once = tap(true);
    s.issue_tap(&once, "hash-1", draft("tap.issue"))
        .await
        .unwrap();
    audit.one(s, "tap.issue", &admin()).await;
    assert_eq!(s.tap_of(u.id).await.unwrap(), Some(once.clone()));
    // Wrong pass, too early, expired: refused. Right pass: once.
    assert!(!s.use_tap(u.id, "hash-x", t).await.unwrap());
    assert!(
        !s.use_tap(u.id, "hash-1", t - Duration::seconds(1))
            .await
            .unwrap()
    );
    assert!(
        !s.use_tap(u.id, "hash-1", t + Duration::hours(1))
            .await
            .unwrap()
    );
    assert!(
        s.use_tap(u.id, "hash-1", t + Duration::minutes(1))
            .await
            .unwrap()
    );
    assert!(
        !s.use_tap(u.id, "hash-1", t + Duration::minutes(2))
            .await
            .unwrap()
    );
    assert!(s.tap_of(u.id).await.unwrap().unwrap().used_at.is_some());
    // A new pass replaces the old one; a multi-use pass works until it expires.
    let multi = tap(false);
    s.issue_tap(&multi, "hash-2", draft("tap.issue"))
        .await
        .unwrap();
    assert!(
        !s.use_tap(u.id, "hash-1", t + Duration::minutes(3))
            .await
            .unwrap()
    );
    assert!(
        s.use_tap(u.id, "hash-2", t + Duration::minutes(3))
            .await
            .unwrap()
    );
    assert!(
        s.use_tap(u.id, "hash-2", t + Duration::minutes(4))
            .await
            .unwrap()
    );
    // Revoked: audited once.
    audit.one(s, "tap.issue", &admin()).await;
    assert!(s.revoke_tap(u.id, draft("tap.revoke")).await.unwrap());
    audit.one(s, "tap.revoke", &admin()).await;
    assert!(!s.revoke_tap(u.id, draft("tap.revoke")).await.unwrap());
    assert!(
        !s.use_tap(u.id, "hash-2", t + Duration::minutes(5))
            .await
            .unwrap()
    );
    // For a missing user: refused.
    let mut ghost = tap(true);
    ghost.user_id = Uuid::now_v7();
    assert!(matches!(
        s.issue_tap(&ghost, "h", draft("tap.issue")).await,
        Err(StoreError::NotFound("user"))
    ));
}

fn code(user: Uuid, bound_to: &str, hash: &str, at: time::OffsetDateTime) -> NewCode {
    NewCode {
        id: Uuid::now_v7(),
        user_id: user,
        purpose: CodePurpose::SignIn,
        bound_to: bound_to.into(),
        destination: "mia@example.com".into(),
        code_hash: hash.into(),
        created_at: ms(at),
        expires_at: ms(at + Duration::minutes(10)),
    }
}

pub async fn one_time_codes_are_single_use_bound_and_limited(db: &TestDb) {
    let s = &db.store;
    let u = add_user(s, "codes").await;
    let t = now();
    let first = code(u.id, "flow-1", "h1", t);
    s.create_code(&first).await.unwrap();
    let live = s
        .live_code("flow-1", CodePurpose::SignIn, t)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (live.id, live.code_hash.as_str(), live.attempts),
        (first.id, "h1", 0)
    );
    // Bound to its ceremony and purpose.
    assert_eq!(
        s.live_code("flow-2", CodePurpose::SignIn, t).await.unwrap(),
        None
    );
    assert_eq!(
        s.live_code("flow-1", CodePurpose::PasswordReset, t)
            .await
            .unwrap(),
        None
    );
    // A new code for the same ceremony replaces the earlier one.
    let second = code(u.id, "flow-1", "h2", t + Duration::seconds(1));
    s.create_code(&second).await.unwrap();
    let live = s
        .live_code("flow-1", CodePurpose::SignIn, t + Duration::seconds(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.id, second.id);
    assert!(!s.use_code(first.id, t).await.unwrap(), "replaced code");
    // Sending rate: both count.
    assert_eq!(
        s.codes_sent_since(u.id, t - Duration::minutes(15))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        s.codes_sent_since(u.id, t + Duration::minutes(1))
            .await
            .unwrap(),
        0
    );
    // Single use.
    assert!(s.use_code(second.id, t).await.unwrap());
    assert!(!s.use_code(second.id, t).await.unwrap());
    assert_eq!(
        s.live_code("flow-1", CodePurpose::SignIn, t).await.unwrap(),
        None
    );
    // Expired codes are not live and cannot be used.
    let old = code(u.id, "flow-3", "h3", t - Duration::minutes(11));
    s.create_code(&old).await.unwrap();
    assert_eq!(
        s.live_code("flow-3", CodePurpose::SignIn, t).await.unwrap(),
        None
    );
    assert!(!s.use_code(old.id, t).await.unwrap());
    // Wrong guesses void the code at the limit.
    let c = code(u.id, "flow-4", "h4", t);
    s.create_code(&c).await.unwrap();
    for n in 1..=4 {
        assert_eq!(s.fail_code(c.id, 5, t).await.unwrap(), n);
    }
    assert!(
        s.live_code("flow-4", CodePurpose::SignIn, t)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(s.fail_code(c.id, 5, t).await.unwrap(), 5);
    assert_eq!(
        s.live_code("flow-4", CodePurpose::SignIn, t).await.unwrap(),
        None
    );
    assert!(!s.use_code(c.id, t).await.unwrap());
    // For a user that does not exist: refused.
    assert!(matches!(
        s.create_code(&code(Uuid::now_v7(), "flow-5", "h", t)).await,
        Err(StoreError::NotFound("user"))
    ));
}

pub async fn reregistration_removes_methods_and_sessions_atomically(db: &TestDb) {
    let s = &db.store;
    let u = add_user(s, "rereg").await;
    let other = add_user(s, "bystander").await;
    let t = now();
    s.add_mfa_method(&method(u.id, "Phone", t), "x", draft("mfa.method.add"))
        .await
        .unwrap();
    s.add_mfa_method(&method(other.id, "Phone", t), "y", draft("mfa.method.add"))
        .await
        .unwrap();
    s.replace_recovery_codes(
        u.id,
        &["a".into(), "b".into()],
        t,
        draft("mfa.recovery_codes.issue"),
    )
    .await
    .unwrap();
    s.create_session(&session(u.id, t), "rereg-session")
        .await
        .unwrap();
    assert!(!s.reregistration_required(u.id).await.unwrap());
    let mut audit = AuditWatch::start(s).await;
    assert_eq!(
        s.require_reregistration(u.id, t, draft("mfa.reregistration.require"))
            .await
            .unwrap(),
        1
    );
    audit.one(s, "mfa.reregistration.require", &admin()).await;
    assert!(s.reregistration_required(u.id).await.unwrap());
    assert!(s.list_mfa_methods(u.id).await.unwrap().is_empty());
    assert_eq!(s.unused_recovery_codes(u.id).await.unwrap(), 0);
    assert!(
        s.session_by_secret("rereg-session")
            .await
            .unwrap()
            .unwrap()
            .session
            .revoked_at
            .is_some()
    );
    // Nobody else is touched.
    assert_eq!(s.list_mfa_methods(other.id).await.unwrap().len(), 1);
    assert!(!s.reregistration_required(other.id).await.unwrap());
    // Registering a method clears the flag.
    s.add_mfa_method(&method(u.id, "New phone", t), "z", draft("mfa.method.add"))
        .await
        .unwrap();
    assert!(!s.reregistration_required(u.id).await.unwrap());
    // Unknown user: refused and not audited.
    assert!(matches!(
        s.require_reregistration(Uuid::now_v7(), t, draft("mfa.reregistration.require"))
            .await,
        Err(StoreError::NotFound("user"))
    ));
}
