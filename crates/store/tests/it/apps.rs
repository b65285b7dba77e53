//! Applications, their routes (longest-prefix lookup) and signing keys.

use crate::support::*;
use time::Duration;
use trustplane_store::prelude::*;
use trustplane_store::{
    Application, AuthenticationContext, Route, SensitivityLabel, SigningKey, SqlStore, StoreError,
};
use uuid::Uuid;

fn app(id: &str, hosts: &[&str]) -> Application {
    Application {
        id: id.into(),
        name: format!("The {id} app"),
        allowed_hosts: hosts.iter().map(|h| h.to_string()).collect(),
        sensitivity_label: None,
        created_at: now(),
    }
}

fn route(app_id: &str, host: &str, prefix: &str) -> Route {
    Route {
        id: Uuid::now_v7(),
        app_id: app_id.into(),
        host: host.into(),
        path_prefix: prefix.into(),
        sensitivity_label: None,
        case_insensitive: false,
        created_at: now(),
    }
}

/// The application of the route `wiki.example.com` + `path` leads to.
async fn wiki_route_app(s: &SqlStore, path: &str) -> Option<String> {
    s.find_route("wiki.example.com", path)
        .await
        .unwrap()
        .map(|r| r.app_id)
}

pub async fn applications_and_routes_round_trip_with_audit(db: &TestDb) {
    let s = &db.store;
    let mut watch = AuditWatch::start(s).await;
    applications_round_trip(s, &mut watch).await;
    let admin_route = routes_round_trip(s, &mut watch).await;

    // Longest prefix wins, at a segment boundary; other hosts find nothing.
    let found = |p: &'static str| wiki_route_app(s, p);
    assert_eq!(found("/admin/users").await.as_deref(), Some("crm"));
    assert_eq!(found("/admin").await.as_deref(), Some("crm"));
    assert_eq!(found("/administrator").await.as_deref(), Some("wiki"));
    assert_eq!(found("/").await.as_deref(), Some("wiki"));
    assert_eq!(s.find_route("other.example.com", "/").await.unwrap(), None);

    // Removing a route names its application.
    assert!(
        !s.remove_route("wiki", admin_route.id, draft("application.route.remove"))
            .await
            .unwrap()
    );
    watch.none(s, "route of another application").await;
    assert!(
        s.remove_route("crm", admin_route.id, draft("application.route.remove"))
            .await
            .unwrap()
    );
    watch.one(s, "application.route.remove", &admin()).await;
    assert_eq!(found("/admin").await.as_deref(), Some("wiki"));

    // Deleting an application deletes its routes.
    assert!(
        s.delete_application("wiki", draft("application.delete"))
            .await
            .unwrap()
    );
    watch.one(s, "application.delete", &admin()).await;
    assert!(
        !s.delete_application("wiki", draft("application.delete"))
            .await
            .unwrap()
    );
    watch.none(s, "missing application").await;
    assert_eq!(found("/").await, None);
    assert!(s.list_routes(None).await.unwrap().is_empty());
}

/// Creates the wiki and crm applications (a duplicate id is refused).
async fn applications_round_trip(s: &SqlStore, watch: &mut AuditWatch) {
    let wiki = app("wiki", &["wiki.example.com", "docs.example.com"]);
    s.create_application(&wiki, draft("application.create"))
        .await
        .unwrap();
    watch.one(s, "application.create", &admin()).await;
    let e = s
        .create_application(&app("wiki", &[]), draft("application.create"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict("application")), "{e:?}");
    watch.none(s, "duplicate application").await;
    assert_eq!(s.get_application("wiki").await.unwrap(), Some(wiki.clone()));
    assert_eq!(s.get_application("nope").await.unwrap(), None);
    s.create_application(&app("crm", &[]), draft("application.create"))
        .await
        .unwrap();
    watch.one(s, "application.create", &admin()).await;
    let ids: Vec<String> = s
        .list_applications()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(ids, vec!["crm", "wiki"]);
}

