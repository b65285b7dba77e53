//! Fixtures shared by the access tests, and the tests of reading and validating documents.

use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::*;
use crate::authn::{AuthMethod, MethodUse};

pub(super) const T0: OffsetDateTime = datetime!(2026-11-25 10:00 UTC);

pub(super) fn u(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// Users 1..=20, groups 100..=120, apps, labels, contexts, terms.
pub(super) fn catalog() -> StaticCatalog {
    StaticCatalog {
        users: (1..=20).map(u).collect(),
        groups: (100..=120).map(u).collect(),
        applications: ["app1", "app2", "console"].map(String::from).into(),
        sensitivity_labels: ["confidential", "public"].map(String::from).into(),
        authentication_contexts: ["c1", "c2"].map(String::from).into(),
        terms_of_use: ["tou1", "tou2"].map(String::from).into(),
    }
}

/// User 1 in group 100, signed in with a password one minute ago, to app1, from a known IP in
/// France, on a Windows browser, no device, no risk.
pub(super) fn ctx() -> AccessContext {
    AccessContext {
        subject: Subject {
            user_id: u(1),
            groups: vec![u(100)],
            roles: vec![],
            mfa_registered: true,
        },
        authentication: Authentication {
            methods: vec![MethodUse {
                method: AuthMethod::Password,
                at: T0,
            }],
            primary_at: Some(T0),
        },
        now: T0 + Duration::minutes(1),
        target: TargetRequest::Application {
            id: "app1".into(),
            sensitivity_label: None,
            authentication_contexts: vec![],
        },
        network: Network {
            ip: Some("203.0.113.5".parse().unwrap()),
            country: Some("FR".into()),
        },
        client_app: ClientAppType::Browser,
        platform: Some(DevicePlatform::Windows),
        device: None,
        sign_in_risk: None,
        user_risk: None,
        terms_accepted: vec![],
        password_changed: false,
    }
}

pub(super) fn add_method(c: &mut AccessContext, method: AuthMethod) {
    c.authentication.methods.push(MethodUse { method, at: T0 });
}

/// Named locations used by [`policy_set`]: `office` (trusted, 10.0.0.0/8 and 2001:db8::/32),
/// `france` (countries FR), `anywhere-unknown` (countries US, unknown included).
pub(super) const LOCATIONS: &str = r#"[
  {"id": "office", "name": "Office", "trusted": true, "ip_ranges": ["10.0.0.0/8", "2001:db8::/32"]},
  {"id": "france", "name": "France", "countries": ["FR"]},
  {"id": "us-or-unknown", "name": "US or unknown", "countries": ["US"], "include_unknown_countries": true}
]"#;

/// A set of these policies (JSON objects) with [`LOCATIONS`] and one custom strength.
pub(super) fn policy_set(policies: &[&str]) -> PolicySet {
    let json = format!(
        r#"{{"policies": [{}], "named_locations": {LOCATIONS},
            "authentication_strengths": [{{"id": "key-or-totp", "name": "Key or TOTP",
              "combinations": [["passkey_device_bound"], ["password", "totp"]]}}]}}"#,
        policies.join(",")
    );
    match PolicySet::from_json(&json, &catalog()) {
        Ok(s) => s,
        Err(e) => panic!("{e}: {e:?}"),
    }
}

/// A policy for all users and all apps with this grant and extra top-level fields.
pub(super) fn policy(id: &str, extra: &str) -> String {
    let extra = if extra.is_empty() {
        r#""grant": "block""#.to_string()
    } else {
        extra.to_string()
    };
    format!(
        r#"{{"id": "{id}", "name": "{id}", "state": "enabled",
            "assignments": {{"users": {{"include": {{"all": true}}}}, "applications": {{"include": "all"}}}},
            {extra}}}"#
    )
}

/// The full example of `docs/conditional-access.md`.
pub(super) const EXAMPLE_JSON: &str =
    include_str!("../../../../docs/examples/conditional-access.json");
pub(super) const EXAMPLE_YAML: &str =
    include_str!("../../../../docs/examples/conditional-access.yaml");

fn example_catalog() -> StaticCatalog {
    let mut c = catalog();
    c.users
        .insert("0192f0c1-0000-7000-8000-00000000b1a5".parse().unwrap());
    c.groups
        .insert("0192f0c1-0000-7000-8000-0000000000f1".parse().unwrap());
    c.groups
        .insert("0192f0c1-0000-7000-8000-0000000000f2".parse().unwrap());
    c.applications.insert("payroll".into());
    c.terms_of_use.insert("contractor-terms".into());
    c
}

