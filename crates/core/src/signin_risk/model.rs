//! The bounded per-user and population state and the score.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use time::{Duration, OffsetDateTime};

/// Feature values kept per user per feature (the most frequent; the rest counted as "other").
const PER_USER_VALUES: usize = 12;
/// Distinct values kept per feature for the population (counts of evicted values are lost).
const POPULATION_VALUES: usize = 200_000;
/// Recent attempts remembered per source address, and addresses remembered.
const PER_SOURCE: usize = 64;
const SOURCES: usize = 200_000;
/// How far back the source signals look.
const SOURCE_WINDOW: Duration = Duration::hours(1);
/// Smoothing of a user's model toward the population (pseudo-observations).
const SMOOTHING: f64 = 1.0;

/// The features scored, in a fixed order.
pub const FEATURES: [&str; 7] = ["ip", "asn", "country", "city", "browser", "os", "device"];
/// Their weights (the address is very specific, so it counts for less; place and software are
/// what a user keeps).
const WEIGHTS: [f64; 7] = [0.4, 1.0, 1.2, 0.6, 0.8, 0.8, 0.5];

/// One sign-in attempt, as far as risk is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub at: Option<OffsetDateTime>,
    pub user: String,
    pub ip: String,
    pub asn: String,
    pub country: String,
    pub city: String,
    /// Browser family and major version ("Chrome 120").
    pub browser: String,
    /// OS family ("Windows", "iOS").
    pub os: String,
    /// desktop, mobile, tablet, bot, unknown.
    pub device: String,
    pub success: bool,
}

impl Attempt {
    fn values(&self) -> [&str; 7] {
        [
            &self.ip,
            &self.asn,
            &self.country,
            &self.city,
            &self.browser,
            &self.os,
            &self.device,
        ]
    }
}

/// The score of one attempt (higher is riskier) and what contributed most.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    pub score: f64,
    /// Feature names whose value was unfamiliar for this user (largest contribution first).
    pub unfamiliar: Vec<&'static str>,
    /// Distinct accounts the source address tried within the last hour.
    pub source_accounts: usize,
}

#[derive(Debug, Default, Clone)]
struct Counts {
    values: HashMap<String, u32>,
    other: u32,
    total: u32,
}

impl Counts {
    fn get(&self, v: &str) -> u32 {
        self.values.get(v).copied().unwrap_or(0)
    }

    fn add(&mut self, v: &str, cap: usize) {
        self.total = self.total.saturating_add(1);
        if let Some(c) = self.values.get_mut(v) {
            *c = c.saturating_add(1);
            return;
        }
        if self.values.len() >= cap {
            // Bounded: the least used value makes room (its count goes to "other").
            if let Some((k, c)) = self
                .values
                .iter()
                .min_by_key(|(_, c)| **c)
                .map(|(k, c)| (k.clone(), *c))
            {
                // A new value always enters (a user who moved becomes familiar there);
                // values used often stay.
                self.values.remove(&k);
                self.other = self.other.saturating_add(c);
            }
        }
        self.values.insert(v.to_string(), 1);
    }
}

#[derive(Debug, Default)]
struct User {
    features: [Counts; 7],
    successes: u32,
}

#[derive(Debug, Default)]
struct Source {
    recent: VecDeque<(OffsetDateTime, u64, bool)>,
}

/// The model: population and per-user counts, recent attempts per source address.
#[derive(Debug, Default)]
pub struct SigninRiskModel {
    population: [Counts; 7],
    users: HashMap<String, User>,
    sources: HashMap<String, Source>,
}

fn user_key(u: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    u.hash(&mut h);
    h.finish()
}

impl SigninRiskModel {
    pub fn new() -> SigninRiskModel {
        SigninRiskModel::default()
    }