/// Adds wiki's `/` and crm's `/admin` on wiki.example.com (a taken host and prefix, and an
/// unknown application, are refused); returns crm's route.
async fn routes_round_trip(s: &SqlStore, watch: &mut AuditWatch) -> Route {
    let root = route("wiki", "wiki.example.com", "/");
    s.add_route(&root, draft("application.route.add"))
        .await
        .unwrap();
    watch.one(s, "application.route.add", &admin()).await;
    // The same host and prefix, even for another application: conflict.
    let e = s
        .add_route(
            &route("crm", "wiki.example.com", "/"),
            draft("application.route.add"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict("route")), "{e:?}");
    let e = s
        .add_route(
            &route("ghost", "x.example.com", "/"),
            draft("application.route.add"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound("application")), "{e:?}");
    watch.none(s, "refused routes").await;
    let mut admin_route = route("crm", "wiki.example.com", "/admin");
    // A case-insensitive route keeps its flag.
    admin_route.case_insensitive = true;
    s.add_route(&admin_route, draft("application.route.add"))
        .await
        .unwrap();
    watch.one(s, "application.route.add", &admin()).await;

    assert_eq!(
        s.list_routes(Some("wiki")).await.unwrap(),
        vec![root.clone()]
    );
    assert_eq!(s.list_routes(None).await.unwrap().len(), 2);
    assert_eq!(
        s.list_routes(Some("crm")).await.unwrap(),
        vec![admin_route.clone()]
    );
    admin_route
}

