//! The store test suite: every test body runs once against SQLite and once against
//! PostgreSQL, each time on a fresh database of its own, so tests run in parallel and in any
//! order.
//!
//! PostgreSQL is reached through `TRUSTPLANE_TEST_DATABASE_URL` (a role that may create
//! databases, e.g. `postgres://postgres@127.0.0.1:5432/test`). Without it the PostgreSQL runs
//! are skipped with a note, unless `CI=true`, where they fail.
//!
//!     TRUSTPLANE_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!         cargo test -p trustplane-store

// Tests fail by panicking; helpers outside #[test] fns unwrap too. `[x.clone()]` as the
// expected value of a list reads better than `std::slice::from_ref(&x)`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cloned_ref_to_slice_refs
)]

mod support;

mod access;
mod apps;
mod atomicity;
mod audit;
mod audit_archive;
mod audit_keyed;
mod bootstrap;
mod devices;
mod full_disk;
mod groups;
mod limits;
mod mfa;
mod migrations;
mod oidc;
mod retention;
mod risk;
mod sessions;
mod sign_ins;
mod text;
mod tokens;
mod users;
mod webauthn;

/// Instantiates each `async fn(&TestDb)` listed, as `sqlite::<module>::<name>` and
/// `postgres::<module>::<name>`: the same body for both backends.
macro_rules! store_tests {
    ($($module:ident: [$($name:ident),* $(,)?]),* $(,)?) => {
        store_tests!(@backend sqlite, trustplane_store::Backend::Sqlite; $($module: [$($name),*]),*);
        store_tests!(@backend postgres, trustplane_store::Backend::Postgres; $($module: [$($name),*]),*);
    };
    (@backend $backend:ident, $kind:expr; $($module:ident: [$($name:ident),*]),*) => {
        mod $backend {
            $(
                mod $module {
                    $(
                        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                        async fn $name() {
                            let Some(db) = crate::support::TestDb::open($kind).await else {
                                return;
                            };
                            crate::$module::$name(&db).await;
                        }
                    )*
                }
            )*
        }
    };
}

store_tests! {
    audit_archive: [
        a_prefix_is_removed_and_the_rest_verifies,
        entries_past_the_archive_point_cannot_be_deleted,
        a_moved_archive_point_is_detected,
    ],
    limits: [
        failure_counter_counts_in_a_window,
        concurrent_failures_are_all_counted,
        flow_attempts_are_claimed_atomically,
        known_devices_are_per_user,
    ],
    users: [
        create_get_find,
        login_names_are_unique_case_insensitively,
        list_search_and_count,
        search_treats_like_metacharacters_literally,
        search_non_ascii,
        update_user,
        delete_user_cascades,
        login_record_and_password_hash,
        password_change_revokes_sessions,
        references_to_missing_users_fail,
    ],
    text: [
        metacharacters_round_trip_in_every_text_field,
        nul_in_untrusted_input,
    ],
    groups: [
        create_and_find_groups,
        membership,
        delete_group_cascades,
        roles,
        banned_terms,
    ],
    sessions: [
        create_and_find_by_secret,
        touch,
        revoke,
        revoke_user_sessions,
        active_filter_and_order,
        step_up_replaces_methods_of_live_sessions,
    ],
    tokens: [
        api_token_lifecycle,
    ],
    sign_ins: [
        record_and_round_trip,
        filters_by_user_and_name,
        filters_by_result_and_reason,
        filters_by_time_window,
        filters_combine,
        newest_first_and_limit,
        conditional_access_filters,
    ],
    access: [
        versions_are_kept_and_concurrent_saves_conflict,
        terms_of_use_and_acceptances,
    ],
    devices: [
        devices_round_trip_with_audit_and_paging,
        compliance_changes_reach_the_change_feed_after_commit,
    ],
    apps: [
        applications_and_routes_round_trip_with_audit,
        signing_keys_round_trip,
        sensitivity_labels_contexts_and_assignments,
    ],
    oidc: [
        clients_round_trip_with_audit,
        codes_are_single_use_and_tokens_revoke_by_family,
        device_codes_are_decided_once,
        tokens_are_written_in_batches,
        writes_that_read_first_survive_concurrent_writers,
    ],
    audit: [
        every_audited_operation_appends_one_entry,
        entries_page_and_filter,
        concurrent_appends_form_one_chain,
        concurrent_appends_from_two_instances,
        concurrent_mixed_changes,
        append_only_triggers_block_update_and_delete,
        edited_entry_is_named,
        other_tampering_is_detected,
        truncated_or_rewritten_tail_is_detected,
        verify_while_appending,
    ],
    audit_keyed: [
        recomputed_edit_verifies_unkeyed_but_not_keyed,
        existing_chain_is_keyed_at_a_recorded_point,
        moving_the_keying_point_is_refused,
    ],
    atomicity: [
        failed_create_user_leaves_nothing,
        failed_audit_append_rolls_back_the_change,
        failed_bootstrap_keeps_the_token,
    ],
    bootstrap: [
        bootstrap_token_lifecycle,
    ],
    migrations: [
        reopening_is_idempotent,
        newer_schema_is_refused,
    ],
    mfa: [
        mfa_methods_lifecycle,
        concurrent_use_of_one_step_is_accepted_once,
        recovery_codes_are_single_use,
        settings_and_registration_prompt,
        temporary_access_pass_lifecycle,
        one_time_codes_are_single_use_bound_and_limited,
        reregistration_removes_methods_and_sessions_atomically,
    ],
    webauthn: [
        credentials_lifecycle,
        ceremonies_are_single_use_bound_and_expire,
    ],
    retention: [
        expired_rows_go_in_batches_and_live_rows_stay,
    ],
    risk: [
        login_flow_lifecycle,
        risk_detections_round_trip_and_close,
        password_change_remediates_leaked_credentials,
        banned_terms_revision_moves_on_every_change,
    ],
}

/// Not backend-specific: URLs this build cannot serve are refused before any connection.
#[tokio::test]
async fn unsupported_url_is_refused_without_echoing_credentials() {
    use trustplane_store::StoreError;
    for url in [
        "mysql://root:hunter2@db.internal:3306/trustplane",
        "mariadb://root:hunter2@db.internal/trustplane",
        "mssql://sa:hunter2@db.internal/trustplane",
        "oracle://sa:hunter2@db.internal:1521/XE?password=hunter2",
    ] {
        let err = trustplane_store::open(url).await.unwrap_err();
        assert!(
            matches!(err, StoreError::UnsupportedUrl(_)),
            "{url}: {err:?}"
        );
        assert_eq!(err.code(), "unsupported_database_url");
        let shown = format!("{err} {err:?}");
        for secret in ["hunter2", "root:", "sa:", "db.internal"] {
            assert!(
                !shown.contains(secret),
                "{url}: leaks {secret:?} in {shown}"
            );
        }
    }
}

#[test]
fn database_name_replaces_the_path_of_the_admin_url() {
    use support::with_database;
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "tp_x"),
        "postgres://postgres@127.0.0.1:5432/tp_x"
    );
    assert_eq!(
        with_database("postgresql://u:p@h/test?sslmode=disable", "tp_x"),
        "postgresql://u:p@h/tp_x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://h:5432", "tp_x"),
        "postgres://h:5432/tp_x"
    );
}