#[test]
fn documented_example_reads_the_same_from_json_and_yaml_and_compiles() {
    let json = parse_json(EXAMPLE_JSON).unwrap();
    let yaml = parse_yaml(EXAMPLE_YAML).unwrap();
    assert_eq!(json, yaml);
    let set = compile(json.clone(), &example_catalog()).unwrap();
    assert_eq!(set.len(), json.policies.len());
    // Round trip: what we serialise reads back identically.
    let again = parse_json(&serde_json::to_string(set.document()).unwrap()).unwrap();
    assert_eq!(&again, set.document());
}

fn parse_err(json: &str) -> (String, String) {
    let e = parse_json(json).unwrap_err();
    (e.path, e.message)
}

#[test]
fn parse_errors_name_the_field() {
    let (path, msg) = parse_err(
        r#"{"policies":[{"id":"p","name":"n","state":"enabled","assignments":{"users":{"include":{"all":true},"exlude":{}},"applications":{"include":"all"}},"grant":"block"}]}"#,
    );
    assert_eq!(path, "policies[0].assignments.users.exlude");
    assert!(msg.starts_with("unknown field `exlude`"), "{msg}");
    let (path, msg) = parse_err(
        r#"{"authentication_strengths":[{"id":"s","name":"n","combinations":[["password","sms"]]}]}"#,
    );
    assert_eq!(path, "authentication_strengths[0].combinations[0][1]");
    assert!(msg.starts_with("unknown variant `sms`"), "{msg}");
    let (path, _) = parse_err(&format!(
        r#"{{"policies":[{}]}}"#,
        policy(
            "p",
            r#""grant": {"operator": "all", "controls": [{"terms": "x"}]}"#
        )
    ));
    assert_eq!(path, "policies[0].grant.controls[0]");
    let (path, msg) = parse_err(&format!(
        r#"{{"policies":[{}]}}"#,
        policy("p", r#""grant": "allow""#)
    ));
    assert_eq!(path, "policies[0].grant");
    assert!(
        msg.contains(r#"expected "block" or {operator, controls}"#),
        "{msg}"
    );
    let (path, _) = parse_err(
        r#"{"policies":[{"id":"p","name":"n","state":"enabled","assignments":{"users":{"include":{"users":["not-a-uuid"]}},"applications":{"include":"all"}}}]}"#,
    );
    assert_eq!(path, "policies[0].assignments.users.include.users[0]");
    let e = parse_yaml("policies:\n  - id: p\n    name: n\n    state: enabld\n").unwrap_err();
    assert_eq!(e.path, "policies[0].state");
    assert!(
        e.message.starts_with("unknown variant `enabld`"),
        "{}",
        e.message
    );
    assert_eq!(e.code(), "policy_parse");
}

fn errors(policies: &[&str]) -> Vec<String> {
    errors_doc(&format!(
        r#"{{"policies": [{}], "named_locations": {LOCATIONS}}}"#,
        policies.join(",")
    ))
}

fn errors_doc(json: &str) -> Vec<String> {
    match PolicySet::from_json(json, &catalog()) {
        Err(PolicyError::Invalid(v)) => v.iter().map(ToString::to_string).collect(),
        Err(e) => panic!("not a validation error: {e}"),
        Ok(_) => panic!("valid"),
    }
}

#[test]
fn unknown_location_is_named_with_its_path() {
    let loc = r#""conditions": {"locations": {"include": ["ofice"]}}, "grant": "block""#;
    assert_eq!(
        errors(&[&policy("a", ""), &policy("b", ""), &policy("c", loc)]),
        vec![r#"policies[2].conditions.locations.include[0]: unknown named location "ofice""#]
    );
    let loc = r#""conditions": {"locations": {"include": "all", "exclude": ["office", "hq"]}}, "grant": "block""#;
    assert_eq!(
        errors(&[&policy("a", loc)]),
        vec![r#"policies[0].conditions.locations.exclude[1]: unknown named location "hq""#]
    );
}

#[test]
fn mfa_with_strength_and_password_change_rules() {
    let g = r#""grant": {"operator": "all", "controls": ["mfa", {"authentication_strength": "phishing_resistant_mfa"}]}"#;
    assert_eq!(
        errors(&[&policy("a", g)]),
        vec![
            r#"policies[0].grant.controls[1]: "mfa" and an authentication strength cannot be combined in one policy; require the strength alone ("mfa" is itself a built-in strength)"#
        ]
    );
    let g = r#""grant": {"operator": "one", "controls": ["mfa", "password_change"]}"#;
    assert_eq!(
        errors(&[&policy("a", g)]),
        vec![
            r#"policies[0].grant.operator: password_change requires operator "all" (it cannot be one alternative among others)"#
        ]
    );
    let g = r#""grant": {"operator": "all", "controls": ["mfa", "password_change", "compliant_device"]}"#;
    assert_eq!(
        errors(&[&policy("a", g)]),
        vec![
            "policies[0].grant.controls[2]: password_change can only be combined with mfa or an authentication strength"
        ]
    );
    let g = r#""grant": {"operator": "all", "controls": ["password_change"]}"#;
    assert_eq!(
        errors(&[&policy("a", g)]),
        vec![
            "policies[0].grant.controls[0]: password_change requires mfa or an authentication strength as well (a stolen password alone must not let anyone set a new one)"
        ]
    );
    let g = r#""grant": {"operator": "all", "controls": [{"authentication_strength": "key-or-totp"}, "password_change"]}"#;
    assert_eq!(
        errors(&[&policy("a", g)]),
        vec![
            r#"policies[0].grant.controls[0].authentication_strength: unknown authentication strength "key-or-totp""#
        ]
    );
    let g = r#""grant": {"operator": "all", "controls": [{"authentication_strength": "passwordless_mfa"}, "password_change"]}"#;
    assert!(
        PolicySet::from_json(
            &format!(r#"{{"policies":[{}]}}"#, policy("a", g)),
            &catalog()
        )
        .is_ok()
    );
}

#[test]
fn location_and_strength_definitions_are_checked() {
    let doc = r#"{"named_locations": [
        {"id": "a", "name": "A", "ip_ranges": ["10.0.0.0/8", "10.0.0.0/33", "banana"]},
        {"id": "b", "name": "B", "trusted": true, "countries": ["FR", "fr", "FRA"]},
        {"id": "a", "name": " ", "ip_ranges": []},
        {"id": "Bad Id", "name": "C", "ip_ranges": ["::1"], "countries": ["FR"]}
      ],
      "authentication_strengths": [
        {"id": "mfa", "name": "Mine", "combinations": [["password"]]},
        {"id": "s", "name": "S", "combinations": []},
        {"id": "t", "name": "T", "combinations": [[]]}
      ]}"#;
    let errs = errors_doc(doc);
    let expected = [
        r#"authentication_strengths[0].id: "mfa" is a built-in authentication strength and cannot be redefined"#,
        "authentication_strengths[1].combinations: must list at least one combination of methods",
        "authentication_strengths[2].combinations[0]: a combination must name at least one method",
        r#"named_locations[0].ip_ranges[1]: invalid CIDR range "10.0.0.0/33""#,
        r#"named_locations[0].ip_ranges[2]: invalid CIDR range "banana""#,
        "named_locations[1].trusted: only IP-range locations can be trusted (a country is not a network the organisation controls)",
        r#"named_locations[1].countries[1]: "fr" is not an uppercase ISO 3166-1 alpha-2 country code"#,
        r#"named_locations[1].countries[2]: "FRA" is not an uppercase ISO 3166-1 alpha-2 country code"#,
        r#"named_locations[2].id: duplicate id "a" (first used at named_locations[0].id)"#,
        "named_locations[2].name: must not be empty",
        "named_locations[2].ip_ranges: must list at least one range",
        r#"named_locations[3].id: "Bad Id" is not a valid id (lowercase letters, digits, '-' and '_', starting with a letter or digit, at most 64 characters)"#,
        "named_locations[3]: a named location has exactly one of ip_ranges or countries",
    ];
    assert_eq!(errs, expected);
}

#[test]
fn references_are_checked_against_the_catalog() {
    let p = format!(
        r#"{{"id": "p", "name": "P", "state": "enabled",
          "assignments": {{"users": {{"include": {{"users": ["{}", "{}"], "groups": ["{}"]}},
                                      "exclude": {{"groups": ["{}"]}}}},
                           "applications": {{"include": ["app1", "nope"], "exclude": ["gone"]}}}},
          "conditions": {{"sensitivity_labels": ["secret"]}},
          "grant": {{"operator": "one", "controls": [{{"terms_of_use": "tou9"}}, "mfa", "mfa"]}}}}"#,
        u(1),
        u(99),
        u(555),
        u(556)
    );
    assert_eq!(
        errors(&[&p]),
        vec![
            format!(
                "policies[0].assignments.users.include.users[1]: unknown user {}",
                u(99)
            ),
            format!(
                "policies[0].assignments.users.include.groups[0]: unknown group {}",
                u(555)
            ),
            format!(
                "policies[0].assignments.users.exclude.groups[0]: unknown group {}",
                u(556)
            ),
            r#"policies[0].assignments.applications.include[1]: unknown application "nope""#.into(),
            r#"policies[0].assignments.applications.exclude[0]: unknown application "gone""#.into(),
            r#"policies[0].conditions.sensitivity_labels[0]: unknown sensitivity label "secret""#
                .into(),
            r#"policies[0].grant.controls[0].terms_of_use: unknown terms of use "tou9""#.into(),
            r#"policies[0].grant.controls[2]: duplicate control "mfa""#.into(),
        ]
    );
    let ctxs = r#"{"id": "p", "name": "P", "state": "enabled",
        "assignments": {"users": {"include": {"all": true}}, "authentication_contexts": ["c1", "c9"]},
        "grant": "block"}"#;
    assert_eq!(
        errors(&[ctxs]),
        vec![
            r#"policies[0].assignments.authentication_contexts[1]: unknown authentication context "c9""#
        ]
    );
}

