//! What the queries share: SQL assembly (`safe`, `prefixed`, the `Where` builder) and the
//! handling of text and times on their way into SQL.

use super::db;
use crate::Result;
use crate::rows::ms;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, FromRow};
use time::OffsetDateTime;

/// PostgreSQL text cannot hold NUL, SQLite's can. Stored names never contain one (validation
/// refuses control characters), so a lookup key with NUL finds nothing on either backend
/// rather than failing on one.
pub(crate) fn has_nul(s: &str) -> bool {
    s.contains('\0')
}

/// Untrusted text that is logged as received (the sign-in log): NUL becomes U+FFFD on every
/// backend, so that recording an attempt never fails on PostgreSQL.
pub(super) fn loggable(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

pub(super) fn now_ms() -> i64 {
    ms(OffsetDateTime::now_utc())
}

/// `%s%` with LIKE's metacharacters escaped (escape character `\`). Case is kept: callers
/// lower-case it in Rust to match a column folded in Rust, or apply SQL `lower()` to both
/// sides. (Mixing the two fails for non-ASCII text on SQLite, whose `lower()` folds ASCII only.)
pub(crate) fn like_pattern(s: &str) -> String {
    let mut out = String::from("%");
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Marks SQL assembled in this crate as audited: every dynamic part is a constant column list
/// or a generated `$n` placeholder; values are always bound, never interpolated.
pub(crate) fn safe(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}

/// `a, b` -> `u.a, u.b`.
pub(super) fn prefixed(cols: &str, alias: &str) -> String {
    cols.split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

enum Arg {
    Text(String),
    Int(i64),
}

/// A small WHERE-clause builder: `?` in each condition becomes the next `$n`.
#[derive(Default)]
pub(super) struct Where {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

impl Where {
    pub(super) fn clause(&mut self, c: &str) {
        self.clauses.push(c.to_string());
    }
    pub(super) fn push(&mut self, cond: &str, v: String) {
        self.args.push(Arg::Text(v));
        self.clauses
            .push(cond.replace('?', &format!("${}", self.args.len())));
    }
    pub(super) fn push_i(&mut self, cond: &str, v: i64) {
        self.args.push(Arg::Int(v));
        self.clauses
            .push(cond.replace('?', &format!("${}", self.args.len())));
    }
    pub(super) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
    pub(super) async fn fetch_all<T>(self, sql: String, pool: &AnyPool) -> Result<Vec<T>>
    where
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        let mut q = sqlx::query_as::<_, T>(safe(sql));
        for a in self.args {
            q = match a {
                Arg::Text(s) => q.bind(s),
                Arg::Int(i) => q.bind(i),
            };
        }
        q.fetch_all(pool).await.map_err(db)
    }
}
