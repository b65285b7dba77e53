//! The tamper-evident audit log: each entry carries the hash of the previous one, so an
//! edited, removed or re-ordered entry breaks the chain from that point on.
//!
//! Entries from the chain's keying point on ([`ChainKey::keyed_from`]) are hashed with
//! HMAC-SHA256 under a key derived from the master key, so that whoever can write the
//! database but does not hold the master key cannot recompute the chain after an edit.
//! Entries before it (written by versions without keying) keep their plain SHA-256. Signed
//! [`Checkpoint`]s of the chain head, kept outside the database, reveal a tail that was cut
//! off (the head moved back).

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who performed an administrative change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `user:<uuid>`, `token:<uuid>`, `cli:<os user>`, `bootstrap`, `anonymous` or `system`.
    pub id: String,
    /// Human-readable name (login name, token name).
    pub name: String,
    /// Client address, when the change came over the network.
    pub ip: Option<String>,
}

impl Actor {
    pub fn user(id: uuid::Uuid, username: &str, ip: Option<String>) -> Self {
        Actor {
            id: format!("user:{id}"),
            name: username.to_string(),
            ip,
        }
    }
    pub fn token(id: uuid::Uuid, name: &str, ip: Option<String>) -> Self {
        Actor {
            id: format!("token:{id}"),
            name: name.to_string(),
            ip,
        }
    }
    pub fn cli(os_user: &str) -> Self {
        Actor {
            id: format!("cli:{os_user}"),
            name: format!("{os_user} (command line)"),
            ip: None,
        }
    }
    /// Someone not signed in (a self-service reset, for instance), known only by address.
    pub fn anonymous(ip: Option<String>) -> Self {
        Actor {
            id: "anonymous".into(),
            name: "not signed in".into(),
            ip,
        }
    }
    pub fn system() -> Self {
        Actor {
            id: "system".into(),
            name: "trustplane".into(),
            ip: None,
        }
    }
}

/// An administrative change before it is appended: the store adds sequence, time and hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditDraft {
    pub actor: Actor,
    /// Dotted action name, e.g. `user.create`, `group.member.add`.
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    /// JSON text of the object before / after the change.
    pub before: Option<String>,
    pub after: Option<String>,
}

impl AuditDraft {
    pub fn new(actor: &Actor, action: &str, target_type: &str, target_id: Option<String>) -> Self {
        AuditDraft {
            actor: actor.clone(),
            action: action.into(),
            target_type: target_type.into(),
            target_id,
            before: None,
            after: None,
        }
    }
    pub fn before<T: Serialize>(mut self, v: &T) -> Self {
        self.before = serde_json::to_string(v).ok();
        self
    }
    pub fn after<T: Serialize>(mut self, v: &T) -> Self {
        self.after = serde_json::to_string(v).ok();
        self
    }
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    /// Unix time in milliseconds (UTC).
    pub at_ms: i64,
    pub actor_id: String,
    pub actor_name: String,
    pub ip: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The unambiguous (length-prefixed) encoding of every field except `hash` itself.
fn encode(e: &AuditEntry, mut out: impl FnMut(&[u8])) {
    let mut field = |bytes: Option<&[u8]>| match bytes {
        None => out(&[0u8]),
        Some(b) => {
            out(&[1u8]);
            out(&(b.len() as u64).to_be_bytes());
            out(b);
        }
    };
    field(Some(&e.seq.to_be_bytes()));
    field(Some(&e.at_ms.to_be_bytes()));
    field(Some(e.actor_id.as_bytes()));
    field(Some(e.actor_name.as_bytes()));
    field(e.ip.as_deref().map(str::as_bytes));
    field(Some(e.action.as_bytes()));
    field(Some(e.target_type.as_bytes()));
    field(e.target_id.as_deref().map(str::as_bytes));
    field(e.before.as_deref().map(str::as_bytes));
    field(e.after.as_deref().map(str::as_bytes));
    field(Some(e.prev_hash.as_bytes()));
}

/// The unkeyed hash of an entry (entries before the keying point): SHA-256 of its encoding.
pub fn entry_hash(e: &AuditEntry) -> String {
    let mut h = Sha256::new();
    encode(e, |b| h.update(b));
    hex::encode(h.finalize())
}

fn hmac(key: &[u8; 32]) -> Hmac<Sha256> {
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC accepts keys of any length.
        Err(_) => unreachable!("HMAC-SHA256 rejected a 32-byte key"),
    }
}

