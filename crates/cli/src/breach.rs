//! `trustplane password import-breached`: replaces the breached-password filter, refusing an
//! import that would shrink it by more than half unless `--replace` is given (an empty or
//! truncated download would otherwise silently turn the check off), and audits the change.

use crate::CliError;
use std::path::Path;
use std::process::ExitCode;
use trustplane_core::audit::{Actor, AuditDraft};
use trustplane_server::platform::config::Config;
use trustplane_store::Store;

/// An import may remove at most this share of the hashes in use without `--replace`.
pub const MAX_SHRINK_PERCENT: u64 = 50;

/// `Err(message)` when replacing a filter of `before` hashes by one of `after` hashes
/// removes more than [`MAX_SHRINK_PERCENT`] of them and `replace` was not given.
pub fn check_shrink(before: Option<u64>, after: u64, replace: bool) -> Result<(), String> {
    let Some(before) = before.filter(|b| *b > 0) else {
        return Ok(());
    };
    if replace || after.saturating_mul(100) >= before.saturating_mul(100 - MAX_SHRINK_PERCENT) {
        return Ok(());
    }
    Err(format!(
        "refused: the new filter would hold {after} hashes, {}% fewer than the {before} in use \
         (an empty or truncated file?); the filter in use is unchanged. Pass --replace to \
         replace it anyway",
        u128::from(before - after.min(before)) * 100 / u128::from(before)
    ))
}

pub async fn import_breached(
    cfg: &Config,
    store: &dyn Store,
    actor: &Actor,
    file: &Path,
    threshold: u64,
    replace: bool,
) -> Result<ExitCode, CliError> {
    let input = std::fs::File::open(file)
        .map_err(|e| CliError::Other(format!("cannot open {}: {e}", file.display())))?;
    let out = cfg.breached_filter_path();
    let before = match trustplane_breach::stored_hashes(&out) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("warning: the filter in use cannot be read ({e}); replacing it");
            None
        }
    };
    let started = std::time::Instant::now();
    let stats = trustplane_breach::import_guarded(
        std::io::BufReader::with_capacity(1 << 20, input),
        &out,
        threshold,
        |s| {
            eprintln!(
                "  {} lines, {} MB read, {} hashes kept",
                s.lines,
                s.bytes / 1_000_000,
                s.hashes
            );
        },
        |s| check_shrink(before, s.hashes, replace),
    );
    let stats = match stats {
        Ok(s) => s,
        Err(trustplane_breach::BreachError::Refused(msg)) => {
            return Err(CliError::Other(msg));
        }
        Err(e) => {
            return Err(CliError::Other(format!(
                "import failed (the previous filter is unchanged): {e}"
            )));
        }
    };
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let before_text = before.map_or_else(|| "none".to_string(), |b| b.to_string());
    println!(
        "Imported {} hashes ({} below the threshold of {threshold}) into {} ({} bytes, {:.2} bytes per hash) in {secs:.1} s ({:.0} lines/s).",
        stats.hashes,
        stats.below_threshold,
        out.display(),
        stats.filter_bytes,
        stats.filter_bytes as f64 / stats.hashes.max(1) as f64,
        stats.lines as f64 / secs,
    );
    println!(
        "Hashes before: {before_text}; after: {}. A running server loads the new filter by itself.",
        stats.hashes
    );
    if stats.hashes == 0 {
        eprintln!("warning: the new filter is empty: it refuses no password");
    }
    let audit = AuditDraft::new(actor, "breach_filter.import", "breach_filter", None)
        .before(&serde_json::json!({ "hashes": before }))
        .after(&serde_json::json!({
            "hashes": stats.hashes,
            "threshold": threshold,
            "replace": replace,
            "source": file.display().to_string(),
        }));
    store.append_audit(audit).await.map_err(|e| {
        CliError::Other(format!(
            "the filter was replaced, but the audit entry could not be written: {e}"
        ))
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinking_by_more_than_half_needs_replace() {
        assert!(check_shrink(None, 0, false).is_ok());
        assert!(check_shrink(Some(0), 0, false).is_ok());
        assert!(check_shrink(Some(1000), 500, false).is_ok());
        assert!(check_shrink(Some(1000), 2000, false).is_ok());
        assert!(check_shrink(Some(1000), 499, false).is_err());
        assert!(check_shrink(Some(1000), 0, false).is_err());
        assert!(check_shrink(Some(1000), 0, true).is_ok());
        assert!(check_shrink(Some(u64::MAX), 1, false).is_err());
    }
}
