//! Mapping sqlx errors to [`StoreError`]s.

use crate::StoreError;

pub(crate) fn db(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(ref d) if d.message().contains("append-only") => {
            StoreError::Database("the audit log is append-only".into())
        }
        sqlx::Error::Database(ref d) if crate::health::cannot_write(d.code().as_deref()) => {
            StoreError::Unavailable(format!("the database cannot write: {}", d.message()))
        }
        other => StoreError::Database(other.to_string()),
    }
}

/// Maps a unique-constraint violation to `Conflict(what)`.
pub(crate) fn conflict(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what),
        _ => db(e),
    }
}
