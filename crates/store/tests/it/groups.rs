//! Groups and memberships, administrative roles, organisation banned terms.

use crate::support::*;
use trustplane_core::identity::Role;
use trustplane_store::prelude::*;
use trustplane_store::{SqlStore, StoreError};
use uuid::Uuid;

pub async fn create_and_find_groups(db: &TestDb) {
    let s = &db.store;
    assert!(s.list_groups().await.unwrap().is_empty());
    let finance = add_group(s, "Finance").await;
    let admins = add_group(s, "admins").await;
    let zulu = add_group(s, "Zulu Team").await;

    assert_eq!(
        s.get_group(finance.id).await.unwrap(),
        Some(finance.clone())
    );
    assert_eq!(s.get_group(Uuid::now_v7()).await.unwrap(), None);
    for typed in ["Finance", "finance", "FINANCE", " Finance "] {
        assert_eq!(
            s.find_group(typed).await.unwrap(),
            Some(finance.clone()),
            "{typed:?}"
        );
    }
    assert_eq!(s.find_group("Fin").await.unwrap(), None);
    // Ordered by name, ignoring case.
    assert_eq!(
        s.list_groups().await.unwrap(),
        [admins, finance.clone(), zulu]
    );

    let mut audit = AuditWatch::start(s).await;
    for dup in ["Finance", "FINANCE", "finance", " finance"] {
        let r = s.create_group(&group(dup), draft("group.create")).await;
        assert!(matches!(r, Err(StoreError::Conflict(_))), "{dup:?}: {r:?}");
    }
    audit.none(s, "duplicate group").await;
    assert_eq!(s.list_groups().await.unwrap().len(), 3);
    assert_eq!(s.find_group("finance").await.unwrap(), Some(finance));
}

pub async fn membership(db: &TestDb) {
    let s = &db.store;
    let ann = add_user(s, "ann").await;
    let ben = add_user(s, "Ben").await;
    let cid = add_user(s, "cid").await;
    let g = add_group(s, "Finance").await;
    let h = add_group(s, "engineering").await;
    let actor = admin();
    let mut audit = AuditWatch::start(s).await;

    assert!(
        s.add_member(g.id, ann.id, draft("group.member.add"))
            .await
            .unwrap()
    );
    audit.one(s, "group.member.add", &actor).await;
    assert!(
        !s.add_member(g.id, ann.id, draft("group.member.add"))
            .await
            .unwrap(),
        "already a member"
    );
    audit.none(s, "adding an existing member").await;
    assert!(
        s.add_member(g.id, ben.id, draft("group.member.add"))
            .await
            .unwrap()
    );
    assert!(
        s.add_member(h.id, ann.id, draft("group.member.add"))
            .await
            .unwrap()
    );
    audit = AuditWatch::start(s).await;

    // Members ordered by login name, groups by name, both ignoring case.
    assert_eq!(names(s.group_members(g.id).await.unwrap()), ["ann", "Ben"]);
    assert_eq!(s.group_members(g.id).await.unwrap()[0], ann);
    assert_eq!(names(s.group_members(h.id).await.unwrap()), ["ann"]);
    assert_eq!(s.groups_of(ann.id).await.unwrap(), [h.clone(), g.clone()]);
    assert_eq!(s.groups_of(ben.id).await.unwrap(), [g.clone()]);
    assert!(s.groups_of(cid.id).await.unwrap().is_empty());
    assert!(s.group_members(Uuid::now_v7()).await.unwrap().is_empty());

    assert!(
        s.remove_member(g.id, ann.id, draft("group.member.remove"))
            .await
            .unwrap()
    );
    audit.one(s, "group.member.remove", &actor).await;
    assert!(
        !s.remove_member(g.id, ann.id, draft("group.member.remove"))
            .await
            .unwrap(),
        "no longer a member"
    );
    assert!(
        !s.remove_member(g.id, cid.id, draft("group.member.remove"))
            .await
            .unwrap(),
        "never a member"
    );
    audit.none(s, "removing a non-member").await;
    assert_eq!(s.groups_of(ann.id).await.unwrap(), [h.clone()]);
    assert_eq!(names(s.group_members(g.id).await.unwrap()), ["Ben"]);

    // Membership can be granted again after removal.
    assert!(
        s.add_member(g.id, ann.id, draft("group.member.add"))
            .await
            .unwrap()
    );
    audit.one(s, "group.member.add", &actor).await;
    assert_eq!(names(s.group_members(g.id).await.unwrap()), ["ann", "Ben"]);
}

