//! Conditional access through the server: the versioned policy set over the API (JSON and
//! YAML, validation that names the field and changes nothing, optimistic concurrency,
//! restore), the login flow stepping users through what policies require or showing a
//! block page, the sign-in log's per-policy record, what-if and impact replay. This module
//! holds the helpers; the tests are in the submodules.

mod block;
mod console;
mod policy_set;
mod sign_in;

use crate::harness::*;
use serde_json::{Value, json};
use trustplane_core::identity::Role;

async fn put_set(
    s: &TestServer,
    token: &str,
    based_on: i64,
    content_type: &str,
    body: String,
) -> reqwest::Response {
    client()
        .put(s.url(&format!(
            "/api/v1/conditional-access?based_on={based_on}&comment=test"
        )))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Saves the JSON policy set `doc` as the version after `based_on`, which must succeed.
async fn save_set(s: &TestServer, token: &str, based_on: i64, doc: &Value) {
    let r = put_set(s, token, based_on, "application/json", doc.to_string()).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn get_set(s: &TestServer, token: &str) -> Value {
    Api::new(s, token).value("/api/v1/conditional-access").await
}

fn block_group(id: &str, group: uuid::Uuid, state: &str) -> Value {
    json!({
        "id": id, "name": "Block contractors", "state": state,
        "assignments": {
            "users": { "include": { "groups": [group] } },
            "applications": { "include": "all" }
        },
        "grant": "block"
    })
}

/// A security administrator's token.
async fn security_admin(s: &TestServer) -> String {
    admin_token(s, Role::SecurityAdministrator).await
}
