//! Hostile text: SQL metacharacters, quotes, backslashes and non-ASCII text in every text field
//! round-trip exactly, and nothing is interpreted as SQL.

use crate::support::*;
use time::{Duration, OffsetDateTime};
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_core::identity::{Group, Role, User};
use trustplane_core::signin::{SignInEvent, SignInResult};
use trustplane_store::prelude::*;
use trustplane_store::{AuditQuery, SignInQuery, SqlStore, UserQuery};
use uuid::Uuid;

/// Each value is used in turn for every text field.
const EVIL: &[&str] = &[
    "'; DROP TABLE users; --",
    "Robert'); DROP TABLE audit_log;--",
    "\" OR \"1\"=\"1",
    "' OR '1'='1",
    "back\\slash \\\\ \\' \\\" \\n",
    "$1 $2 ? ?? :name @p1 %s {}",
    "100% _under_ [brackets] ^caret",
    "Zoë Ünïcødé 名前 Ωmega \u{1F600} \u{202E}rtl",
    "tab\tnew\nline\r\nend",
    "/* comment */ -- trailing",
];

/// One hostile value, the unique name made of it (its index first), and an actor made of it.
struct Hostile {
    i: usize,
    evil: &'static str,
    tag: String,
    actor: Actor,
}

impl Hostile {
    fn new(i: usize, evil: &'static str) -> Hostile {
        Hostile {
            i,
            evil,
            tag: format!("{i}{evil}"),
            actor: Actor {
                id: format!("user:{evil}"),
                name: evil.into(),
                ip: Some(evil.into()),
            },
        }
    }

    /// An audit draft with the value in every field.
    fn audit(&self, action: &str) -> AuditDraft {
        let evil = self.evil;
        AuditDraft::new(&self.actor, action, evil, Some(evil.into()))
            .before(&evil)
            .after(&serde_json::json!({ "v": evil }))
    }
}