pub async fn delete_group_cascades(db: &TestDb) {
    let s = &db.store;
    let ann = add_user(s, "ann").await;
    let g = add_group(s, "doomed").await;
    let keep = add_group(s, "kept").await;
    assert!(s.add_member(g.id, ann.id, draft("m")).await.unwrap());
    assert!(s.add_member(keep.id, ann.id, draft("m")).await.unwrap());
    let mut audit = AuditWatch::start(s).await;

    s.delete_group(g.id, draft("group.delete")).await.unwrap();
    audit.one(s, "group.delete", &admin()).await;
    assert_eq!(s.get_group(g.id).await.unwrap(), None);
    assert_eq!(s.find_group("doomed").await.unwrap(), None);
    assert!(s.group_members(g.id).await.unwrap().is_empty());
    assert_eq!(s.groups_of(ann.id).await.unwrap(), [keep.clone()]);
    assert_eq!(s.list_groups().await.unwrap(), [keep]);
    assert!(
        s.get_user(ann.id).await.unwrap().is_some(),
        "members survive"
    );

    let again = s.delete_group(g.id, draft("group.delete")).await;
    assert!(matches!(again, Err(StoreError::NotFound(_))), "{again:?}");
    audit.none(s, "deleting a missing group").await;
    // The name is free again.
    add_group(s, "Doomed").await;
}

pub async fn roles(db: &TestDb) {
    let s = &db.store;
    let amy = add_user(s, "amy").await;
    let bea = add_user(s, "Bea").await;
    let cal = add_user(s, "cal").await;
    let actor = admin();
    let mut audit = AuditWatch::start(s).await;

    assert!(s.roles_of(amy.id).await.unwrap().is_empty());
    assert!(
        s.assign_role(amy.id, Role::GlobalAdministrator, draft("role.assign"))
            .await
            .unwrap()
    );
    audit.one(s, "role.assign", &actor).await;
    assert!(
        !s.assign_role(amy.id, Role::GlobalAdministrator, draft("role.assign"))
            .await
            .unwrap(),
        "already held"
    );
    audit.none(s, "assigning a held role").await;
    for (u, r) in [
        (&amy, Role::SecurityReader),
        (&bea, Role::SecurityReader),
        (&bea, Role::HelpdeskAdministrator),
        (&cal, Role::SecurityAdministrator),
    ] {
        assert!(s.assign_role(u.id, r, draft("role.assign")).await.unwrap());
    }
    audit = AuditWatch::start(s).await;

    let mut amy_roles = s.roles_of(amy.id).await.unwrap();
    amy_roles.sort();
    assert_eq!(amy_roles, [Role::GlobalAdministrator, Role::SecurityReader]);
    let mut bea_roles = s.roles_of(bea.id).await.unwrap();
    bea_roles.sort();
    assert_eq!(
        bea_roles,
        [Role::HelpdeskAdministrator, Role::SecurityReader]
    );
    assert_eq!(
        names(s.role_holders(Role::SecurityReader).await.unwrap()),
        ["amy", "Bea"]
    );
    assert_eq!(
        s.role_holders(Role::GlobalAdministrator).await.unwrap(),
        [amy.clone()]
    );
    assert_eq!(
        names(s.role_holders(Role::SecurityAdministrator).await.unwrap()),
        ["cal"]
    );

    assert!(
        s.unassign_role(amy.id, Role::SecurityReader, draft("role.unassign"))
            .await
            .unwrap()
    );
    audit.one(s, "role.unassign", &actor).await;
    assert!(
        !s.unassign_role(amy.id, Role::SecurityReader, draft("role.unassign"))
            .await
            .unwrap(),
        "no longer held"
    );
    assert!(
        !s.unassign_role(cal.id, Role::GlobalAdministrator, draft("role.unassign"))
            .await
            .unwrap(),
        "never held"
    );
    audit.none(s, "unassigning a role not held").await;
    assert_eq!(
        s.roles_of(amy.id).await.unwrap(),
        [Role::GlobalAdministrator]
    );
    assert_eq!(
        names(s.role_holders(Role::SecurityReader).await.unwrap()),
        ["Bea"]
    );

    roles_given_at_creation_are_stored(s).await;
}

