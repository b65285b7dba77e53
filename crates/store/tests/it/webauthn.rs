//! WebAuthn credentials and ceremonies.

use crate::support::*;
use time::{Duration, OffsetDateTime};
use trustplane_core::mfa::MfaKind;
use trustplane_core::mfa::webauthn::WebauthnCredential;
use trustplane_store::prelude::*;
use trustplane_store::{SqlStore, StoreError};
use uuid::Uuid;

fn cred(user: Uuid, cred_id: &str, synced: bool, at: time::OffsetDateTime) -> WebauthnCredential {
    WebauthnCredential {
        id: Uuid::now_v7(),
        user_id: user,
        credential_id: cred_id.into(),
        label: "Key 'ü%_".into(),
        aaguid: Some(Uuid::from_u128(0x0fb9bcbc_a0d4_4042_bbb0_559bc1631e28)),
        backup_eligible: synced,
        backup_state: false,
        user_verified: true,
        attestation_format: "packed".into(),
        attested: !synced,
        sign_count: 3,
        created_at: ms(at),
        last_used_at: None,
    }
}

pub async fn credentials_lifecycle(db: &TestDb) {
    let s = &db.store;
    let u = add_user(s, "wa").await;
    let other = add_user(s, "wa-other").await;
    let t = now();
    let mut audit = AuditWatch::start(s).await;
    let a = cred(u.id, "AAAA", false, t);
    let mut b = cred(u.id, "BBBB", true, t + Duration::seconds(1));
    b.aaguid = None;
    s.add_webauthn_credential(&a, "{\"k\":1}", draft("mfa.method.add"))
        .await
        .unwrap();
    audit.one(s, "mfa.method.add", &admin()).await;
    s.add_webauthn_credential(&b, "{\"k\":2}", draft("mfa.method.add"))
        .await
        .unwrap();
    audit.one(s, "mfa.method.add", &admin()).await;
    // A credential id is registered once, to anyone: refused, not audited.
    let dup = cred(other.id, "AAAA", false, t);
    assert!(matches!(
        s.add_webauthn_credential(&dup, "{}", draft("mfa.method.add"))
            .await,
        Err(StoreError::Conflict(_))
    ));
    let ghost = cred(Uuid::now_v7(), "CCCC", false, t);
    assert!(matches!(
        s.add_webauthn_credential(&ghost, "{}", draft("mfa.method.add"))
            .await,
        Err(StoreError::NotFound("user"))
    ));
    audit.none(s, "refused adds").await;
    assert_eq!(
        s.list_webauthn_credentials(u.id).await.unwrap(),
        [a.clone(), b.clone()]
    );
    // Listed among the user's methods, device-bound as a security key, synced as a passkey.
    let methods = s.list_mfa_methods(u.id).await.unwrap();
    assert_eq!(
        methods.iter().map(|m| (m.id, m.kind)).collect::<Vec<_>>(),
        [(a.id, MfaKind::SecurityKey), (b.id, MfaKind::Passkey)]
    );
    let (got, key) = s.webauthn_by_credential_id("AAAA").await.unwrap().unwrap();
    assert_eq!((got, key.as_str()), (a.clone(), "{\"k\":1}"));
    assert_eq!(s.webauthn_by_credential_id("ZZZZ").await.unwrap(), None);
    assert_eq!(s.webauthn_by_credential_id("A\0").await.unwrap(), None);
    assert_eq!(s.webauthn_keys(u.id).await.unwrap().len(), 2);

    uses_compare_and_set_the_counter(s, &a, t).await;

    // Rename: only the owner's credential, audited.
    assert!(
        !s.rename_webauthn_credential(a.id, other.id, "x", draft("mfa.method.rename"))
            .await
            .unwrap()
    );
    audit.none(s, "rename of someone else's key").await;
    assert!(
        s.rename_webauthn_credential(a.id, u.id, "Blue key", draft("mfa.method.rename"))
            .await
            .unwrap()
    );
    audit.one(s, "mfa.method.rename", &admin()).await;
    assert_eq!(
        s.list_webauthn_credentials(u.id).await.unwrap()[0].label,
        "Blue key"
    );

    // Removal through the generic method removal, audited once.
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
    audit.none(s, "second removal").await;
    assert_eq!(
        s.list_webauthn_credentials(u.id).await.unwrap(),
        [b.clone()]
    );
    // Deleting the user deletes the rest.
    s.delete_user(u.id, draft("user.delete")).await.unwrap();
    assert_eq!(s.webauthn_by_credential_id("BBBB").await.unwrap(), None);
}

/// Uses: compare-and-set on the counter.
async fn uses_compare_and_set_the_counter(s: &SqlStore, a: &WebauthnCredential, t: OffsetDateTime) {
    let used = t + Duration::seconds(5);
    assert!(
        s.record_webauthn_use(a.id, 3, 4, true, "{\"k\":3}", used)
            .await
            .unwrap()
    );
    assert!(
        !s.record_webauthn_use(a.id, 3, 5, true, "{\"k\":4}", used)
            .await
            .unwrap(),
        "stale expected counter"
    );
    let (got, key) = s.webauthn_by_credential_id("AAAA").await.unwrap().unwrap();
    assert_eq!(got.sign_count, 4);
    assert!(got.backup_state);
    assert_eq!(got.last_used_at, Some(ms(used)));
    assert_eq!(key, "{\"k\":3}");
}

pub async fn ceremonies_are_single_use_bound_and_expire(db: &TestDb) {
    let s = &db.store;
    let u = add_user(s, "wa-cer").await;
    let t = now();
    let exp = t + Duration::minutes(5);
    s.save_webauthn_ceremony("h1", "register", "sess-1", Some(u.id), "{\"st\":1}", t, exp)
        .await
        .unwrap();
    // Wrong purpose or binding: not found, and not consumed.
    assert_eq!(
        s.take_webauthn_ceremony("h1", "passwordless", "sess-1", t)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.take_webauthn_ceremony("h1", "register", "sess-2", t)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.take_webauthn_ceremony("h1", "register", "sess-1", t)
            .await
            .unwrap(),
        Some((Some(u.id), "{\"st\":1}".to_string()))
    );
    // Single use.
    assert_eq!(
        s.take_webauthn_ceremony("h1", "register", "sess-1", t)
            .await
            .unwrap(),
        None
    );
    // Expired: refused (and swept by the next save).
    s.save_webauthn_ceremony("h2", "passwordless", "", None, "{}", t, exp)
        .await
        .unwrap();
    assert_eq!(
        s.take_webauthn_ceremony("h2", "passwordless", "", exp)
            .await
            .unwrap(),
        None
    );
    s.save_webauthn_ceremony("h3", "passwordless", "", None, "{}", t, exp)
        .await
        .unwrap();
    s.save_webauthn_ceremony(
        "h4",
        "passwordless",
        "",
        None,
        "{}",
        exp,
        exp + Duration::minutes(1),
    )
    .await
    .unwrap();
    assert_eq!(
        db.raw_i64("SELECT COUNT(*) FROM webauthn_ceremonies").await,
        1,
        "expired ceremonies swept"
    );
    // Racing consumers: exactly one wins.
    s.save_webauthn_ceremony("h5", "second_factor", "f", Some(u.id), "{}", t, exp)
        .await
        .unwrap();
    let (x, y) = tokio::join!(
        s.take_webauthn_ceremony("h5", "second_factor", "f", t),
        s.take_webauthn_ceremony("h5", "second_factor", "f", t)
    );
    assert_eq!(
        [x.unwrap().is_some(), y.unwrap().is_some()]
            .iter()
            .filter(|w| **w)
            .count(),
        1
    );
}