#[test]
fn policy_shape_errors() {
    let two_targets = r#"{"id": "p", "name": "", "state": "enabled",
        "assignments": {"users": {"include": {"all": true, "roles": ["security_reader"]}},
                        "applications": {"include": "all"}, "user_actions": ["register_security_info"]},
        "grant": "block"}"#;
    assert_eq!(
        errors(&[two_targets]),
        vec![
            "policies[0].name: must not be empty",
            r#"policies[0].assignments.users.include: "all: true" cannot be combined with specific users, groups or roles"#,
            "policies[0].assignments: exactly one target is required: applications, user_actions or authentication_contexts",
        ]
    );
    let nothing = r#""conditions": {"user_risk_levels": [], "client_app_types": []}"#;
    assert_eq!(
        errors(&[&policy("p", nothing), &policy("p", "")]),
        vec![
            "policies[0].conditions.user_risk_levels: must not be empty; omit the condition instead",
            "policies[0].conditions.client_app_types: must not be empty; omit the condition instead",
            "policies[0]: a policy needs grant controls, session controls or both",
            r#"policies[1].id: duplicate id "p" (first used at policies[0].id)"#,
        ]
    );
    let freq = r#""session": {"sign_in_frequency": {"every_hours": 0}}"#;
    assert_eq!(
        errors(&[&policy("p", freq)]),
        vec![
            "policies[0].session.sign_in_frequency.every_hours: must be between 1 and 8760 hours, got 0"
        ]
    );
    let label_on_action = r#"{"id": "p", "name": "P", "state": "enabled",
        "assignments": {"users": {"include": {"all": true}}, "user_actions": ["register_security_info"]},
        "conditions": {"sensitivity_labels": ["confidential"]}, "grant": "block"}"#;
    assert_eq!(
        errors(&[label_on_action]),
        vec![
            "policies[0].conditions.sensitivity_labels: sensitivity labels belong to applications; a policy targeting user actions would never apply"
        ]
    );
}