pub async fn signing_keys_round_trip(db: &TestDb) {
    let s = &db.store;
    assert!(s.active_signing_keys().await.unwrap().is_empty());
    let t = now();
    let key = |kid: &str, at, retired| SigningKey {
        kid: kid.into(),
        alg: "ES256".into(),
        sealed_private: format!("sealed-{kid}"),
        public_jwk: format!(r#"{{"kid":"{kid}"}}"#),
        created_at: at,
        retired_at: retired,
    };
    let old = key("old", t - Duration::days(2), Some(t));
    let a = key("a", t - Duration::days(1), None);
    let b = key("b", t, None);
    for k in [&old, &a, &b] {
        s.add_signing_key(k, draft("signing_key.create"))
            .await
            .unwrap();
    }
    let e = s
        .add_signing_key(&a, draft("signing_key.create"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    assert_eq!(
        s.active_signing_keys().await.unwrap(),
        vec![b.clone(), a.clone()]
    );
    // Retiring sets when a key stops being published: until then it still is.
    let mut watch = AuditWatch::start(s).await;
    let until = t + Duration::hours(1);
    assert!(
        s.retire_signing_key("a", until, draft("signing_key.retire"))
            .await
            .unwrap()
    );
    watch.one(s, "signing_key.retire", &admin()).await;
    assert!(
        !s.retire_signing_key("a", until, draft("signing_key.retire"))
            .await
            .unwrap(),
        "already retired"
    );
    assert!(
        !s.retire_signing_key("nope", until, draft("signing_key.retire"))
            .await
            .unwrap()
    );
    watch.none(s, "no-op retirements").await;
    let kids = |v: Vec<SigningKey>| v.into_iter().map(|k| k.kid).collect::<Vec<_>>();
    assert_eq!(kids(s.active_signing_keys().await.unwrap()), ["b"]);
    assert_eq!(kids(s.published_signing_keys(t).await.unwrap()), ["b", "a"]);
    assert_eq!(
        kids(s.published_signing_keys(until).await.unwrap()),
        ["b"],
        "no longer published once the retirement time is reached"
    );
}

fn label(id: &str, rank: i32, context: Option<&str>) -> SensitivityLabel {
    SensitivityLabel {
        id: id.into(),
        name: id.to_uppercase(),
        rank,
        authentication_context: context.map(str::to_string),
        created_at: now(),
    }
}

pub async fn sensitivity_labels_contexts_and_assignments(db: &TestDb) {
    let s = &db.store;
    labels_and_contexts_round_trip(s).await;
    let r = labels_are_assigned(s).await;

    // In use: neither the label nor its context can go.
    let e = s
        .delete_sensitivity_label("confidential", draft("label.delete"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InUse(_)), "{e:?}");
    let e = s
        .delete_authentication_context("c1", draft("authentication_context.delete"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InUse(_)), "{e:?}");
    s.set_sensitivity_label("hr", Some(r.id), None, draft("label.assign"))
        .await
        .unwrap();
    assert!(
        s.delete_sensitivity_label("confidential", draft("label.delete"))
            .await
            .unwrap()
    );
    assert!(
        s.delete_authentication_context("c1", draft("authentication_context.delete"))
            .await
            .unwrap()
    );
    assert!(
        !s.delete_authentication_context("c1", draft("authentication_context.delete"))
            .await
            .unwrap()
    );
    assert!(s.list_authentication_contexts().await.unwrap().is_empty());
}

/// Creates the context c1 and the labels public (10), general (20, then 25) and
/// confidential (30, mapped to c1).
async fn labels_and_contexts_round_trip(s: &SqlStore) {
    let mut watch = AuditWatch::start(s).await;
    // A label cannot map to a context that does not exist.
    let e = s
        .put_sensitivity_label(&label("confidential", 30, Some("c1")), draft("label.put"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");
    watch.none(s, "label with unknown context").await;
    s.put_authentication_context(
        &AuthenticationContext {
            id: "c1".into(),
            name: "Phishing-resistant".into(),
            description: "passkeys only".into(),
            created_at: now(),
        },
        draft("authentication_context.put"),
    )
    .await
    .unwrap();
    watch.one(s, "authentication_context.put", &admin()).await;
    for l in [
        label("confidential", 30, Some("c1")),
        label("public", 10, None),
        label("general", 20, None),
    ] {
        s.put_sensitivity_label(&l, draft("label.put"))
            .await
            .unwrap();
    }
    let ids: Vec<String> = s
        .list_sensitivity_labels()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(
        ids,
        ["public", "general", "confidential"],
        "ordered by rank"
    );
    // Ranks are unique.
    let e = s
        .put_sensitivity_label(&label("secret", 30, None), draft("label.put"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    // Replacing by id keeps one label.
    s.put_sensitivity_label(&label("general", 25, None), draft("label.put"))
        .await
        .unwrap();
    assert_eq!(s.list_sensitivity_labels().await.unwrap().len(), 3);
}

/// Labels the application hr general and its route `/salaries` confidential (unknown labels,
/// applications and routes are refused); returns the route.
async fn labels_are_assigned(s: &SqlStore) -> Route {
    s.create_application(&app("hr", &[]), draft("application.create"))
        .await
        .unwrap();
    let r = route("hr", "hr.example.com", "/salaries");
    s.add_route(&r, draft("route.add")).await.unwrap();
    assert!(
        s.set_sensitivity_label("hr", None, Some("general"), draft("label.assign"))
            .await
            .unwrap()
    );
    assert!(
        s.set_sensitivity_label(
            "hr",
            Some(r.id),
            Some("confidential"),
            draft("label.assign")
        )
        .await
        .unwrap()
    );
    let e = s
        .set_sensitivity_label("hr", None, Some("nope"), draft("label.assign"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");
    assert!(
        !s.set_sensitivity_label("nope", None, Some("general"), draft("label.assign"))
            .await
            .unwrap()
    );
    assert!(
        !s.set_sensitivity_label("hr", Some(Uuid::now_v7()), None, draft("label.assign"))
            .await
            .unwrap()
    );
    let got = s.get_application("hr").await.unwrap().unwrap();
    assert_eq!(got.sensitivity_label.as_deref(), Some("general"));
    let found = s
        .find_route("hr.example.com", "/salaries/2026")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.sensitivity_label.as_deref(), Some("confidential"));
    r
}
