//! `trustplane labels|apps|keys|oidc …`: sensitivity labels and authentication contexts,
//! protected applications and their routes, signing keys and OpenID Connect clients.

use crate::support::*;
use std::path::Path;
use trustplane_store::prelude::*;

/// The authentication context `c1` and the label `confidential` that asks for it.
fn confidential_label(d: &Path) {
    ok(&run(
        d,
        &["labels", "set-context", "c1", "--name", "Sensitive"],
        None,
    ));
    ok(&run(
        d,
        &[
            "labels",
            "set",
            "confidential",
            "--name",
            "Confidential",
            "--rank",
            "30",
            "--context",
            "c1",
        ],
        None,
    ));
}

#[test]
fn labels_need_a_unique_rank_and_a_known_context() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    confidential_label(d);
    // A label with the same rank, or an unknown context, is refused.
    refused(&run(
        d,
        &["labels", "set", "secret", "--name", "S", "--rank", "30"],
        None,
    ));
    let o = run(
        d,
        &[
            "labels",
            "set",
            "x",
            "--name",
            "X",
            "--rank",
            "5",
            "--context",
            "c9",
        ],
        None,
    );
    assert!(refused(&o).contains("not found"));
}

#[test]
fn applications_and_routes_carry_labels() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    confidential_label(d);
    ok(&run(
        d,
        &[
            "apps",
            "create",
            "hr",
            "--name",
            "HR",
            "--allowed-host",
            "hr.example.com",
        ],
        None,
    ));
    refused(&run(d, &["apps", "create", "Bad Id", "--name", "x"], None));
    ok(&run(
        d,
        &[
            "apps",
            "add-route",
            "hr",
            "hr.example.com",
            "/salaries",
            "--label",
            "confidential",
        ],
        None,
    ));
    let v = json(&ok(&run(d, &["apps", "list"], None)));
    assert_eq!(v[0]["application"]["id"], "hr");
    assert_eq!(v[0]["routes"][0]["path_prefix"], "/salaries");
    assert_eq!(v[0]["routes"][0]["sensitivity_label"], "confidential");
    // In use: the label cannot be deleted, and the error says why.
    let o = run(d, &["labels", "delete", "confidential"], None);
    assert!(refused(&o).contains("carries this sensitivity label"));
    let route = v[0]["routes"][0]["id"].as_str().unwrap().to_string();
    ok(&run(
        d,
        &["apps", "label", "hr", "--route", &route, "--clear"],
        None,
    ));
    ok(&run(d, &["labels", "delete", "confidential"], None));
}

#[test]
fn signing_keys_are_rotated_and_the_old_one_stays_published() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Keys: the first key is created on use; rotation keeps the old one published.
    ok(&run(d, &["keys", "rotate"], None));
    ok(&run(d, &["keys", "rotate"], None));
    let keys = ok(&run(d, &["keys", "list"], None));
    assert_eq!(keys.lines().count(), 2, "{keys}");
    assert_eq!(
        keys.lines().filter(|l| l.ends_with(" -")).count(),
        1,
        "one not retired: {keys}"
    );
    refused(&run(d, &["keys", "rotate", "--alg", "none"], None));
}

#[tokio::test]
async fn oidc_clients_are_managed_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = trustplane_store::open(&sqlite_url(d)).await.unwrap();
    store
        .create_application(
            &trustplane_store::Application {
                id: "crm".into(),
                name: "CRM".into(),
                allowed_hosts: vec![],
                sensitivity_label: None,
                created_at: time::OffsetDateTime::now_utc(),
            },
            trustplane_core::audit::AuditDraft::new(
                &trustplane_core::audit::Actor::cli("t"),
                "application.create",
                "application",
                None,
            ),
        )
        .await
        .unwrap();
    let out = ok(&run(
        d,
        &[
            "oidc",
            "clients",
            "create",
            "--name",
            "CRM",
            "--app",
            "crm",
            "--client-id",
            "crm-web",
            "--redirect-uri",
            "https://crm.example.com/cb",
            "--groups-claim",
        ],
        None,
    ));
    assert!(out.contains("client_id: crm-web"), "{out}");
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .unwrap()
        .to_string();
    assert_eq!(secret.len(), 43);
    let stored = store.get_oidc_client("crm-web").await.unwrap().unwrap();
    assert_ne!(stored.secret_hash.as_deref(), Some(secret.as_str()));
    // Refused input: a clear message and a non-zero exit.
    let bad = run(
        d,
        &[
            "oidc",
            "clients",
            "create",
            "--name",
            "X",
            "--app",
            "crm",
            "--redirect-uri",
            "http://evil.example/cb",
        ],
        None,
    );
    assert!(refused(&bad).contains("redirect URI"));
    let list = ok(&run(d, &["oidc", "clients", "list"], None));
    assert!(list.contains("crm-web\tCRM\tcrm\tconfidential"), "{list}");
    let show = json(&ok(&run(d, &["oidc", "clients", "show", "crm-web"], None)));
    assert_eq!(show["groups_claim"], true);
    assert!(show.get("client_secret").is_none());
    let rotated = ok(&run(
        d,
        &["oidc", "clients", "rotate-secret", "crm-web"],
        None,
    ));
    assert!(!rotated.contains(&secret));
    ok(&run(d, &["oidc", "clients", "delete", "crm-web"], None));
    assert!(store.get_oidc_client("crm-web").await.unwrap().is_none());
    let actions: Vec<String> = store
        .list_audit(&trustplane_store::AuditQuery {
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    for a in [
        "oidc_client.create",
        "oidc_client.secret.rotate",
        "oidc_client.delete",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a}: {actions:?}");
    }
}
