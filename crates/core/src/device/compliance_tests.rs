use super::*;
use crate::access::TrustType;
use crate::device::record::Device;
use proptest::prelude::*;
use uuid::Uuid;

fn t0() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
}

fn device() -> Device {
    Device {
        id: Uuid::from_u128(1),
        owner_id: Uuid::from_u128(2),
        display_name: "laptop".into(),
        platform: DevicePlatform::Linux,
        os_version: Some("12.4".into()),
        hostname: None,
        manufacturer: None,
        model: None,
        trust_type: TrustType::Registered,
        state: DeviceState::Enabled,
        cert_serial: "01".into(),
        cert_fingerprint: "ab".repeat(32),
        cert_not_after: t0() + Duration::days(90),
        certificate_pem: String::new(),
        first_seen: t0(),
        last_seen: t0(),
        last_report_at: None,
        compliance: ComplianceState::Compliant,
        machine_risk: MachineRisk::None,
    }
}

fn policy() -> CompliancePolicy {
    CompliancePolicy {
        id: "linux".into(),
        name: "Linux baseline".into(),
        platform: DevicePlatform::Linux,
        max_machine_risk: Some(MachineRisk::Low),
        minimum_os_version: Some("12.0".into()),
        require_disk_encryption: true,
        require_firewall: true,
        require_secure_boot: false,
        require_profile_settings: true,
        grace_period_days: 3,
        validity_period_days: 30,
        notify_user: true,
    }
}

fn good_posture(at: OffsetDateTime) -> Posture {
    Posture {
        reported_at: at,
        os_version: Some("12.4".into()),
        disk_encrypted: Some(true),
        firewall_active: Some(true),
        secure_boot: None,
        drifted_settings: vec![],
    }
}

fn judge(
    d: &Device,
    p: Option<&CompliancePolicy>,
    posture: Option<&Posture>,
    previous: &ComplianceState,
    now: OffsetDateTime,
) -> ComplianceOutcome {
    evaluate(&ComplianceInput {
        device: d,
        policy: p,
        no_policy: NoPolicyDefault::NonCompliant,
        posture,
        previous,
        now,
    })
}

fn codes(o: &ComplianceOutcome) -> Vec<&str> {
    o.reasons.iter().map(|r| r.code.as_str()).collect()
}

#[test]
fn a_device_that_meets_the_policy_is_compliant() {
    let o = judge(
        &device(),
        Some(&policy()),
        Some(&good_posture(t0())),
        &ComplianceState::Compliant,
        t0(),
    );
    assert_eq!(o.state, ComplianceState::Compliant);
    assert!(o.reasons.is_empty());
}

#[test]
fn a_fixable_failure_is_tolerated_for_exactly_the_grace_period() {
    let mut p = good_posture(t0());
    p.disk_encrypted = Some(false);
    let first = judge(
        &device(),
        Some(&policy()),
        Some(&p),
        &ComplianceState::Compliant,
        t0(),
    );
    assert_eq!(
        first.state,
        ComplianceState::InGrace {
            failing_since: t0(),
            until: t0() + Duration::days(3)
        }
    );
    assert!(first.state.is_compliant());
    assert!(first.worsened_from(&ComplianceState::Compliant));
    assert!(!first.access_changed_from(&ComplianceState::Compliant));
    assert_eq!(codes(&first), ["disk_encryption"]);
    assert_eq!(
        first.reasons[0].message,
        "Turn on disk encryption for the system disk."
    );
    // One second before the end: still in grace, counted from the first failure.
    let later = t0() + Duration::days(3) - Duration::seconds(1);
    let mut p2 = p.clone();
    p2.reported_at = later;
    let o = judge(&device(), Some(&policy()), Some(&p2), &first.state, later);
    assert!(
        matches!(o.state, ComplianceState::InGrace { failing_since, .. } if failing_since == t0())
    );
    // At the end: non-compliant since the grace period ran out.
    let end = t0() + Duration::days(3);
    p2.reported_at = end;
    let o = judge(&device(), Some(&policy()), Some(&p2), &first.state, end);
    assert_eq!(
        o.state,
        ComplianceState::NonCompliant {
            since: end,
            grace_expired: true
        }
    );
    assert!(o.access_changed_from(&first.state));
    // Still failing later: stays non-compliant since then, no fresh grace period.
    let much_later = end + Duration::days(5);
    p2.reported_at = much_later;
    let o2 = judge(&device(), Some(&policy()), Some(&p2), &o.state, much_later);
    assert_eq!(
        o2.state,
        ComplianceState::NonCompliant {
            since: end,
            grace_expired: true
        }
    );
    // Fixed: compliant again, and the next failure gets a new grace period.
    let fixed = judge(
        &device(),
        Some(&policy()),
        Some(&good_posture(much_later)),
        &o2.state,
        much_later,
    );
    assert_eq!(fixed.state, ComplianceState::Compliant);
}

#[test]
fn a_device_non_compliant_for_another_reason_still_gets_a_grace_period() {
    // Never reported (non-compliant at registration), then a report with a fixable failure.
    let first = judge(
        &device(),
        Some(&policy()),
        None,
        &ComplianceState::Compliant,
        t0(),
    );
    assert!(!first.state.is_compliant());
    let mut p = good_posture(t0());
    p.firewall_active = Some(false);
    let later = t0() + Duration::hours(1);
    p.reported_at = later;
    let o = judge(&device(), Some(&policy()), Some(&p), &first.state, later);
    assert_eq!(
        o.state,
        ComplianceState::InGrace {
            failing_since: later,
            until: later + Duration::days(3)
        }
    );
}

