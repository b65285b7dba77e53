//! Keying of the audit chain. A store opened with [`SqlStore::keyed`] hashes new audit
//! entries with HMAC-SHA256 under a key derived from the master key, so that whoever can write
//! the database but does not hold the key cannot edit an entry and recompute the chain.
//!
//! Migration of existing chains: the first keyed open records a keying point (a settings row
//! `audit.chain_key` holding the first keyed sequence number and an HMAC that binds it to the
//! key) and, when the log already has entries, appends an `audit.chain.keyed` entry, the first
//! keyed one. Entries before it keep
//! their plain SHA-256 hashes and verify as before; entries from it on verify only with the
//! key. The keying point cannot be moved without the key. Once a database is keyed, a store
//! opened without the key refuses to append (it would break the chain) and to verify.

use crate::sql::{SqlStore, append_in, db};
use crate::{Result, StoreError};
use trustplane_core::audit::{Actor, AuditDraft, ChainKey};

const MARKER: &str = "audit.chain_key";

#[derive(Clone, Debug, Default)]
pub(crate) struct AuditKeying {
    key: Option<ChainKey>,
    /// The database's chain is keyed but this store has no key.
    locked: bool,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Marker {
    keyed_from: i64,
    mac: String,
}

fn locked_error() -> StoreError {
    StoreError::Unavailable(
        "the audit chain of this database is keyed with the master key; open it with the key \
         (trustplane does so from its secret key file)"
            .into(),
    )
}

async fn read_marker<'e, E>(ex: E) -> Result<Option<Marker>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE name = $1")
        .bind(MARKER)
        .fetch_optional(ex)
        .await
        .map_err(db)?;
    match row {
        None => Ok(None),
        Some((v,)) => serde_json::from_str(&v)
            .map(Some)
            .map_err(|_| StoreError::Corrupt("the audit chain keying point is malformed".into())),
    }
}

impl AuditKeying {
    pub(crate) async fn unkeyed(pool: &sqlx::AnyPool) -> Result<AuditKeying> {
        Ok(AuditKeying {
            key: None,
            locked: read_marker(pool).await?.is_some(),
        })
    }

    pub(crate) fn key(&self) -> Option<&ChainKey> {
        self.key.as_ref()
    }

    pub(crate) fn may_append(&self) -> Result<()> {
        if self.locked {
            return Err(locked_error());
        }
        Ok(())
    }

    pub(crate) fn verifying_key(&self) -> Result<Option<ChainKey>> {
        self.may_append()?;
        Ok(self.key.clone())
    }
}

impl SqlStore {
    /// Keys the audit chain with `key` (derived from the master key), recording the keying
    /// point on first use (see the module documentation). Refuses a keying point that does
    /// not match the key: another master key, or an edited database.
    pub async fn keyed(mut self, key: [u8; 32]) -> Result<SqlStore> {
        let mut tx = self.begin_write().await?;
        // Locks the chain head: concurrent appends and keyings serialise behind it.
        let (head,): (i64,) =
            sqlx::query_as("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq")
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
        match read_marker(&mut *tx).await? {
            Some(m) => {
                tx.rollback().await?;
                let want = ChainKey::marker_mac(&key, m.keyed_from);
                if !bool::from(subtle_eq(want.as_bytes(), m.mac.as_bytes())) {
                    return Err(StoreError::Corrupt(
                        "the audit chain's keying point does not match the master key (another \
                         secret key file, or the database was edited)"
                            .into(),
                    ));
                }
                self.audit = AuditKeying {
                    key: Some(ChainKey {
                        key,
                        keyed_from: m.keyed_from,
                    }),
                    locked: false,
                };
            }
            None => {
                let keyed_from = head + 1;
                let marker = Marker {
                    keyed_from,
                    mac: ChainKey::marker_mac(&key, keyed_from),
                };
                let value = serde_json::to_string(&marker)
                    .map_err(|e| StoreError::Database(e.to_string()))?;
                sqlx::query("INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3)")
                    .bind(MARKER)
                    .bind(value)
                    .bind(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                let keying = AuditKeying {
                    key: Some(ChainKey { key, keyed_from }),
                    locked: false,
                };
                // An upgrade says so in the log itself (a new, empty log needs no entry).
                if head > 0 {
                    let draft =
                        AuditDraft::new(&Actor::system(), "audit.chain.keyed", "audit_log", None)
                            .after(&serde_json::json!({
                                "keyed_from": keyed_from,
                                "unkeyed_entries": head,
                                "scheme": "HMAC-SHA256 under a key derived from the master key",
                            }));
                    append_in(&keying, &mut tx, &draft).await?;
                }
                tx.commit().await?;
                tracing::info!(keyed_from, "the audit chain is now keyed");
                self.audit = keying;
            }
        }
        Ok(self)
    }

    /// The first audit entry hashed with the chain key, when the store is keyed.
    pub fn audit_keyed_from(&self) -> Option<i64> {
        self.audit.key().map(|k| k.keyed_from)
    }
}

fn subtle_eq(a: &[u8], b: &[u8]) -> subtle::Choice {
    use subtle::ConstantTimeEq;
    a.ct_eq(b)
}
