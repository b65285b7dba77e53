//! The user's own names (display name parts, login name, email local part) are banned terms
//! wherever a password is set: first-administrator bootstrap, user creation and the
//! administrator's set/reset (API, console and CLI all go through `Ops`), the admin API, the
//! user's own change at /my, the live meter, the change-password step at sign-in, and the
//! self-service reset. (Issue 12, item 11.)

use crate::harness::*;
use serde_json::json;
use trustplane_core::audit::Actor;
use trustplane_core::identity::Role;
use trustplane_server::ops::NewUser;

/// Refused for Carol Danvers (her own name is most of it), accepted for anyone else.
pub const CAROLS: &str = "Danvers.Carol.7";
const GOOD: &str = "lantern quibble orchard vessel";
const NAME_MESSAGE: &str = "Contains your name or username";

fn carol(password: &str) -> NewUser {
    NewUser {
        username: "cdanvers".into(),
        display_name: Some("Carol Danvers".into()),
        email: Some("carol.danvers@example.com".into()),
        password: Some(password.into()),
        roles: vec![],
    }
}

#[tokio::test]
async fn the_users_names_are_banned_wherever_a_password_is_set() {
    let s = TestServer::start().await;
    // Anyone else may choose it.
    let v = s
        .ops()
        .evaluate_password("bob", "Bob Example", None, CAROLS)
        .await
        .unwrap();
    assert!(v.accepted, "{v:?}");

    // 1. Bootstrap: the first administrator's names count; nobody is created.
    let url = s.bootstrap_url.clone().expect("bootstrap link");
    let c = client();
    let html = c.get(&url).send().await.unwrap().text().await.unwrap();
    let token = url.split("token=").nth(1).unwrap();
    let form = [
        ("token", token),
        ("username", "cdanvers"),
        ("display_name", "Carol Danvers"),
        ("password", CAROLS),
    ];
    let r = post_csrf(&c, &s, "/bootstrap", &csrf_of(&html), &form).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains(NAME_MESSAGE));
    assert_eq!(s.state.store.count_users().await.unwrap(), 0);

    // 2. Creating a user (API, console, CLI): refused.
    let e = s
        .ops()
        .create_user(&Actor::system(), carol(CAROLS))
        .await
        .unwrap_err();
    assert!(e.message.contains(NAME_MESSAGE), "{e:?}");
    let api = admin_api(&s, Role::GlobalAdministrator).await;
    let body = json!({
        "username": "cdanvers",
        "display_name": "Carol Danvers",
        "email": "carol.danvers@example.com",
        "password": CAROLS,
    });
    let r = api.post("/api/v1/users", &body).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains(NAME_MESSAGE));
    let carol = s
        .ops()
        .create_user(&Actor::system(), carol(GOOD))
        .await
        .unwrap();

    // 3. Administrator set/reset (API, console, CLI).
    let e = s
        .ops()
        .set_password(&Actor::system(), carol.id, CAROLS, false)
        .await
        .unwrap_err();
    assert!(e.message.contains(NAME_MESSAGE), "{e:?}");
    let path = format!("/api/v1/users/{}/password", carol.id);
    let r = api.post(&path, &json!({ "password": CAROLS })).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains(NAME_MESSAGE));

    still_the_good_password(&s).await;
    s.stop().await;
}

/// Nothing was changed by any refusal: her password is still the good one.
async fn still_the_good_password(s: &TestServer) {
    let r = login(&client(), s, "cdanvers", CAROLS).await;
    assert_ne!(
        r.headers().get("location").map(|l| l.to_str().unwrap()),
        Some("/my")
    );
}

#[tokio::test]
async fn the_users_names_are_banned_where_she_changes_her_own_password() {
    let s = TestServer::start().await;
    let carol = s
        .ops()
        .create_user(&Actor::system(), carol(GOOD))
        .await
        .unwrap();

    // 4. Her own change at /my, and the live meter there.
    let me = signed_in_as(&s, "cdanvers", GOOD).await;
    let token = csrf(&me, &s, "/my").await;
    let r = me
        .post(s.url("/my/check-password"))
        .header("x-csrf-token", &token)
        .json(&json!({ "password": CAROLS }))
        .send()
        .await
        .unwrap();
    let body = json(r).await;
    assert_eq!(body["accepted"], false, "{body}");
    assert!(
        body["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["code"] == "contains_personal_info"),
        "{body}"
    );
    let form = [("current_password", GOOD), ("new_password", CAROLS)];
    let r = post_csrf(&me, &s, "/my/password", &token, &form).await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    let html = page(&me, &s, &to).await;
    assert!(html.contains(NAME_MESSAGE), "{to}: {html}");

    // 5. The change-password step at sign-in (an administrator requires a new password).
    s.ops()
        .set_password(&Actor::system(), carol.id, GOOD, true)
        .await
        .unwrap();
    let c = client();
    let r = login(&c, &s, "cdanvers", GOOD).await;
    assert_eq!(location(&r), "/login/continue");
    let form = [("new_password", CAROLS), ("confirm_password", CAROLS)];
    let r = post_form(&c, &s, "/login/continue", "/login/change-password", &form).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains(NAME_MESSAGE));

    still_the_good_password(&s).await;
    s.stop().await;
}