/// The keyed hash of an entry: HMAC-SHA256 of its encoding under the chain key.
pub fn entry_mac(key: &[u8; 32], e: &AuditEntry) -> String {
    let mut m = hmac(key);
    encode(e, |b| m.update(b));
    hex::encode(m.finalize().into_bytes())
}

/// The chain key and the first entry hashed with it.
#[derive(Clone, PartialEq, Eq)]
pub struct ChainKey {
    pub key: [u8; 32],
    pub keyed_from: i64,
}

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChainKey(<redacted>, keyed_from {})", self.keyed_from)
    }
}

impl ChainKey {
    /// The hash entry `e` must carry.
    pub fn hash_of(key: Option<&ChainKey>, e: &AuditEntry) -> String {
        match key {
            Some(k) if e.seq >= k.keyed_from => entry_mac(&k.key, e),
            _ => entry_hash(e),
        }
    }

    /// The MAC that binds an archive point (the last archived entry's sequence number and
    /// hash) to the key, so that nobody without the key can move it to hide removed entries.
    pub fn archive_mac(key: &[u8; 32], seq: i64, hash: &str) -> String {
        let mut m = hmac(key);
        m.update(b"trustplane audit chain archived through ");
        m.update(&seq.to_be_bytes());
        m.update(hash.as_bytes());
        hex::encode(m.finalize().into_bytes())
    }

    /// The MAC that binds the keying point to the key, so that it cannot be moved (to make
    /// keyed entries look like unkeyed ones) without the key.
    pub fn marker_mac(key: &[u8; 32], keyed_from: i64) -> String {
        let mut m = hmac(key);
        m.update(b"trustplane audit chain keyed from ");
        m.update(&keyed_from.to_be_bytes());
        hex::encode(m.finalize().into_bytes())
    }
}

/// A signed statement of the chain head at a time, kept outside the database (a JSON-lines
/// file, the log). A later chain whose head is below `seq`, or whose entry `seq` has another
/// hash, was truncated or rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    /// Unix time in milliseconds.
    pub at_ms: i64,
    /// HMAC-SHA256 (hex) of the fields above under the checkpoint key.
    pub mac: String,
}

impl Checkpoint {
    fn mac_of(key: &[u8; 32], seq: i64, hash: &str, at_ms: i64) -> String {
        let mut m = hmac(key);
        m.update(b"trustplane audit checkpoint\0");
        m.update(&seq.to_be_bytes());
        m.update(&at_ms.to_be_bytes());
        m.update(&(hash.len() as u64).to_be_bytes());
        m.update(hash.as_bytes());
        hex::encode(m.finalize().into_bytes())
    }

    pub fn sign(key: &[u8; 32], seq: i64, hash: &str, at_ms: i64) -> Checkpoint {
        Checkpoint {
            seq,
            hash: hash.to_string(),
            at_ms,
            mac: Self::mac_of(key, seq, hash, at_ms),
        }
    }

    /// Whether the checkpoint was signed with `key` and not changed since (constant time).
    pub fn authentic(&self, key: &[u8; 32]) -> bool {
        use subtle::ConstantTimeEq;
        let want = Self::mac_of(key, self.seq, &self.hash, self.at_ms);
        bool::from(want.as_bytes().ct_eq(self.mac.as_bytes()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("audit entry {seq}: its content does not match its hash (edited)")]
    HashMismatch { seq: i64 },
    #[error(
        "audit entry {seq}: prev_hash does not match the previous entry (removed or re-ordered entries)"
    )]
    BrokenLink { seq: i64 },
    #[error("audit entry {seq}: expected sequence number {expected} (entries missing)")]
    Gap { seq: i64, expected: i64 },
}

