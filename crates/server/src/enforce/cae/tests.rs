use crate::enforce::cae::*;
use std::net::{IpAddr, Ipv4Addr};
use trustplane_core::access::{Authentication, ClientAppType, Network, Subject, TargetRequest};

fn uid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

#[test]
fn audit_actions_map_to_events() {
    let u = uid(7).to_string();
    let cases = [
        ("session.revoke", "session", Event::Session(uid(7))),
        ("session.revoke_all", "user", Event::User(uid(7))),
        ("user.disable", "user", Event::User(uid(7))),
        ("user.delete", "user", Event::User(uid(7))),
        ("user.password.change", "user", Event::User(uid(7))),
        ("user.password.reset", "user", Event::User(uid(7))),
        ("user.password.set", "user", Event::User(uid(7))),
        ("mfa.method.remove", "user", Event::User(uid(7))),
        ("mfa.reregistration.require", "user", Event::User(uid(7))),
        ("risk.detection.dismiss", "user", Event::User(uid(7))),
        ("role.unassign", "user", Event::User(uid(7))),
        (
            "conditional_access.policy_set.save",
            "policy_set",
            Event::Policy,
        ),
        ("application.route.add", "application", Event::Routes),
        ("application.delete", "application", Event::Routes),
        ("group.member.add", "group", Event::All),
        ("something.new", "thing", Event::All),
    ];
    for (action, ty, want) in cases {
        assert_eq!(from_audit(action, ty, Some(&u)), Some(want), "{action}");
    }
    assert_eq!(
        from_audit("device.compliance.noncompliant", "device", Some("d1")),
        Some(Event::Device("d1".into()))
    );
    assert_eq!(from_audit("token.create", "api_token", Some(&u)), None);
    assert_eq!(from_audit("mfa.method.rename", "user", Some(&u)), None);
    // A user-targeted action without a usable id cannot be narrowed: everything.
    assert_eq!(
        from_audit("user.disable", "user", Some("x")),
        Some(Event::All)
    );
}