/// Roles given at creation are stored with the user (beside Bea, a helpdesk administrator).
async fn roles_given_at_creation_are_stored(s: &SqlStore) {
    let dee = user("dee");
    s.create_user(
        &dee,
        None,
        &[Role::HelpdeskAdministrator, Role::SecurityReader],
        draft("user.create"),
    )
    .await
    .unwrap();
    let mut dee_roles = s.roles_of(dee.id).await.unwrap();
    dee_roles.sort();
    assert_eq!(
        dee_roles,
        [Role::HelpdeskAdministrator, Role::SecurityReader]
    );
    assert_eq!(
        names(s.role_holders(Role::HelpdeskAdministrator).await.unwrap()),
        ["Bea", "dee"]
    );
}

pub async fn banned_terms(db: &TestDb) {
    let s = &db.store;
    assert!(s.list_banned_terms().await.unwrap().is_empty());
    let pairs = vec![
        ("fabrikam".to_string(), "Fabrikam".to_string()),
        ("contoso".to_string(), "Contoso".to_string()),
    ];
    let mut audit = AuditWatch::start(s).await;
    let before = now();
    assert_eq!(
        s.add_banned_terms(&pairs, "cli:t", draft("password.banned_terms.add"))
            .await
            .unwrap(),
        2
    );
    audit.one(s, "password.banned_terms.add", &admin()).await;
    assert_eq!(
        s.add_banned_terms(&pairs, "cli:t", draft("password.banned_terms.add"))
            .await
            .unwrap(),
        0
    );
    audit.none(s, "adding only known terms").await;
    // A batch with one new term: one entry, only the new term counted, old ones untouched.
    let more = vec![
        ("contoso".to_string(), "CONTOSO (again)".to_string()),
        ("northwind".to_string(), "Northwind".to_string()),
    ];
    assert_eq!(
        s.add_banned_terms(&more, "user:x", draft("password.banned_terms.add"))
            .await
            .unwrap(),
        1
    );
    audit.one(s, "password.banned_terms.add", &admin()).await;

    let list = s.list_banned_terms().await.unwrap();
    assert_eq!(
        list.iter()
            .map(|t| (t.term.as_str(), t.display.as_str(), t.added_by.as_str()))
            .collect::<Vec<_>>(),
        [
            ("contoso", "Contoso", "cli:t"),
            ("fabrikam", "Fabrikam", "cli:t"),
            ("northwind", "Northwind", "user:x"),
        ]
    );
    assert!(list.iter().all(|t| t.added_at >= before));

    assert!(
        s.remove_banned_term("contoso", draft("password.banned_terms.remove"))
            .await
            .unwrap()
    );
    audit.one(s, "password.banned_terms.remove", &admin()).await;
    assert!(
        !s.remove_banned_term("contoso", draft("password.banned_terms.remove"))
            .await
            .unwrap()
    );
    audit.none(s, "removing a missing term").await;
    assert_eq!(
        s.list_banned_terms()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.term)
            .collect::<Vec<_>>(),
        ["fabrikam", "northwind"]
    );
}