impl ChainError {
    pub fn seq(&self) -> i64 {
        match self {
            ChainError::HashMismatch { seq }
            | ChainError::BrokenLink { seq }
            | ChainError::Gap { seq, .. } => *seq,
        }
    }
}

/// Incremental chain verifier: feed entries in sequence order.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    prev_hash: String,
    next_seq: i64,
    pub checked: u64,
    key: Option<ChainKey>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            prev_hash: GENESIS_HASH.to_string(),
            next_seq: 1,
            checked: 0,
            key: None,
        }
    }
}

impl ChainVerifier {
    /// A verifier for a chain keyed from `key.keyed_from` on.
    pub fn keyed(key: Option<ChainKey>) -> Self {
        ChainVerifier {
            key,
            ..Default::default()
        }
    }

    /// A verifier that continues after an archived prefix: the next entry must be `seq + 1`
    /// and link to `hash` (the last archived entry's).
    pub fn resume(key: Option<ChainKey>, seq: i64, hash: &str) -> Self {
        ChainVerifier {
            key,
            prev_hash: hash.to_string(),
            next_seq: seq + 1,
            checked: 0,
        }
    }

    /// The sequence number of the last entry accepted (or the archive point resumed from).
    pub fn last_seq(&self) -> i64 {
        self.next_seq - 1
    }

    pub fn push(&mut self, e: &AuditEntry) -> Result<(), ChainError> {
        if e.seq != self.next_seq {
            return Err(ChainError::Gap {
                seq: e.seq,
                expected: self.next_seq,
            });
        }
        if e.prev_hash != self.prev_hash {
            return Err(ChainError::BrokenLink { seq: e.seq });
        }
        if ChainKey::hash_of(self.key.as_ref(), e) != e.hash {
            return Err(ChainError::HashMismatch { seq: e.seq });
        }
        self.prev_hash = e.hash.clone();
        self.next_seq += 1;
        self.checked += 1;
        Ok(())
    }
}

/// Builds the next entry of the chain from a draft (unkeyed).
pub fn seal(draft: &AuditDraft, seq: i64, at_ms: i64, prev_hash: &str) -> AuditEntry {
    seal_with(None, draft, seq, at_ms, prev_hash)
}

