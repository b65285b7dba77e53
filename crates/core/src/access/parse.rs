//! Reading a policy set document from JSON or YAML, with the path of the offending field in
//! every error.
//!
//! YAML is read with `serde_yaml_ng`: `serde_yaml` is archived (unmaintained since 2024) and
//! `serde_yml` had unreviewed AI-generated changes and unsound code reported against it, so it
//! is not trusted here. `serde_yaml_ng` is a maintained continuation of `serde_yaml`'s code
//! base with the same behaviour (and libyaml's alias expansion limits against "billion laughs").

use serde::Serialize;

use super::model::PolicySetDocument;

/// A document that could not be read: malformed, or a field of the wrong shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ParseError {
    /// `json` or `yaml`.
    pub format: &'static str,
    /// Path of the field (`policies[2].conditions.locations.include`), `.` for the root.
    pub path: String,
    pub message: String,
}

impl ParseError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        "policy_parse"
    }
}

/// Reads a policy set from JSON.
pub fn parse_json(text: &str) -> Result<PolicySetDocument, ParseError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let doc: PolicySetDocument =
        serde_path_to_error::deserialize(&mut de).map_err(|e| ParseError {
            format: "json",
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })?;
    de.end().map_err(|e| ParseError {
        format: "json",
        path: ".".into(),
        message: e.to_string(),
    })?;
    Ok(doc)
}

/// Reads a policy set from YAML (a single document).
pub fn parse_yaml(text: &str) -> Result<PolicySetDocument, ParseError> {
    let de = serde_yaml_ng::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        // The YAML library prefixes its own copy of the path.
        let message = message
            .strip_prefix(&format!("{path}: "))
            .map_or(message.clone(), str::to_string);
        ParseError {
            format: "yaml",
            path,
            message,
        }
    })
}
