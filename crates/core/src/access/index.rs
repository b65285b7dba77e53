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
    roles: [Vec<u32>; 4],
}

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
        // Both sides are sorted: binary-search the bucket when it is much larger than the
        // request's groups, merge-walk otherwise.
        let (mine, theirs) = (&self.groups, who.groups);
        if mine.len() > 8 * theirs.len() {
            for g in theirs {
                if let Ok(k) = mine.binary_search_by(|(x, _)| x.cmp(g)) {
                    out.extend_from_slice(&mine[k].1);
                }
            }
        } else {
            let (mut a, mut b) = (0, 0);
            while let (Some((g, v)), Some(h)) = (mine.get(a), theirs.get(b)) {
                match g.cmp(h) {
                    std::cmp::Ordering::Less => a += 1,
                    std::cmp::Ordering::Greater => b += 1,
                    std::cmp::Ordering::Equal => {
                        out.extend_from_slice(v);
                        a += 1;
                        b += 1;
                    }
                }
            }
        }
    }
}

/// The user side of a request, prepared for lookups (groups sorted).
pub(crate) struct Who<'a> {
    pub user: u128,
    pub groups: &'a [u128],
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
