//! Candidate index: which policies can possibly apply to a request, found without scanning.
//!
//! Two levels: first the target (all applications, one application, a user action, an
//! authentication context), then within it the user include (all users, the user id, each
//! group, each role). A policy is a candidate when it is listed under one of the request's
//! target keys *and* one of its user keys; every candidate is then checked in full (exclusions,
//! conditions), so the index only has to be a superset of the applicable policies. Disabled
//! policies are not indexed.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::compiled::{CompiledPolicy, TargetScope, role_bit};
use super::context::TargetRequest;
use super::model::{PolicyState, UserAction};

/// A small multiplicative hasher (after rustc's FxHash). Keys are ids written by
/// administrators and looked up with ids from the directory, not attacker-chosen input, so a
/// DoS-resistant hash is not needed and SipHash would cost most of the lookup time.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(b));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Policies by user include, within one target key.
#[derive(Debug, Clone, Default)]
struct UserBucket {
    all: Vec<u32>,
    users: FxMap<u128, Vec<u32>>,
    /// While building: (group, policy) pairs; then sorted by group.
    group_pairs: Vec<(u128, u32)>,
    /// Sorted by group id: merge-walked against the request's sorted groups.
    groups: Vec<(u128, Vec<u32>)>,
    /// For large buckets: group id -> position in `groups`.
    group_map: FxMap<u128, u32>,
    roles: [Vec<u32>; 4],
}

/// Above this many groups a bucket also gets a hash map (probing it beats binary search).
const MAP_ABOVE: usize = 64;

impl UserBucket {
    fn insert(&mut self, p: &CompiledPolicy, i: u32) {
        let u = &p.users;
        if u.all {
            self.all.push(i);
            return;
        }
        for id in &u.users {
            self.users.entry(*id).or_default().push(i);
        }
        for id in &u.groups {
            self.group_pairs.push((*id, i));
        }
        for (slot, list) in self.roles.iter_mut().enumerate() {
            if u.roles & (1 << slot) != 0 {
                list.push(i);
            }
        }
    }

    fn finish(&mut self) {
        let mut pairs = std::mem::take(&mut self.group_pairs);
        pairs.sort_unstable();
        for (g, i) in pairs {
            match self.groups.last_mut() {
                Some((last, v)) if *last == g => v.push(i),
                _ => self.groups.push((g, vec![i])),
            }
        }
        if self.groups.len() > MAP_ABOVE {
            self.group_map = self
                .groups
                .iter()
                .enumerate()
                .map(|(k, (g, _))| (*g, u32::try_from(k).unwrap_or(u32::MAX)))
                .collect();
        }
    }

    fn collect(&self, who: &Who, out: &mut Vec<u32>) {
        out.extend_from_slice(&self.all);
        if let Some(v) = self.users.get(&who.user) {
            out.extend_from_slice(v);
        }
        for (slot, list) in self.roles.iter().enumerate() {
            if who.roles & (1 << slot) != 0 {
                out.extend_from_slice(list);
            }
        }
        // Probe whichever side is smaller: the bucket's groups in the request's group set, or
        // the request's groups in the bucket (sorted).
        let mine = &self.groups;
        if mine.len() <= who.groups.len() {
            for (g, v) in mine {
                if who.groups.contains(*g) {
                    out.extend_from_slice(v);
                }
            }
        } else if !self.group_map.is_empty() {
            for g in who.groups.list() {
                if let Some((_, v)) = self.group_map.get(g).and_then(|k| mine.get(*k as usize)) {
                    out.extend_from_slice(v);
                }
            }
        } else {
            for g in who.groups.list() {
                if let Some((_, v)) = mine
                    .binary_search_by(|(x, _)| x.cmp(g))
                    .ok()
                    .and_then(|k| mine.get(k))
                {
                    out.extend_from_slice(v);
                }
            }
        }
    }
}

/// The request's groups: a small open-addressing hash set (built in one pass, no sorting),
/// plus the list itself.
pub(crate) struct GroupSet {
    slots: Vec<u128>,
    has_nil: bool,
    list: Vec<u128>,
}

fn slot_of(g: u128, mask: usize) -> usize {
    let mut h = FxHasher::default();
    h.write_u128(g);
    (h.finish() >> 32) as usize & mask
}

impl GroupSet {
    pub fn new(groups: impl Iterator<Item = u128>) -> GroupSet {
        let list: Vec<u128> = groups.collect();
        let cap = (list.len() * 2).next_power_of_two().max(8);
        let mut set = GroupSet {
            slots: vec![0; cap],
            has_nil: false,
            list: Vec::with_capacity(list.len()),
        };
        let mask = cap - 1;
        for g in list {
            if g == 0 {
                if !set.has_nil {
                    set.has_nil = true;
                    set.list.push(g);
                }
                continue;
            }
            let mut i = slot_of(g, mask);
            loop {
                match set.slots.get(i).copied() {
                    Some(0) => {
                        if let Some(s) = set.slots.get_mut(i) {
                            *s = g;
                        }
                        set.list.push(g);
                        break;
                    }
                    Some(x) if x == g => break,
                    _ => i = (i + 1) & mask,
                }
            }
        }
        set
    }

