//! Applications, their routes (longest-prefix lookup) and signing keys.

use crate::support::*;
use time::Duration;
use trustplane_store::{Application, Route, SigningKey, Store, StoreError};
use uuid::Uuid;

fn app(id: &str, hosts: &[&str]) -> Application {
    Application {
        id: id.into(),
        name: format!("The {id} app"),
        allowed_hosts: hosts.iter().map(|h| h.to_string()).collect(),
        created_at: now(),
    }
}

fn route(app_id: &str, host: &str, prefix: &str) -> Route {
    Route {
        id: Uuid::now_v7(),
        app_id: app_id.into(),
        host: host.into(),
        path_prefix: prefix.into(),
        created_at: now(),
    }
}

pub async fn applications_and_routes_round_trip_with_audit(db: &TestDb) {
    let s = &db.store;
    let mut watch = AuditWatch::start(s).await;
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
    let admin_route = route("crm", "wiki.example.com", "/admin");
    s.add_route(&admin_route, draft("application.route.add"))
        .await
        .unwrap();
    watch.one(s, "application.route.add", &admin()).await;

    assert_eq!(
        s.list_routes(Some("wiki")).await.unwrap(),
        vec![root.clone()]
    );
    assert_eq!(s.list_routes(None).await.unwrap().len(), 2);

    // Longest prefix wins, at a segment boundary; other hosts find nothing.
    let found = |p: &'static str| async move {
        s.find_route("wiki.example.com", p)
            .await
            .unwrap()
            .map(|r| r.app_id)
    };
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
    assert_eq!(s.active_signing_keys().await.unwrap(), vec![b, a]);
}