#[test]
fn store_changes_map_to_events() {
    use crate::enforce::cae::feed::event_of;
    use trustplane_store::Change;
    let u = uid(9);
    let audited = |action: &str, target_type: &str, id: Option<String>| Change::Audited {
        action: action.into(),
        target_type: target_type.into(),
        target_id: id,
    };
    assert_eq!(
        event_of(&audited("session.revoke", "session", Some(u.to_string()))),
        Some(Event::Session(u))
    );
    assert_eq!(event_of(&Change::User(u)), Some(Event::User(u)));
    assert_eq!(event_of(&Change::Session(u)), Some(Event::Session(u)));
    assert_eq!(
        event_of(&audited("conditional_access.publish", "policy", None)),
        Some(Event::Policy)
    );
    assert_eq!(event_of(&Change::All), Some(Event::All));
    assert_eq!(event_of(&audited("token.create", "api_token", None)), None);
    // A malformed notification from another instance means "anything changed".
    assert_eq!(
        event_of(&Change::from_payload(r#"{"event":"user","id":"bad"}"#)),
        Some(Event::All)
    );
}

fn entry(cae: &Cae, seq: u64, user: Uuid, session: Uuid, app: &str) -> Entry {
    let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    let set = trustplane_core::access::compile(
        Default::default(),
        &trustplane_core::access::StaticCatalog::default(),
    )
    .ok()
    .unwrap();
    let _ = cae;
    Entry {
        seq,
        created: Instant::now(),
        user_id: user,
        session_id: session,
        app_id: app.into(),
        resource: app.into(),
        policy: Arc::new(Loaded {
            version: 0,
            set: Arc::new(set),
            epoch: 0,
        }),
        ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ua_hash: 0,
        cert: None,
        iss: "http://t".into(),
        username: "alice".into(),
        amr: vec!["pwd"],
        ctx: AccessContext {
            subject: Subject {
                user_id: user,
                groups: vec![],
                roles: vec![],
                mfa_registered: false,
            },
            authentication: Authentication {
                methods: vec![],
                primary_at: None,
            },
            now,
            target: TargetRequest::Application {
                id: app.into(),
                sensitivity_label: None,
                authentication_contexts: vec![],
            },
            network: Network {
                ip: None,
                country: None,
            },
            client_app: ClientAppType::Browser,
            platform: None,
            device: None,
            sign_in_risk: None,
            user_risk: None,
            terms_accepted: vec![],
            password_changed: false,
        },
        session: Mutex::new(Session {
            id: session,
            user_id: user,
            methods: vec![],
            created_at: now,
            last_seen_at: now,
            idle_expires_at: now,
            absolute_expires_at: now,
            revoked_at: None,
            ip: None,
            user_agent: None,
        }),
        headers: IdentityHeaders {
            user: HeaderValue::from_static("alice"),
            email: HeaderValue::from_static(""),
            groups: HeaderValue::from_static(""),
            device: HeaderValue::from_static(""),
        },
        assertion: Mutex::new((HeaderValue::from_static("a.b.c"), 0)),
    }
}

#[test]
fn events_invalidate_exactly_what_they_touch() {
    let cae = Cae::new(Arc::default(), true);
    let (u1, u2, s1, s2) = (uid(1), uid(2), uid(11), uid(12));
    let seq = cae.snapshot();
    cae.insert("d1", entry(&cae, seq, u1, s1, "wiki"));
    cae.insert("d2", entry(&cae, seq, u2, s2, "wiki"));
    cae.insert("d2", entry(&cae, seq, u2, s2, "git"));
    assert!(cae.get("d1", "wiki").is_some());
    assert!(cae.get("d1", "git").is_none());
    cae.apply(&Event::Session(s1));
    assert!(cae.get("d1", "wiki").is_none(), "revoked session");
    assert!(cae.get("d2", "wiki").is_some(), "other sessions untouched");
    cae.apply(&Event::User(u2));
    assert!(cae.get("d2", "wiki").is_none());
    assert!(cae.get("d2", "git").is_none());
    // Entries re-evaluated after the event are served again.
    let seq = cae.snapshot();
    cae.insert("d2", entry(&cae, seq, u2, s2, "wiki"));
    assert!(cae.get("d2", "wiki").is_some());
    cae.apply(&Event::Policy);
    assert!(cae.get("d2", "wiki").is_none());
    assert_eq!(cae.len(), 0);
}

#[test]
fn an_entry_read_before_an_event_is_never_cached_after_it() {
    let cae = Cae::new(Arc::default(), true);
    let (u, s) = (uid(1), uid(2));
    // A request reads the store, then the user is disabled, then the request finishes.
    let seq = cae.snapshot();
    cae.apply(&Event::User(u));
    cae.insert("d", entry(&cae, seq, u, s, "wiki"));
    assert!(cae.get("d", "wiki").is_none());
    let seq = cae.snapshot();
    cae.apply(&Event::All);
    cae.insert("d", entry(&cae, seq, u, s, "wiki"));
    assert!(cae.get("d", "wiki").is_none());
}

#[test]
fn nothing_is_served_while_events_may_be_missed() {
    let cae = Cae::new(Arc::default(), true);
    let (u, s) = (uid(1), uid(2));
    cae.insert("d", entry(&cae, cae.snapshot(), u, s, "wiki"));
    assert!(cae.get("d", "wiki").is_some());
    cae.set_down();
    assert!(cae.get("d", "wiki").is_none());
    cae.insert("d", entry(&cae, cae.snapshot(), u, s, "wiki"));
    assert!(cae.get("d", "wiki").is_none(), "not cached while down");
    cae.set_live();
    assert!(cae.get("d", "wiki").is_none(), "cleared on reconnect");
    cae.insert("d", entry(&cae, cae.snapshot(), u, s, "wiki"));
    assert!(cae.get("d", "wiki").is_some());
}

#[test]
fn the_cache_is_bounded() {
    let cae = Cae::new(Arc::default(), true);
    for i in 0..(MAX_ENTRIES + 500) {
        cae.insert(
            &format!("d{i}"),
            entry(&cae, cae.snapshot(), uid(1), uid(2), "wiki"),
        );
    }
    assert!(cae.len() <= MAX_ENTRIES, "{}", cae.len());
}

#[test]
fn policy_cache_peek_misses_after_a_policy_event() {
    let cae = Cae::new(Arc::default(), true);
    assert!(cae.policies.peek().is_none());
    cae.apply(&Event::Policy);
    assert!(cae.policies.peek().is_none());
}
