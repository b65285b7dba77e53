//! Device filter language: parser, errors with positions, three-valued evaluation.

use crate::access::context::{DeviceSignals, TrustType};
use crate::access::filter::{FilterError, parse};
use crate::access::model::DevicePlatform;

fn device() -> DeviceSignals {
    let mut d = DeviceSignals {
        device_id: Some("d-1".into()),
        display_name: Some("Alice's \"Mac\"".into()),
        platform: Some(DevicePlatform::Macos),
        os_version: Some("15.1".into()),
        trust_type: Some(TrustType::Managed),
        registered: true,
        managed: true,
        compliant: false,
        manufacturer: Some("Apple".into()),
        model: Some("MacBookPro18,3".into()),
        ..DeviceSignals::default()
    };
    d.extension_attributes[14] = Some("kiosk".into());
    d
}

fn eval(rule: &str, d: Option<&DeviceSignals>) -> Option<bool> {
    parse(rule).unwrap().eval(d)
}

#[test]
fn comparisons() {
    let d = device();
    let d = Some(&d);
    assert_eq!(eval(r#"device.platform == "macos""#, d), Some(true));
    assert_eq!(eval(r#"device.platform != "macos""#, d), Some(false));
    assert_eq!(eval(r#"device.is_compliant == false"#, d), Some(true));
    assert_eq!(eval(r#"device.is_managed != true"#, d), Some(false));
    assert_eq!(eval(r#"device.model startsWith "MacBook""#, d), Some(true));
    assert_eq!(eval(r#"device.model contains "Pro18""#, d), Some(true));
    assert_eq!(
        eval(r#"device.manufacturer in ["Dell", "Apple"]"#, d),
        Some(true)
    );
    assert_eq!(
        eval(r#"device.manufacturer not in ["Dell","Apple"]"#, d),
        Some(false)
    );
    assert_eq!(eval(r#"device.trust_type == "managed""#, d), Some(true));
    assert_eq!(
        eval(r#"device.extension_attribute15 == "kiosk""#, d),
        Some(true)
    );
    assert_eq!(
        eval(r#"device.display_name == "Alice's \"Mac\"""#, d),
        Some(true)
    );
}

#[test]
fn precedence_and_grouping() {
    let d = device();
    let d = Some(&d);
    // && binds tighter than ||
    assert_eq!(
        eval(
            r#"device.model == "x" && device.is_managed == true || device.platform == "macos""#,
            d
        ),
        Some(true)
    );
    assert_eq!(
        eval(
            r#"device.model == "x" && (device.is_managed == true || device.platform == "macos")"#,
            d
        ),
        Some(false)
    );
    assert_eq!(eval(r#"!(device.platform == "ios")"#, d), Some(true));
    assert_eq!(eval(r#"!!device.is_compliant == true"#, d), Some(false));
}

#[test]
fn unknown_attributes_are_unknown_not_false() {
    let d = device();
    let d = Some(&d);
    // extension_attribute1 is not reported
    assert_eq!(eval(r#"device.extension_attribute1 != "kiosk""#, d), None);
    assert_eq!(
        eval(r#"!(device.extension_attribute1 == "kiosk")"#, d),
        None
    );
    // Kleene logic: a definite side decides
    assert_eq!(
        eval(
            r#"device.extension_attribute1 == "a" || device.is_managed == true"#,
            d
        ),
        Some(true)
    );
    assert_eq!(
        eval(
            r#"device.extension_attribute1 == "a" && device.is_managed == false"#,
            d
        ),
        Some(false)
    );
    // no device at all: everything is unknown, even booleans
    assert_eq!(eval(r#"device.is_compliant == false"#, None), None);
    assert_eq!(eval(r#"device.platform not in ["ios"]"#, None), None);
}

fn err(rule: &str) -> String {
    parse(rule).unwrap_err().to_string()
}

#[test]
fn syntax_errors_say_what_was_expected_where() {
    assert_eq!(
        err(r#"device.platform = "ios""#),
        r#"expected an attribute, an operator, a value or a parenthesis at character 17, found "=""#
    );
    assert_eq!(
        err(r#"device.platform == "ios" &&"#),
        "expected a device attribute, \"!\" or \"(\" at character 28, found end of rule"
    );
    assert_eq!(
        err(r#"(device.platform == "ios""#),
        "expected \")\" or an operator (\"&&\", \"||\") at character 26, found end of rule"
    );
    assert_eq!(
        err(r#"device.model in ["a" "b"]"#),
        "expected \",\" or \"]\" at character 22, found string \"b\""
    );
    assert_eq!(
        err(r#"device.model not ["a"]"#),
        "expected \"in\" after \"not\" at character 18, found \"[\""
    );
    assert_eq!(
        err(r#"device.model == "abc"#),
        "unterminated string starting at character 17"
    );
    assert_eq!(
        err(r#"device.model == "a\n""#),
        "invalid escape \"\\n\" at character 19 (only \\\" and \\\\ are allowed)"
    );
    assert_eq!(
        err(r#"device.model == "a" device.model == "b""#),
        "expected \"&&\", \"||\" or the end of the rule at character 21, found \"device.model\""
    );
    assert_eq!(
        err(""),
        "expected a device attribute, \"!\" or \"(\" at character 1, found end of rule"
    );
}

#[test]
fn attribute_and_type_errors() {
    assert_eq!(
        err(r#"device.colour == "red""#),
        "unknown device attribute \"device.colour\" at character 1"
    );
    assert_eq!(
        err(r#"device.extension_attribute16 == "x""#),
        "unknown device attribute \"device.extension_attribute16\" at character 1"
    );
    assert!(matches!(
        parse(r#"device.extension_attribute0 == "x""#),
        Err(FilterError::UnknownAttribute { .. })
    ));
    assert_eq!(
        err(r#"device.is_compliant == "true""#),
        "type error at character 21: device.is_compliant is a boolean and cannot be compared to a string"
    );
    assert_eq!(
        err(r#"device.model == true"#),
        "type error at character 14: device.model is a string and cannot be compared to a boolean"
    );
    assert!(matches!(
        parse(r#"device.is_managed in ["true"]"#),
        Err(FilterError::Type { .. })
    ));
    assert!(matches!(
        parse(r#"device.is_managed contains "t""#),
        Err(FilterError::Type { .. })
    ));
    assert_eq!(
        err(r#"device.platform == "Windows""#),
        "invalid value \"Windows\" for device.platform at character 20; expected one of android, ios, windows, macos, linux"
    );
    assert_eq!(
        parse("device.trust_type == \"joined\"").unwrap_err().code(),
        "filter_invalid_value"
    );
}

#[test]
fn limits() {
    let long = format!("device.model == \"{}\"", "a".repeat(2048));
    assert_eq!(parse(&long).unwrap_err().code(), "filter_too_long");
    let deep = format!(
        "{}device.is_managed == true{}",
        "(".repeat(33),
        ")".repeat(33)
    );
    assert_eq!(
        parse(&deep).unwrap_err(),
        FilterError::TooDeep { position: 33 }
    );
    let ok = format!(
        "{}device.is_managed == true{}",
        "(".repeat(32),
        ")".repeat(32)
    );
    assert!(parse(&ok).is_ok());
    let bangs = format!("{}device.is_managed == true", "!".repeat(40));
    assert_eq!(parse(&bangs).unwrap_err().code(), "filter_too_deep");
}
