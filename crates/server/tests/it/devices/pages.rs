//! Device pages in the console and under "My devices".

use super::*;

/// The console lists and shows devices to administrators only; a user removes their own
/// device from "My devices" but never someone else's (it is "not found" to them).
#[tokio::test]
async fn device_pages_are_for_admins_and_users_remove_only_their_own() {
    let s = TestServer::start().await;
    s.user("ada", &[]).await;
    s.user("eve", &[]).await;
    s.user("root", &[Role::GlobalAdministrator]).await;
    let a = register_device(&s, "ada").await;
    let admin = signed_in(&s, "root").await;
    let list = get(&admin, &s, "/admin/devices").await;
    assert_eq!(list.status(), 200);
    assert!(list.text().await.unwrap().contains("Ada&#39;s laptop"));
    let html = page(&admin, &s, &format!("/admin/devices/{}", a.id)).await;
    assert!(html.contains("No compliance policy applies"), "{html}");
    let eve = signed_in(&s, "eve").await;
    assert_eq!(get(&eve, &s, "/admin/devices").await.status(), 403);
    // Eve tries to remove Ada's device with a valid form of her own.
    let remove = format!("/my/devices/{}/remove", a.id);
    let r = post_form(&eve, &s, "/my", &remove, &[]).await;
    assert_eq!(r.status(), 404);
    let ada = signed_in(&s, "ada").await;
    let my = page(&ada, &s, "/my").await;
    assert!(my.contains("Ada&#39;s laptop"), "{my}");
    let r = post_csrf(&ada, &s, &remove, &csrf_of(&my), &[]).await;
    assert!(
        r.status().is_redirection() || r.status() == 200,
        "{}",
        r.status()
    );
    let list = page(&admin, &s, "/admin/devices").await;
    assert!(!list.contains("Ada&#39;s laptop"), "{list}");
    s.stop().await;
}
