use super::*;

#[test]
fn claims_parameter_yields_essential_acr() {
    let v = essential_acr(
        r#"{"id_token":{"acr":{"essential":true,"values":["mfa","phishing_resistant_mfa"]}}}"#,
    )
    .unwrap();
    assert_eq!(v, vec!["mfa", "phishing_resistant_mfa"]);
    assert!(
        essential_acr(r#"{"id_token":{"acr":{"value":"mfa"}}}"#)
            .unwrap()
            .is_empty()
    );
    assert!(essential_acr("not json").is_err());
    assert!(valid_challenge(&"a".repeat(43)));
    assert!(!valid_challenge("short"));
}
