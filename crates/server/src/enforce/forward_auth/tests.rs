use super::*;

#[test]
fn certificate_fingerprints_become_thumbprints() {
    let hex = "AB:CD:".to_string() + &"01".repeat(30);
    let t = cert_thumbprint(Some(&hex)).unwrap().unwrap();
    assert_eq!(t.len(), 43);
    assert_eq!(
        cert_thumbprint(Some(&hex.to_lowercase())).unwrap().unwrap(),
        t
    );
    assert_eq!(cert_thumbprint(Some("")), Ok(None));
    assert_eq!(cert_thumbprint(None), Ok(None));
    assert!(cert_thumbprint(Some("abc")).is_err());
    assert!(cert_thumbprint(Some(&"zz".repeat(32))).is_err());
}

#[test]
fn group_names_with_commas_stay_unambiguous() {
    let names = vec![
        "staff".to_string(),
        "R&D, Europe".to_string(),
        "a%2Cb".to_string(),
        "Über \"x\"".to_string(),
    ];
    let v = groups_header(&names);
    assert_eq!(v, "staff,R&D%2C%20Europe,a%252Cb,%C3%9Cber%20%22x%22");
    let back: Vec<String> = v
        .split(',')
        .map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8()
                .unwrap()
                .into_owned()
        })
        .collect();
    assert_eq!(back, names);
    assert_eq!(groups_header(&[]), "");
}
