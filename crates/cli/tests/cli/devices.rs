//! `trustplane devices …`: registered devices, and stale device cleanup.

use crate::support::*;
use std::path::Path;
use trustplane_store::prelude::*;

/// The user `ada` with three enabled devices, last seen 90, 45 and 2 days ago (their ids in
/// that order), registered through the store as the server opens it.
async fn devices_last_seen_90_45_and_2_days_ago(d: &Path) -> Vec<uuid::Uuid> {
    use trustplane_core::access::{DevicePlatform, TrustType};
    use trustplane_core::audit::{Actor, AuditDraft};
    use trustplane_core::device::{ComplianceState, Device, DeviceState, MachineRisk};
    ok(&run(d, &["admin", "user", "create", "ada"], None));
    // The store as the server opens it: the audit chain keyed with the master key.
    let key =
        trustplane_server::platform::secrets::MasterKey::load_or_create(&d.join("secret.key"))
            .unwrap();
    let store = trustplane_store::SqlStore::connect(&sqlite_url(d))
        .await
        .unwrap()
        .keyed(key.derive(trustplane_server::ops::audit_chain::CHAIN_PURPOSE))
        .await
        .unwrap();
    let ada = store.find_user("ada").await.unwrap().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let mut ids = Vec::new();
    for (i, days) in [(1u8, 90i64), (2, 45), (3, 2)] {
        let seen = now - time::Duration::days(days);
        let dev = Device {
            id: uuid::Uuid::now_v7(),
            owner_id: ada.id,
            display_name: format!("device {i}"),
            platform: DevicePlatform::Linux,
            os_version: None,
            hostname: None,
            manufacturer: None,
            model: None,
            trust_type: TrustType::Registered,
            state: DeviceState::Enabled,
            cert_serial: format!("{i:02x}"),
            cert_fingerprint: format!("{i:02x}").repeat(32),
            cert_not_after: now + time::Duration::days(30),
            certificate_pem: String::new(),
            first_seen: seen,
            last_seen: seen,
            last_report_at: None,
            compliance: ComplianceState::Compliant,
            machine_risk: MachineRisk::None,
        };
        let audit = AuditDraft::new(&Actor::system(), "device.register", "device", None);
        store.create_device(&dev, audit).await.unwrap();
        ids.push(dev.id);
    }
    store.pool().close().await;
    ids
}

/// Stale device cleanup: a dry run changes nothing; then devices not seen for N days are
/// disabled (audited), and with --delete removed; recent devices are left alone.
#[tokio::test]
async fn stale_devices_are_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ids = devices_last_seen_90_45_and_2_days_ago(d).await;
    let text = ok(&run(
        d,
        &["devices", "cleanup", "--inactive-days", "30", "--dry-run"],
        None,
    ));
    assert!(text.contains("2 device(s) would be disabled"), "{text}");
    let listed = ok(&run(d, &["devices", "list", "--state", "disabled"], None));
    assert!(listed.contains("no devices"), "{listed}");
    let text = ok(&run(
        d,
        &["devices", "cleanup", "--inactive-days", "30"],
        None,
    ));
    assert!(text.contains("2 device(s) disabled"), "{text}");
    let listed = ok(&run(
        d,
        &["devices", "list", "--state", "disabled", "--json"],
        None,
    ));
    let v = json(&listed);
    let mut disabled: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    disabled.sort();
    let mut expected = vec![ids[0].to_string(), ids[1].to_string()];
    expected.sort();
    assert_eq!(
        disabled, expected,
        "the two stale devices, not the recent one"
    );
    let text = ok(&run(
        d,
        &["devices", "cleanup", "--inactive-days", "60", "--delete"],
        None,
    ));
    assert!(text.contains("1 device(s) deleted"), "{text}");
    let all = ok(&run(d, &["devices", "list", "--json"], None));
    let v = json(&all);
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_audit_intact(d);
    refused(&run(
        d,
        &["devices", "cleanup", "--inactive-days", "0"],
        None,
    ));
}