#[test]
fn device_filter_errors_carry_position_and_code() {
    let f = r#""conditions": {"device_filter": {"mode": "include", "rule": "device.is_compliant == \"yes\""}}, "grant": "block""#;
    assert_eq!(
        errors(&[&policy("p", f)]),
        vec![
            "policies[0].conditions.device_filter.rule: invalid device filter: type error at character 21: device.is_compliant is a boolean and cannot be compared to a string"
        ]
    );
    let f = r#""conditions": {"device_filter": {"mode": "exclude", "rule": "device.colour == \"red\""}}, "grant": "block""#;
    let json = format!(r#"{{"policies":[{}]}}"#, policy("p", f));
    let Err(PolicyError::Invalid(v)) = PolicySet::from_json(&json, &catalog()) else {
        panic!("expected invalid")
    };
    assert_eq!(v[0].code(), "filter_unknown_attribute");
    assert_eq!(v[0].path, "policies[0].conditions.device_filter.rule");
}

#[test]
fn validation_errors_serialise_with_code_and_message() {
    let v = ValidationError {
        path: "policies[0].name".into(),
        kind: ValidationErrorKind::EmptyName,
    };
    assert_eq!(
        serde_json::to_value(&v).unwrap(),
        serde_json::json!({"path": "policies[0].name", "kind": {"code": "empty_name", "message": "must not be empty"}})
    );
}

#[test]
fn policies_are_sorted_by_id_whatever_the_input_order() {
    let set = policy_set(&[
        &policy("zeta", ""),
        &policy("alpha", ""),
        &policy("mid", ""),
    ]);
    let ids: Vec<&str> = set
        .document()
        .policies
        .iter()
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(ids, ["alpha", "mid", "zeta"]);
}

#[test]
fn the_inline_example_of_the_documentation_is_valid() {
    let md = include_str!("../../../../docs/conditional-access.md");
    let start = md.find("```json\n").unwrap() + "```json\n".len();
    let end = start + md[start..].find("```").unwrap();
    let set = PolicySet::from_json(&md[start..end], &example_catalog()).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(set.document().authentication_strengths.len(), 1);
}