#[test]
fn machine_risk_above_the_limit_is_non_compliant_at_once() {
    let mut d = device();
    d.machine_risk = MachineRisk::Medium;
    let o = judge(
        &d,
        Some(&policy()),
        Some(&good_posture(t0())),
        &ComplianceState::Compliant,
        t0(),
    );
    assert_eq!(
        o.state,
        ComplianceState::NonCompliant {
            since: t0(),
            grace_expired: false
        }
    );
    assert_eq!(codes(&o), ["machine_risk"]);
    d.machine_risk = MachineRisk::Low;
    let o = judge(
        &d,
        Some(&policy()),
        Some(&good_posture(t0())),
        &ComplianceState::Compliant,
        t0(),
    );
    assert_eq!(o.state, ComplianceState::Compliant);
}

#[test]
fn a_silent_device_is_non_compliant_after_the_validity_period() {
    let p = good_posture(t0());
    let just_valid = t0() + Duration::days(30) - Duration::seconds(1);
    let o = judge(
        &device(),
        Some(&policy()),
        Some(&p),
        &ComplianceState::Compliant,
        just_valid,
    );
    assert_eq!(o.state, ComplianceState::Compliant);
    let stale = t0() + Duration::days(30);
    let o = judge(
        &device(),
        Some(&policy()),
        Some(&p),
        &ComplianceState::Compliant,
        stale,
    );
    assert_eq!(
        o.state,
        ComplianceState::NonCompliant {
            since: stale,
            grace_expired: false
        }
    );
    assert_eq!(codes(&o), ["stale_report"]);
    let never = judge(
        &device(),
        Some(&policy()),
        None,
        &ComplianceState::Compliant,
        t0(),
    );
    assert_eq!(codes(&never), ["stale_report"]);
}

#[test]
fn devices_without_a_policy_follow_the_setting_and_disabled_ones_never_comply() {
    let d = device();
    let o = judge(&d, None, None, &ComplianceState::Compliant, t0());
    assert_eq!(
        o.state,
        ComplianceState::NonCompliant {
            since: t0(),
            grace_expired: false
        }
    );
    assert_eq!(codes(&o), ["no_policy"]);
    let o = evaluate(&ComplianceInput {
        device: &d,
        policy: None,
        no_policy: NoPolicyDefault::Compliant,
        posture: None,
        previous: &ComplianceState::Compliant,
        now: t0(),
    });
    assert_eq!(o.state, ComplianceState::Compliant);
    let mut disabled = device();
    disabled.state = DeviceState::Disabled;
    let o = judge(
        &disabled,
        Some(&policy()),
        Some(&good_posture(t0())),
        &ComplianceState::Compliant,
        t0(),
    );
    assert!(!o.state.is_compliant());
    assert_eq!(codes(&o), ["device_disabled"]);
}

#[test]
fn unknown_observations_fail_required_settings_and_old_systems_fail_the_version_rule() {
    let mut p = good_posture(t0());
    p.firewall_active = None;
    p.os_version = Some("11.9".into());
    p.drifted_settings = vec!["ssh_root_login".into()];
    let o = judge(
        &device(),
        Some(&policy()),
        Some(&p),
        &ComplianceState::Compliant,
        t0(),
    );
    assert_eq!(codes(&o), ["os_version", "firewall", "profile_drift"]);
    assert_eq!(
        o.reasons[0].message,
        "Update the operating system to version 12.0 or later."
    );
    assert!(o.reasons[2].message.contains("ssh_root_login"));
}

#[test]
fn versions_compare_numerically() {
    assert_eq!(compare_versions("22.04", "22.10"), Some(Ordering::Less));
    assert_eq!(
        compare_versions("6.1.0-13-amd64", "6.1"),
        Some(Ordering::Equal)
    );
    assert_eq!(compare_versions("12", "12.0.0"), Some(Ordering::Equal));
    assert_eq!(compare_versions("10.10", "10.9"), Some(Ordering::Greater));
    assert_eq!(compare_versions("bookworm", "12"), None);
    assert_eq!(compare_versions("", "1"), None);
}

proptest! {
    #[test]
    fn version_comparison_is_a_total_order(a in proptest::collection::vec(0u64..50, 1..4),
                                           b in proptest::collection::vec(0u64..50, 1..4),
                                           c in proptest::collection::vec(0u64..50, 1..4)) {
        let s = |v: &Vec<u64>| v.iter().map(u64::to_string).collect::<Vec<_>>().join(".");
        let (x, y, z) = (s(&a), s(&b), s(&c));
        let xy = compare_versions(&x, &y).unwrap();
        prop_assert_eq!(xy.reverse(), compare_versions(&y, &x).unwrap());
        if xy != Ordering::Greater && compare_versions(&y, &z).unwrap() != Ordering::Greater {
            prop_assert_ne!(compare_versions(&x, &z).unwrap(), Ordering::Greater);
        }
    }

    #[test]
    fn risk_above_the_limit_is_never_compliant(risk in 0u8..4, limit in 0u8..4, days in 0i64..100) {
        let r = |n: u8| [MachineRisk::None, MachineRisk::Low, MachineRisk::Medium, MachineRisk::High][n as usize];
        let mut d = device();
        d.machine_risk = r(risk);
        let mut p = policy();
        p.max_machine_risk = Some(r(limit));
        let now = t0() + Duration::days(days);
        let o = judge(&d, Some(&p), Some(&good_posture(now)), &ComplianceState::Compliant, now);
        if risk > limit {
            prop_assert!(!o.state.is_compliant());
        } else {
            prop_assert!(o.state.is_compliant());
        }
    }
}
