//! Device lookups at fleet size (issue 15): 100,000 devices on PostgreSQL (or SQLite), then the
//! per-request lookup by certificate fingerprint (what forward-auth does for every request
//! that presents a certificate) and the console's first page and a filtered page. Prints
//! p50/p99 per query; writes nothing else.
//!
//!     TRUSTPLANE_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!         cargo bench -p trustplane-store --bench devices [-- sqlite]

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};
use trustplane_store::prelude::*;
use trustplane_store::{DeviceQuery, SqlStore};

const DEVICES: i64 = 100_000;
const USERS: i64 = 1_000;

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn report(name: &str, v: Vec<Duration>) {
    let n = v.len();
    println!(
        "{name:<42} n={n:>6}  p50 {:>8.3} ms  p99 {:>8.3} ms",
        pct(v.clone(), 0.50).as_secs_f64() * 1e3,
        pct(v, 0.99).as_secs_f64() * 1e3
    );
}

async fn fill(store: &SqlStore, postgres: bool) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    // Users and devices in bulk, with SQL that both backends run (recursive counter).
    let series = |n: i64| {
        format!(
            "WITH RECURSIVE s(i) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT i + 1 FROM s WHERE i < {n})"
        )
    };
    let hex_id = if postgres {
        "lpad(to_hex(i), 12, '0')"
    } else {
        "printf('%012x', i)"
    };
    let fp = if postgres {
        "lpad(to_hex(i), 64, '0')"
    } else {
        "printf('%064x', i)"
    };
    let users = format!(
        "{} INSERT INTO users (id, username, username_folded, display_name, email, status, \
         password_hash, password_must_change, created_at, updated_at) \
         SELECT '00000000-0000-7000-8000-' || {hex_id}, 'user' || i, 'user' || i, 'User ' || i, \
         NULL, 'enabled', NULL, 0, {now}, {now} FROM s",
        series(USERS)
    );
    sqlx::query(sqlx::AssertSqlSafe(users))
        .execute(store.pool())
        .await
        .unwrap();
    let owner = if postgres {
        "'00000000-0000-7000-8000-' || lpad(to_hex(1 + i % 1000), 12, '0')"
    } else {
        "'00000000-0000-7000-8000-' || printf('%012x', 1 + i % 1000)"
    };
    let devices = format!(
        "{} INSERT INTO devices (id, owner_id, display_name, platform, os_version, hostname, \
         manufacturer, model, trust_type, state, cert_serial, cert_fingerprint, cert_not_after, \
         certificate_pem, first_seen, last_seen, last_report_at, compliance_json, posture_json, \
         machine_risk) \
         SELECT '00000000-0000-7000-9000-' || {hex_id}, {owner}, 'laptop ' || i, 'linux', '12', \
         'host' || i, NULL, NULL, 'registered', 'enabled', {hex_id}, {fp}, {}, '', {now}, \
         {now} - (i % 90) * CAST(86400000 AS BIGINT), NULL, \
         CASE WHEN i % 10 = 0 THEN '{{\"state\":\"non_compliant\",\"since\":\"2026-12-01T00:00:00Z\"}}' \
         ELSE '{{\"state\":\"compliant\"}}' END, NULL, 'none' FROM s",
        series(DEVICES),
        now + 90 * 86_400_000
    );
    sqlx::query(sqlx::AssertSqlSafe(devices))
        .execute(store.pool())
        .await
        .unwrap();
    if postgres {
        sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
    }
}

fn main() {
    let sqlite = std::env::args().any(|a| a == "sqlite");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (store, postgres) = if sqlite {
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            (SqlStore::connect(&url).await.unwrap(), false)
        } else {
            let admin = std::env::var("TRUSTPLANE_TEST_DATABASE_URL")
                .expect("set TRUSTPLANE_TEST_DATABASE_URL (or pass `sqlite`)");
            let url = trustplane_store::testing::fresh_postgres_database(&admin, "tp_bench")
                .await
                .unwrap();
            (SqlStore::connect(&url).await.unwrap(), true)
        };
        let t = Instant::now();
        fill(&store, postgres).await;
        println!(
            "{} devices of {} users on {} in {:.1} s",
            DEVICES,
            USERS,
            if postgres { "PostgreSQL" } else { "SQLite" },
            t.elapsed().as_secs_f64()
        );
        let mut v = Vec::new();
        for k in 0..20_000u64 {
            let i = 1 + (k * 7919) % DEVICES as u64;
            let fp = format!("{i:064x}");
            let t = Instant::now();
            let d = store.device_by_fingerprint(&fp).await.unwrap();
            v.push(t.elapsed());
            assert!(d.is_some());
        }
        report("device by certificate fingerprint", v);
        let mut v = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            let page = store
                .list_devices(&DeviceQuery {
                    limit: 50,
                    ..Default::default()
                })
                .await
                .unwrap();
            v.push(t.elapsed());
            assert_eq!(page.len(), 50);
        }
        report("devices page (newest 50)", v);
        let mut v = Vec::new();
        let mut before = None;
        for _ in 0..200 {
            let t = Instant::now();
            let page = store
                .list_devices(&DeviceQuery {
                    limit: 50,
                    before,
                    compliance: Some("non_compliant".into()),
                    ..Default::default()
                })
                .await
                .unwrap();
            v.push(t.elapsed());
            before = page.last().map(|d| d.id);
        }
        report("non-compliant devices, paging on", v);
        let mut v = Vec::new();
        for k in 0..200 {
            let t = Instant::now();
            let page = store
                .list_devices(&DeviceQuery {
                    limit: 50,
                    search: Some(format!("host{}", 100 + k)),
                    ..Default::default()
                })
                .await
                .unwrap();
            v.push(t.elapsed());
            assert!(!page.is_empty());
        }
        report("search by host name", v);
    });
}
