//! Sign-in log export: CSV (for spreadsheets) and JSON lines (for log pipelines).

use crate::api::types::SignInView;
use crate::edge::error::AppError;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use trustplane_core::signin::SignInEvent;

const CSV_HEADER: [&str; 14] = [
    "id",
    "at",
    "username",
    "user_id",
    "result",
    "failure_reason",
    "application",
    "ip",
    "user_agent",
    "methods",
    "sign_in_risk",
    "conditional_access",
    "policies_applied",
    "correlation_id",
];

/// A field as text for CSV. Cells that a spreadsheet would run as a formula (`=`, `+`, `-`,
/// `@`, tab, carriage return first) get a leading apostrophe (OWASP CSV injection advice):
/// user names and user agents come from strangers.
fn cell(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

fn csv_row(e: &SignInEvent) -> [String; 14] {
    let d = &e.details;
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let applied: Vec<String> = d["conditional_access"]["applied"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    [
        e.id.to_string(),
        e.at.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        cell(&e.username),
        e.user_id.map(|u| u.to_string()).unwrap_or_default(),
        e.result.as_str().to_string(),
        cell(e.failure_reason.as_deref().unwrap_or_default()),
        cell(&text(&d["app"])),
        e.ip.clone().unwrap_or_default(),
        cell(e.user_agent.as_deref().unwrap_or_default()),
        e.methods.join(" "),
        text(&d["sign_in_risk"]),
        text(&d["conditional_access"]["outcome"]),
        cell(&applied.join(" ")),
        cell(&e.correlation_id),
    ]
}

/// The events as CSV (header first).
pub fn csv_bytes(events: &[SignInEvent]) -> Result<Vec<u8>, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER)
        .map_err(|_| AppError::internal())?;
    for e in events {
        w.write_record(csv_row(e))
            .map_err(|_| AppError::internal())?;
    }
    w.into_inner().map_err(|_| AppError::internal())
}

/// The events as JSON lines (one API view per line).
pub fn jsonl(events: Vec<SignInEvent>) -> Result<String, AppError> {
    let mut body = String::new();
    for e in events {
        let line = serde_json::to_string(&SignInView::from(e)).map_err(|_| AppError::internal())?;
        body.push_str(&line);
        body.push('\n');
    }
    Ok(body)
}

/// Renders `events` as `csv` or `jsonl`.
pub fn render(format: &str, events: Vec<SignInEvent>) -> Result<Response, AppError> {
    match format {
        "csv" => {
            let body = csv_bytes(&events)?;
            Ok((
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"sign-ins.csv\"",
                    ),
                ],
                body,
            )
                .into_response())
        }
        "jsonl" => {
            let body = jsonl(events)?;
            Ok((
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/jsonl; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"sign-ins.jsonl\"",
                    ),
                ],
                body,
            )
                .into_response())
        }
        other => Err(AppError::bad_request(
            "invalid_format",
            format!("format must be csv or jsonl, not {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn formula_like_cells_are_defused() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("alice"), "alice");
        assert_eq!(cell(""), "");
    }
}