    /// Users the model holds state for.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    fn population_p(&self, f: usize, v: &str) -> f64 {
        let c = &self.population[f];
        // Add-one smoothing over the distinct values seen (an unseen value is rare, not
        // impossible).
        (f64::from(c.get(v)) + 1.0) / (f64::from(c.total) + c.values.len() as f64 + 1.0)
    }

    /// Scores `a` against what was observed before it.
    pub fn score(&self, a: &Attempt) -> Scored {
        let user = self.users.get(&a.user);
        let mut parts: Vec<(f64, &'static str)> = Vec::with_capacity(7);
        let mut score = 0.0;
        for (f, v) in a.values().iter().enumerate() {
            if v.is_empty() {
                continue;
            }
            let p_pop = self.population_p(f, v);
            let p_user = match user {
                Some(u) if u.successes > 0 => {
                    let c = &u.features[f];
                    (f64::from(c.get(v)) + SMOOTHING * p_pop) / (f64::from(c.total) + SMOOTHING)
                }
                // No history: the user looks like the population.
                _ => p_pop,
            };
            let llr = WEIGHTS[f] * (p_pop.ln() - p_user.ln());
            score += llr;
            parts.push((llr, FEATURES[f]));
        }
        let (accounts, failures) = self.source_signals(a);
        // Many accounts from one address, and a high failure share, look like an attack.
        score += 1.5 * (accounts as f64).ln_1p() + 2.0 * failures;
        parts.sort_by(|x, y| y.0.total_cmp(&x.0));
        Scored {
            score,
            unfamiliar: parts
                .into_iter()
                .filter(|(llr, _)| *llr > 1.0)
                .map(|(_, n)| n)
                .collect(),
            source_accounts: accounts,
        }
    }

    /// Distinct other accounts and the failure share of the source's recent attempts.
    fn source_signals(&self, a: &Attempt) -> (usize, f64) {
        let (Some(s), Some(at)) = (self.sources.get(&a.ip), a.at) else {
            return (0, 0.0);
        };
        let me = user_key(&a.user);
        let recent: Vec<_> = s
            .recent
            .iter()
            .filter(|(t, _, _)| at - *t <= SOURCE_WINDOW)
            .collect();
        if recent.is_empty() {
            return (0, 0.0);
        }
        let mut users: Vec<u64> = recent
            .iter()
            .map(|(_, u, _)| *u)
            .filter(|u| *u != me)
            .collect();
        users.sort_unstable();
        users.dedup();
        let failed = recent.iter().filter(|(_, _, ok)| !ok).count();
        (users.len(), failed as f64 / recent.len() as f64)
    }

    /// Learns from `a` (after scoring it): successful sign-ins teach the user's model; every
    /// attempt teaches the population and its source's recent history.
    pub fn observe(&mut self, a: &Attempt) {
        for (f, v) in a.values().iter().enumerate() {
            if !v.is_empty() {
                self.population[f].add(v, POPULATION_VALUES);
            }
        }
        if a.success {
            let u = self.users.entry(a.user.clone()).or_default();
            u.successes = u.successes.saturating_add(1);
            for (f, v) in a.values().iter().enumerate() {
                if !v.is_empty() {
                    u.features[f].add(v, PER_USER_VALUES);
                }
            }
        }
        if let (Some(at), false) = (a.at, a.ip.is_empty()) {
            if self.sources.len() >= SOURCES && !self.sources.contains_key(&a.ip) {
                // Bounded: forget the sources whose newest attempt is outside the window.
                self.sources.retain(|_, s| {
                    s.recent
                        .back()
                        .is_some_and(|(t, _, _)| at - *t <= SOURCE_WINDOW)
                });
                if self.sources.len() >= SOURCES {
                    self.sources.clear();
                }
            }
            let s = self.sources.entry(a.ip.clone()).or_default();
            while s
                .recent
                .front()
                .is_some_and(|(t, _, _)| at - *t > SOURCE_WINDOW)
                || s.recent.len() >= PER_SOURCE
            {
                s.recent.pop_front();
            }
            s.recent.push_back((at, user_key(&a.user), a.success));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(min: i64) -> Option<OffsetDateTime> {
        Some(OffsetDateTime::UNIX_EPOCH + Duration::days(20_000) + Duration::minutes(min))
    }

    fn home(user: &str, min: i64) -> Attempt {
        Attempt {
            at: at(min),
            user: user.into(),
            ip: format!("198.51.100.{}", user.len()),
            asn: "3320".into(),
            country: "DE".into(),
            city: "Berlin".into(),
            browser: "Firefox 128".into(),
            os: "Linux".into(),
            device: "desktop".into(),
            success: true,
        }
    }

    fn trained() -> SigninRiskModel {
        let mut m = SigninRiskModel::new();
        for d in 0..60 {
            for (i, u) in ["ada", "bob", "cy", "dee", "eve5"].iter().enumerate() {
                let mut a = home(u, d * 1440 + i as i64);
                if *u == "bob" {
                    a.country = "FR".into();
                    a.city = "Paris".into();
                    a.asn = "3215".into();
                    a.browser = "Chrome 120".into();
                    a.os = "Windows".into();
                }
                m.observe(&a);
            }
        }
        m
    }

    #[test]
    fn an_unfamiliar_place_and_browser_score_higher_than_the_usual_ones() {
        let m = trained();
        let usual = m.score(&home("ada", 100_000));
        let mut odd = home("ada", 100_000);
        odd.country = "FR".into();
        odd.city = "Paris".into();
        odd.asn = "3215".into();
        odd.browser = "Chrome 120".into();
        odd.os = "Windows".into();
        odd.ip = "203.0.113.9".into();
        let s = m.score(&odd);
        assert!(
            s.score > usual.score + 5.0,
            "{} vs {}",
            s.score,
            usual.score
        );
        assert!(s.unfamiliar.contains(&"country"), "{:?}", s.unfamiliar);
        // For bob the same properties are home.
        let mut bob = odd.clone();
        bob.user = "bob".into();
        assert!(m.score(&bob).score < s.score - 5.0);
    }

    #[test]
    fn one_address_trying_many_accounts_looks_like_an_attack() {
        let mut m = trained();
        // The same account and properties, scored before and after the address tried others.
        let mut probe = home("cy", 200_000);
        probe.ip = "192.0.2.66".into();
        let before = m.score(&probe).score;
        for (i, u) in ["ada", "bob", "dee", "eve5", "fay", "gus"]
            .iter()
            .enumerate()
        {
            let mut a = home(u, 200_000 + i as i64);
            a.ip = "192.0.2.66".into();
            a.success = false;
            assert_eq!(m.score(&a).source_accounts, i);
            m.observe(&a);
        }
        probe.at = at(200_010);
        let after = m.score(&probe);
        assert_eq!(after.source_accounts, 6);
        assert!(after.score > before + 4.0, "{} vs {before}", after.score);
        // An hour later the address is forgotten.
        let mut later = home("ada", 200_100);
        later.ip = "192.0.2.66".into();
        assert_eq!(m.score(&later).source_accounts, 0);
    }

    #[test]
    fn state_per_user_is_bounded() {
        let mut m = SigninRiskModel::new();
        for i in 0..500 {
            let mut a = home("ada", i);
            a.ip = format!("10.0.{}.{}", i / 250, i % 250);
            m.observe(&a);
        }
        let u = &m.users["ada"];
        assert!(u.features[0].values.len() <= PER_USER_VALUES);
        assert_eq!(u.features[0].total, 500);
    }
}