    pub fn contains(&self, g: u128) -> bool {
        if g == 0 {
            return self.has_nil;
        }
        let mask = self.slots.len() - 1;
        let mut i = slot_of(g, mask);
        loop {
            match self.slots.get(i).copied() {
                Some(x) if x == g => return true,
                Some(0) | None => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// The distinct groups, in input order.
    pub fn list(&self) -> &[u128] {
        &self.list
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether any of these sorted ids is in the set.
    pub fn intersects(&self, sorted: &[u128]) -> bool {
        if sorted.len() <= self.list.len() {
            sorted.iter().any(|g| self.contains(*g))
        } else {
            self.list.iter().any(|g| sorted.binary_search(g).is_ok())
        }
    }
}

/// The user side of a request, prepared for lookups (groups sorted).
pub(crate) struct Who<'a> {
    pub user: u128,
    pub groups: &'a GroupSet,
    pub roles: u8,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    all_apps: UserBucket,
    apps: FxMap<String, UserBucket>,
    actions: Vec<(UserAction, UserBucket)>,
    auth_contexts: FxMap<String, UserBucket>,
}

impl Index {
    pub fn build(policies: &[CompiledPolicy]) -> Index {
        let mut ix = Index::default();
        for (i, p) in policies.iter().enumerate() {
            if p.state == PolicyState::Disabled {
                continue;
            }
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            match &p.target {
                TargetScope::Applications { all: true, .. } => ix.all_apps.insert(p, i),
                TargetScope::Applications { include, .. } => {
                    for app in include {
                        ix.apps.entry(app.clone()).or_default().insert(p, i);
                    }
                }
                TargetScope::UserActions(actions) => {
                    for a in actions {
                        match ix.actions.iter_mut().find(|(k, _)| k == a) {
                            Some((_, b)) => b.insert(p, i),
                            None => {
                                let mut b = UserBucket::default();
                                b.insert(p, i);
                                ix.actions.push((*a, b));
                            }
                        }
                    }
                }
                TargetScope::AuthContexts(ctxs) => {
                    for c in ctxs {
                        ix.auth_contexts.entry(c.clone()).or_default().insert(p, i);
                    }
                }
            }
        }
        ix.all_apps.finish();
        for b in ix.apps.values_mut() {
            b.finish();
        }
        for (_, b) in &mut ix.actions {
            b.finish();
        }
        for b in ix.auth_contexts.values_mut() {
            b.finish();
        }
        ix
    }

    /// Indices of the candidate policies, sorted and de-duplicated (so in policy id order).
    pub fn candidates(&self, target: &TargetRequest, who: &Who, out: &mut Vec<u32>) {
        match target {
            TargetRequest::Application {
                id,
                authentication_contexts,
                ..
            } => {
                self.all_apps.collect(who, out);
                if let Some(b) = self.apps.get(id.as_str()) {
                    b.collect(who, out);
                }
                for c in authentication_contexts {
                    if let Some(b) = self.auth_contexts.get(c.as_str()) {
                        b.collect(who, out);
                    }
                }
            }
            TargetRequest::UserAction(a) => {
                if let Some((_, b)) = self.actions.iter().find(|(k, _)| k == a) {
                    b.collect(who, out);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }
}

/// Role bits of a list of roles (see [`role_bit`]).
pub(crate) fn roles_mask(roles: &[crate::identity::Role]) -> u8 {
    roles.iter().fold(0, |m, r| m | role_bit(*r))
}

#[cfg(test)]
mod tests {
    use super::GroupSet;

    #[test]
    fn group_set_membership() {
        // Many ids hashing into a small table, duplicates and the nil id.
        let ids: Vec<u128> = (0..200u128).map(|i| i * 0x1_0000_0000_0000_0001).collect();
        let set = GroupSet::new(ids.iter().copied().chain(ids.iter().copied()));
        assert_eq!(set.len(), 200);
        assert!(ids.iter().all(|g| set.contains(*g)));
        assert!(!set.contains(7));
        assert!(!set.contains(u128::MAX));
        let empty = GroupSet::new(std::iter::empty());
        assert!(!empty.contains(0) && !empty.contains(1));
        assert!(set.intersects(&[3, 0x1_0000_0000_0000_0001]));
        assert!(!set.intersects(&[3, 5]));
        let big: Vec<u128> = (1000..5000).collect();
        assert!(!set.intersects(&big));
        assert!(GroupSet::new([4000u128].into_iter()).intersects(&big));
    }
}
