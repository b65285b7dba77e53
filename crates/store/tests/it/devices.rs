//! Registered devices, and the change feed that tells continuous access about them.

use crate::support::*;
use std::sync::{Arc, Mutex};
use time::Duration;
use trustplane_core::access::{DevicePlatform, TrustType};
use trustplane_core::device::{ComplianceState, Device, DeviceState, MachineRisk};
use trustplane_core::identity::User;
use trustplane_store::prelude::*;
use trustplane_store::{Change, ChangeListener, DeviceQuery, SqlStore, StoreError};
use uuid::Uuid;

fn device(owner: Uuid, name: &str, fingerprint: &str) -> Device {
    let t = ms(now());
    Device {
        id: Uuid::now_v7(),
        owner_id: owner,
        display_name: name.into(),
        platform: DevicePlatform::Linux,
        os_version: Some("12.4".into()),
        hostname: Some(format!("{name}.corp")),
        manufacturer: Some("Framework".into()),
        model: None,
        trust_type: TrustType::Registered,
        state: DeviceState::Enabled,
        cert_serial: "0a1b".into(),
        cert_fingerprint: fingerprint.into(),
        cert_not_after: t + Duration::days(90),
        certificate_pem: format!(
            "-----BEGIN CERTIFICATE-----\n{name}\n-----END CERTIFICATE-----\n"
        ),
        first_seen: t,
        last_seen: t,
        last_report_at: None,
        compliance: ComplianceState::Compliant,
        machine_risk: MachineRisk::None,
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Change>>);

impl ChangeListener for Recorder {
    fn changed(&self, c: &Change) {
        self.0.lock().unwrap().push(c.clone());
    }
    fn feed_live(&self, _live: bool) {}
}

/// A certificate fingerprint (64 lowercase hex digits): byte `n`, repeated.
fn fp(n: u8) -> String {
    format!("{:02x}", n).repeat(32)
}

/// The devices a query finds.
async fn listed(s: &SqlStore, q: DeviceQuery) -> Vec<Device> {
    s.list_devices(&q).await.unwrap()
}

/// A query for every device (up to 100).
fn all() -> DeviceQuery {
    DeviceQuery {
        limit: 100,
        ..Default::default()
    }
}

pub async fn devices_round_trip_with_audit_and_paging(db: &TestDb) {
    let s = &db.store;
    let ada = add_user(s, "ada").await;
    let bob = add_user(s, "bob").await;
    let laptop = registrations_are_audited_and_unique(s, &ada, &bob).await;
    devices_list_in_pages_and_filter(s, &laptop, &bob).await;
    disable_touch_and_delete(s, &laptop, &bob).await;
}

/// Registers ada's laptop (audited, found by id and fingerprint); the same certificate again
/// and an unknown owner are refused without an audit entry.
async fn registrations_are_audited_and_unique(s: &SqlStore, ada: &User, bob: &User) -> Device {
    let mut watch = AuditWatch::start(s).await;
    let laptop = device(ada.id, "laptop", &fp(1));
    s.create_device(&laptop, draft("device.register"))
        .await
        .unwrap();
    watch.one(s, "device.register", &admin()).await;
    assert_eq!(s.get_device(laptop.id).await.unwrap(), Some(laptop.clone()));
    assert_eq!(
        s.device_by_fingerprint(&fp(1)).await.unwrap(),
        Some(laptop.clone())
    );
    assert_eq!(s.device_by_fingerprint(&fp(9)).await.unwrap(), None);
    assert_eq!(s.device_by_fingerprint("ab\0cd").await.unwrap(), None);
    // The same certificate twice is refused, and nothing is written.
    let e = s
        .create_device(&device(bob.id, "copy", &fp(1)), draft("device.register"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    let e = s
        .create_device(
            &device(Uuid::now_v7(), "orphan", &fp(2)),
            draft("device.register"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound("user")), "{e:?}");
    watch.none(s, "refused registrations").await;
    laptop
}

/// With five desks of bob's: two pages list every device once; owner and search filters.
async fn devices_list_in_pages_and_filter(s: &SqlStore, laptop: &Device, bob: &User) {
    let mut ids = vec![laptop.id];
    for i in 3..8u8 {
        let d = device(bob.id, &format!("desk{i}"), &fp(i));
        s.create_device(&d, draft("device.register")).await.unwrap();
        ids.push(d.id);
    }
    let page1 = listed(
        s,
        DeviceQuery {
            limit: 4,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(page1.len(), 4);
    let page2 = listed(
        s,
        DeviceQuery {
            limit: 4,
            before: page1.last().map(|d| d.id),
            ..Default::default()
        },
    )
    .await;
    let mut seen: Vec<Uuid> = page1.iter().chain(&page2).map(|d| d.id).collect();
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids, "two pages list every device once");
    let bobs = listed(
        s,
        DeviceQuery {
            owner_id: Some(bob.id),
            ..all()
        },
    )
    .await;
    assert_eq!(bobs.len(), 5);
    let found = listed(
        s,
        DeviceQuery {
            search: Some("LAPTOP".into()),
            ..all()
        },
    )
    .await;
    assert_eq!(found.iter().map(|d| d.id).collect::<Vec<_>>(), [laptop.id]);
    let wild = listed(
        s,
        DeviceQuery {
            search: Some("%".into()),
            ..all()
        },
    )
    .await;
    assert!(wild.is_empty(), "LIKE metacharacters are literal");
}

/// Disabling (audited once), last seen (never backwards), deleting (also with the owner).
async fn disable_touch_and_delete(s: &SqlStore, laptop: &Device, bob: &User) {
    // Disable: audited once; disabling again changes nothing.
    let mut watch = AuditWatch::start(s).await;
    assert!(
        s.set_device_state(laptop.id, DeviceState::Disabled, draft("device.disable"))
            .await
            .unwrap()
    );
    watch.one(s, "device.disable", &admin()).await;
    assert!(
        !s.set_device_state(laptop.id, DeviceState::Disabled, draft("device.disable"))
            .await
            .unwrap()
    );
    watch.none(s, "no-op disable").await;
    let disabled = listed(
        s,
        DeviceQuery {
            state: Some(DeviceState::Disabled),
            ..all()
        },
    )
    .await;
    assert_eq!(disabled.len(), 1);

    // last_seen never moves backwards.
    let later = ms(now()) + Duration::hours(1);
    s.touch_device(laptop.id, later).await.unwrap();
    s.touch_device(laptop.id, later - Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(
        s.get_device(laptop.id).await.unwrap().unwrap().last_seen,
        later
    );
    let stale = listed(
        s,
        DeviceQuery {
            last_seen_before: Some(later),
            ..all()
        },
    )
    .await;
    assert_eq!(stale.len(), 5, "every device but the one seen later");

    // Delete; deleting a user removes their devices.
    assert!(
        s.delete_device(laptop.id, draft("device.delete"))
            .await
            .unwrap()
    );
    watch.one(s, "device.delete", &admin()).await;
    assert!(
        !s.delete_device(laptop.id, draft("device.delete"))
            .await
            .unwrap()
    );
    assert_eq!(s.device_by_fingerprint(&fp(1)).await.unwrap(), None);
    s.delete_user(bob.id, draft("user.delete")).await.unwrap();
    assert!(listed(s, all()).await.is_empty());
}

pub async fn compliance_changes_reach_the_change_feed_after_commit(db: &TestDb) {
    let s = &db.store;
    let rec = Arc::new(Recorder::default());
    s.subscribe_changes(rec.clone());
    let ada = add_user(s, "ada").await;
    let d = device(ada.id, "laptop", &"cd".repeat(32));
    s.create_device(&d, draft("device.register")).await.unwrap();
    let since = ms(now());
    let nc = ComplianceState::NonCompliant {
        since,
        grace_expired: false,
    };
    assert!(
        s.set_device_compliance(
            d.id,
            &nc,
            MachineRisk::High,
            Some((since, r#"{"os":"12"}"#))
        )
        .await
        .unwrap()
    );
    let got = s.get_device(d.id).await.unwrap().unwrap();
    assert_eq!(got.compliance, nc);
    assert_eq!(got.machine_risk, MachineRisk::High);
    assert_eq!(got.last_report_at, Some(since));
    assert_eq!(
        s.device_posture(d.id).await.unwrap().as_deref(),
        Some(r#"{"os":"12"}"#)
    );
    assert!(
        !s.set_device_compliance(Uuid::now_v7(), &nc, MachineRisk::High, None)
            .await
            .unwrap()
    );
    let non_compliant = s
        .list_devices(&DeviceQuery {
            compliance: Some("non_compliant".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(non_compliant.len(), 1);
    let seen = rec.0.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|c| matches!(c, Change::Audited { action, .. } if action == "device.register")),
        "the audited registration reached the feed: {seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|c| **c == Change::Device(d.id)).count(),
        1,
        "one device change, none for the unknown device: {seen:?}"
    );
    // An unaudited session revocation is announced too.
    let sess = session(ada.id, now());
    s.create_session(&sess, "h").await.unwrap();
    s.revoke_session(sess.id, now(), None).await.unwrap();
    assert!(rec.0.lock().unwrap().contains(&Change::Session(sess.id)));
}