pub async fn metacharacters_round_trip_in_every_text_field(db: &TestDb) {
    let s = &db.store;
    let t = now();
    for (i, evil) in EVIL.iter().enumerate() {
        let h = Hostile::new(i, evil);
        let u = user_round_trips(s, &h).await;
        group_round_trips(s, &h, &u).await;
        session_and_token_round_trip(s, &h, &u, t).await;
        sign_in_round_trips(s, &h, &u, t).await;
        banned_term_and_bootstrap_token_round_trip(s, &h, t).await;
        audit_entry_round_trips(s, &h).await;
    }

    // Nothing was executed as SQL: every table is still there, holding what was written.
    let n = EVIL.len();
    assert_eq!(s.count_users().await.unwrap(), n as i64);
    assert_eq!(s.list_groups().await.unwrap().len(), n);
    assert_eq!(s.list_api_tokens().await.unwrap().len(), n);
    assert_eq!(s.list_sessions(None, None, 1000).await.unwrap().len(), n);
    assert_eq!(s.list_banned_terms().await.unwrap().len(), n);
    assert_eq!(
        s.list_sign_ins(&SignInQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len(),
        n
    );
    // user.create, pw, user.update, group.create, m, token.create, terms.add, append.
    assert_eq!(verified_len(s).await, 8 * n as u64);
}

/// Users: login name, display name, email, password hash.
async fn user_round_trips(s: &SqlStore, h: &Hostile) -> User {
    let (evil, tag) = (h.evil, &h.tag);
    let mut u = user("x");
    u.username = tag.clone();
    u.display_name = evil.into();
    u.email = Some(evil.into());
    s.create_user(
        &u,
        Some(evil),
        &[Role::SecurityReader],
        h.audit("user.create"),
    )
    .await
    .unwrap();
    assert_eq!(
        s.get_user(u.id).await.unwrap().as_ref(),
        Some(&u),
        "{evil:?}"
    );
    assert_eq!(
        s.find_user(tag).await.unwrap().as_ref(),
        Some(&u),
        "{evil:?}"
    );
    let rec = s.login_record(tag).await.unwrap().unwrap();
    assert_eq!(rec.password_hash.as_deref(), Some(evil));
    let found = s
        .list_users(&UserQuery {
            search: Some(tag.clone()),
            limit: 100,
            offset: 0,
        })
        .await
        .unwrap();
    assert_eq!(found, [u.clone()], "search for {evil:?}");
    s.set_password_hash(u.id, &format!("{evil}2"), true, None, Some(h.audit("pw")))
        .await
        .unwrap();
    assert_eq!(
        s.login_record(tag).await.unwrap().unwrap().password_hash,
        Some(format!("{evil}2"))
    );
    let mut changed = u.clone();
    changed.display_name = format!("{evil} (changed)");
    s.update_user(&changed, h.audit("user.update"))
        .await
        .unwrap();
    assert_eq!(s.get_user(u.id).await.unwrap(), Some(changed));
    u
}

/// Groups: name and description.
async fn group_round_trips(s: &SqlStore, h: &Hostile, u: &User) {
    let g = Group {
        name: h.tag.clone(),
        description: h.evil.into(),
        ..group("g")
    };
    s.create_group(&g, h.audit("group.create")).await.unwrap();
    assert_eq!(s.find_group(&h.tag).await.unwrap().as_ref(), Some(&g));
    assert_eq!(s.get_group(g.id).await.unwrap().as_ref(), Some(&g));
    assert!(s.add_member(g.id, u.id, h.audit("m")).await.unwrap());
    assert_eq!(s.groups_of(u.id).await.unwrap(), [g.clone()]);
}

/// Sessions (secret hash, address, user agent) and API tokens (name, creator, secret hash).
async fn session_and_token_round_trip(s: &SqlStore, h: &Hostile, u: &User, t: OffsetDateTime) {
    let (evil, tag) = (h.evil, &h.tag);
    let mut x = session(u.id, t);
    x.ip = Some(evil.into());
    x.user_agent = Some(evil.into());
    s.create_session(&x, tag).await.unwrap();
    let by_secret = s.session_by_secret(tag).await.unwrap().unwrap();
    assert_eq!(by_secret.session, x);
    assert_eq!(by_secret.user.id, u.id);

    let mut tok = token(evil, Role::SecurityReader, t);
    tok.created_by = evil.into();
    s.create_api_token(&tok, tag, h.audit("token.create"))
        .await
        .unwrap();
    assert_eq!(s.api_token_by_secret(tag).await.unwrap(), Some(tok));
}

/// Sign-in log: every text field and the details JSON.
async fn sign_in_round_trips(s: &SqlStore, h: &Hostile, u: &User, t: OffsetDateTime) {
    let (evil, tag) = (h.evil, &h.tag);
    let ev = SignInEvent {
        id: Uuid::now_v7(),
        at: t + Duration::milliseconds(h.i as i64),
        user_id: Some(u.id),
        username: tag.clone(),
        result: SignInResult::Failure,
        failure_reason: Some(tag.clone()),
        ip: Some(evil.into()),
        user_agent: Some(evil.into()),
        correlation_id: evil.into(),
        methods: vec![evil.into()],
        details: serde_json::json!({ evil: evil, "list": [evil, 1, null] }),
    };
    s.record_sign_in(&ev).await.unwrap();
    let q = |f: fn(&mut SignInQuery, &str)| {
        let mut q = SignInQuery {
            limit: 100,
            ..Default::default()
        };
        f(&mut q, tag);
        q
    };
    assert_eq!(
        s.list_sign_ins(&q(|q, v| q.username = Some(v.into())))
            .await
            .unwrap(),
        [ev.clone()]
    );
    assert_eq!(
        s.list_sign_ins(&q(|q, v| q.failure_reason = Some(v.into())))
            .await
            .unwrap(),
        [ev.clone()]
    );
}

/// Banned terms, and the bootstrap token hash.
async fn banned_term_and_bootstrap_token_round_trip(s: &SqlStore, h: &Hostile, t: OffsetDateTime) {
    let (evil, tag) = (h.evil, &h.tag);
    let added = s
        .add_banned_terms(&[(tag.clone(), evil.into())], evil, h.audit("terms.add"))
        .await
        .unwrap();
    assert_eq!(added, 1);
    let term = s
        .list_banned_terms()
        .await
        .unwrap()
        .into_iter()
        .find(|b| &b.term == tag)
        .unwrap();
    assert_eq!(
        (term.display.as_str(), term.added_by.as_str()),
        (evil, evil)
    );

    s.set_bootstrap_token(tag, t + Duration::hours(1))
        .await
        .unwrap();
    assert!(s.bootstrap_token_valid(tag, t).await.unwrap());
}

/// Audit entries: every field, and the action / target filters.
async fn audit_entry_round_trips(s: &SqlStore, h: &Hostile) {
    let evil = h.evil;
    let e = s.append_audit(h.audit(evil)).await.unwrap();
    let listed = s
        .list_audit(&AuditQuery {
            action: Some(evil.into()),
            target_id: Some(evil.into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed, [e.clone()]);
    assert_eq!(e.actor_id, h.actor.id);
    assert_eq!(e.actor_name, evil);
    assert_eq!(e.ip.as_deref(), Some(evil));
    assert_eq!(e.target_type, evil);
    assert_eq!(e.target_id.as_deref(), Some(evil));
    assert_eq!(e.before, Some(serde_json::to_string(&evil).unwrap()));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(e.after.as_deref().unwrap()).unwrap(),
        serde_json::json!({ "v": evil })
    );
}

/// NUL, which PostgreSQL text cannot hold, behaves the same on both backends: lookups by a name
/// with NUL find nothing (instead of failing on one backend), and the sign-in log, which
/// records untrusted input as received, stores it as U+FFFD.
pub async fn nul_in_untrusted_input(db: &TestDb) {
    let s = &db.store;
    add_user(s, "ab").await;
    add_group(s, "ab").await;
    for name in ["a\0b", "\0", "ab\0"] {
        assert_eq!(s.find_user(name).await.unwrap(), None, "{name:?}");
        assert!(s.login_record(name).await.unwrap().is_none(), "{name:?}");
        assert_eq!(s.find_group(name).await.unwrap(), None, "{name:?}");
    }

    let ev = SignInEvent {
        id: Uuid::now_v7(),
        at: now(),
        user_id: None,
        username: "a\0b".into(),
        result: SignInResult::Failure,
        failure_reason: Some("unknown_user\0".into()),
        ip: Some("\0".into()),
        user_agent: Some("curl\0/8".into()),
        correlation_id: "c\0".into(),
        methods: vec!["p\0wd".into()],
        details: serde_json::json!({ "typed": "a\0b" }),
    };
    s.record_sign_in(&ev).await.unwrap();
    let stored = SignInEvent {
        username: "a\u{FFFD}b".into(),
        failure_reason: Some("unknown_user\u{FFFD}".into()),
        ip: Some("\u{FFFD}".into()),
        user_agent: Some("curl\u{FFFD}/8".into()),
        correlation_id: "c\u{FFFD}".into(),
        // JSON escapes NUL, so methods and details keep it.
        ..ev.clone()
    };
    let all = SignInQuery {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(s.list_sign_ins(&all).await.unwrap(), [stored.clone()]);
    // Filtering by what was typed finds it.
    let by_name = SignInQuery {
        username: Some("A\0B".into()),
        failure_reason: Some("unknown_user\0".into()),
        ..all
    };
    assert_eq!(s.list_sign_ins(&by_name).await.unwrap(), [stored]);
}
