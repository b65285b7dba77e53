//! The store test suite: every test body runs against SQLite and against PostgreSQL.
//! PostgreSQL needs TRUSTPLANE_TEST_DATABASE_URL; with CI=true its absence fails the run.

// Tests fail by panicking; helpers outside #[test] fns unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod backend;
mod cases;

/// Instantiates each `async fn(Db)` in `cases` once per backend.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = crate::backend::Db::sqlite().await;
                    crate::cases::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = crate::backend::Db::postgres().await else { return };
                    crate::cases::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}

both_backends!(
    users_round_trip_and_unique_login,
    user_search_treats_like_metacharacters_literally,
    metacharacters_round_trip,
    delete_user_cascades,
    password_change_revokes_sessions_atomically,
    groups_and_membership,
    roles,
    sessions_lifecycle,
    api_tokens,
    sign_in_log_filters,
    audit_chain_and_concurrent_appends,
    audit_tampering_is_detected_and_updates_are_blocked,
    failed_change_leaves_nothing_behind,
    bootstrap_token_is_single_use,
    reopening_is_idempotent_and_newer_schema_is_refused,
    banned_terms,
);

#[tokio::test]
async fn unsupported_url_is_refused_without_echoing_credentials() {
    let err = trustplane_store::open("mysql://root:hunter2@db/x")
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        trustplane_store::StoreError::UnsupportedUrl(_)
    ));
    assert!(!err.to_string().contains("hunter2"), "{err}");
}
