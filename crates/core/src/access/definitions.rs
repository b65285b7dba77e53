//! Validation of the definitions a policy set carries besides its policies: named locations
//! and custom authentication strengths.

use std::collections::HashMap;
use std::sync::Arc;

use super::catalog::ValidationErrorKind;
use super::location::{Location, LocationMatcher, parse_cidr, parse_country};
use super::model::PolicySetDocument;
use super::strength::{BUILTIN, Strength, StrengthRule, kind_bit};
use super::validate::V;

pub(super) fn strengths(v: &mut V, doc: &PolicySetDocument) -> Vec<Strength> {
    let mut out = Strength::builtins();
    let mut seen: HashMap<String, String> = HashMap::new();
    for (i, s) in doc.authentication_strengths.iter().enumerate() {
        let path = format!("authentication_strengths[{i}]");
        if BUILTIN.contains(&s.id.as_str()) {
            v.err(
                format!("{path}.id"),
                ValidationErrorKind::BuiltinStrength(s.id.clone()),
            );
        } else {
            v.id_and_name(&path, &s.id, &s.name, &mut seen);
        }
        v.non_empty(
            format!("{path}.combinations"),
            &s.combinations,
            "must list at least one combination of methods",
        );
        for (j, c) in s.combinations.iter().enumerate() {
            v.non_empty(
                format!("{path}.combinations[{j}]"),
                c,
                "a combination must name at least one method",
            );
        }
        out.push(Strength {
            id: Arc::from(s.id.as_str()),
            name: s.name.clone(),
            rule: StrengthRule::Combinations(
                s.combinations
                    .iter()
                    .map(|c| c.iter().fold(0, |m, k| m | kind_bit(*k)))
                    .collect(),
            ),
        });
    }
    out
}

pub(super) fn locations(v: &mut V, doc: &PolicySetDocument) -> Vec<Location> {
    let mut seen = HashMap::new();
    let mut out = Vec::new();
    for (i, l) in doc.named_locations.iter().enumerate() {
        let path = format!("named_locations[{i}]");
        v.id_and_name(&path, &l.id, &l.name, &mut seen);
        let matcher = match (&l.ip_ranges, &l.countries) {
            (Some(ranges), None) => {
                v.non_empty(
                    format!("{path}.ip_ranges"),
                    ranges,
                    "must list at least one range",
                );
                if l.include_unknown_countries {
                    v.err(
                        format!("{path}.include_unknown_countries"),
                        ValidationErrorKind::Impossible(
                            "only applies to country locations, not to IP ranges",
                        ),
                    );
                }
                let mut nets = Vec::new();
                for (j, r) in ranges.iter().enumerate() {
                    match parse_cidr(r) {
                        Some(n) => nets.push(n),
                        None => v.err(
                            format!("{path}.ip_ranges[{j}]"),
                            ValidationErrorKind::InvalidCidr(r.clone()),
                        ),
                    }
                }
                LocationMatcher::IpRanges(nets)
            }
            (None, Some(countries)) => {
                v.non_empty(
                    format!("{path}.countries"),
                    countries,
                    "must list at least one country",
                );
                if l.trusted {
                    v.err(
                        format!("{path}.trusted"),
                        ValidationErrorKind::Impossible(
                            "only IP-range locations can be trusted (a country is not a network the organisation controls)",
                        ),
                    );
                }
                let mut codes = Vec::new();
                for (j, c) in countries.iter().enumerate() {
                    match parse_country(c) {
                        Some(code) => codes.push(code),
                        None => v.err(
                            format!("{path}.countries[{j}]"),
                            ValidationErrorKind::InvalidCountry(c.clone()),
                        ),
                    }
                }
                LocationMatcher::Countries {
                    codes,
                    include_unknown: l.include_unknown_countries,
                }
            }
            _ => {
                v.err(
                    path,
                    ValidationErrorKind::Impossible(
                        "a named location has exactly one of ip_ranges or countries",
                    ),
                );
                LocationMatcher::IpRanges(Vec::new())
            }
        };
        out.push(Location {
            id: Arc::from(l.id.as_str()),
            trusted: l.trusted,
            matcher,
        });
    }
    out
}