/// Builds the next entry of the chain from a draft, hashed with `key` from its keying point.
pub fn seal_with(
    key: Option<&ChainKey>,
    draft: &AuditDraft,
    seq: i64,
    at_ms: i64,
    prev_hash: &str,
) -> AuditEntry {
    let mut e = AuditEntry {
        seq,
        at_ms,
        actor_id: draft.actor.id.clone(),
        actor_name: draft.actor.name.clone(),
        ip: draft.actor.ip.clone(),
        action: draft.action.clone(),
        target_type: draft.target_type.clone(),
        target_id: draft.target_id.clone(),
        before: draft.before.clone(),
        after: draft.after.clone(),
        prev_hash: prev_hash.to_string(),
        hash: String::new(),
    };
    e.hash = ChainKey::hash_of(key, &e);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut out = Vec::new();
        let mut prev = GENESIS_HASH.to_string();
        for i in 1..=n {
            let d = AuditDraft::new(
                &Actor::cli("root"),
                "user.create",
                "user",
                Some(i.to_string()),
            )
            .after(&serde_json::json!({"username": format!("u{i}")}));
            let e = seal(&d, i, 1_000 * i, &prev);
            prev = e.hash.clone();
            out.push(e);
        }
        out
    }

    fn verify(entries: &[AuditEntry]) -> Result<u64, ChainError> {
        let mut v = ChainVerifier::default();
        for e in entries {
            v.push(e)?;
        }
        Ok(v.checked)
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
        assert_eq!(verify(&[]), Ok(0));
    }

    #[test]
    fn edited_entry_is_named() {
        let mut c = chain(5);
        c[2].after = Some(r#"{"username":"mallory"}"#.into());
        assert_eq!(verify(&c), Err(ChainError::HashMismatch { seq: 3 }));
    }

    #[test]
    fn rehashed_edit_breaks_the_next_link() {
        let mut c = chain(5);
        c[2].actor_name = "someone else".into();
        c[2].hash = entry_hash(&c[2]);
        assert_eq!(verify(&c), Err(ChainError::BrokenLink { seq: 4 }));
    }

    #[test]
    fn removed_entry_is_a_gap() {
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(
            verify(&c),
            Err(ChainError::Gap {
                seq: 3,
                expected: 2
            })
        );
    }

    fn keyed_chain(n: i64, key: &ChainKey) -> Vec<AuditEntry> {
        let mut out = Vec::new();
        let mut prev = GENESIS_HASH.to_string();
        for i in 1..=n {
            let d = AuditDraft::new(&Actor::cli("root"), "user.create", "user", None);
            let e = seal_with(Some(key), &d, i, 1_000 * i, &prev);
            prev = e.hash.clone();
            out.push(e);
        }
        out
    }

    #[test]
    fn keyed_chain_cannot_be_recomputed_without_the_key() {
        let key = ChainKey {
            key: [7u8; 32],
            keyed_from: 3,
        };
        let mut c = keyed_chain(5, &key);
        let mut v = ChainVerifier::keyed(Some(key.clone()));
        for e in &c {
            v.push(e).unwrap();
        }
        // Entries before the keying point are plain SHA-256, later ones are not.
        assert_eq!(c[1].hash, entry_hash(&c[1]));
        assert_ne!(c[2].hash, entry_hash(&c[2]));
        // The attacker edits entry 2 and recomputes every later hash the unkeyed way.
        c[1].actor_name = "someone else".into();
        let mut prev = c[0].hash.clone();
        for e in c.iter_mut().skip(1) {
            e.prev_hash = prev.clone();
            e.hash = entry_hash(e);
            prev = e.hash.clone();
        }
        assert_eq!(
            verify(&c),
            Ok(5),
            "the unkeyed recomputation is self-consistent"
        );
        let mut v = ChainVerifier::keyed(Some(key));
        let err = c.iter().try_for_each(|e| v.push(e)).unwrap_err();
        assert_eq!(err, ChainError::HashMismatch { seq: 3 });
    }

    #[test]
    fn checkpoints_are_authentic_only_unchanged_and_under_their_key() {
        let cp = Checkpoint::sign(&[1u8; 32], 42, "abc", 1_000);
        assert!(cp.authentic(&[1u8; 32]));
        assert!(!cp.authentic(&[2u8; 32]));
        let mut moved = cp.clone();
        moved.seq = 41;
        assert!(!moved.authentic(&[1u8; 32]));
        let back: Checkpoint = serde_json::from_str(&serde_json::to_string(&cp).unwrap()).unwrap();
        assert!(back.authentic(&[1u8; 32]));
        assert_ne!(
            ChainKey::marker_mac(&[1u8; 32], 5),
            ChainKey::marker_mac(&[1u8; 32], 6)
        );
    }

    proptest! {
        #[test]
        fn any_single_field_edit_is_detected(idx in 0usize..6, which in 0u8..5, text in "[a-z]{1,8}") {
            let mut c = chain(6);
            let e = &mut c[idx];
            match which {
                0 => e.action.push_str(&text),
                1 => e.actor_id.push_str(&text),
                2 => e.at_ms += 1,
                3 => e.target_id = Some(text.clone()),
                _ => e.before = Some(text.clone()),
            }
            let err = verify(&c).unwrap_err();
            prop_assert_eq!(err.seq(), idx as i64 + 1);
        }
    }
}
