//! `trustplane risk replay FILE.csv`: runs login attempts in the public RBA dataset schema
//! (Wiefling et al.) through the sign-in risk model in time order, and reports how well the
//! scores separate account takeovers from legitimate sign-ins. The label columns are read only
//! to score the result, never given to the model.

use crate::CliError;
use clap::Subcommand;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};
use trustplane_core::signin_risk::{Attempt, Scored, SigninRiskModel};

#[derive(Subcommand)]
pub enum RiskCmd {
    /// Replay login attempts (RBA dataset CSV: index, Login Timestamp, User ID, Round-Trip
    /// Time [ms], IP Address, Country, Region, City, ASN, User Agent String, Browser Name and
    /// Version, OS Name and Version, Device Type, Login Successful, Is Attack IP, Is Account
    /// Takeover) and print ROC AUC and the share of account takeovers challenged at 1 %, 5 %
    /// and 10 % of legitimate sign-ins challenged.
    Replay {
        file: PathBuf,
        #[arg(long)]
        json: bool,
        /// Rows in the first N days teach the model but are left out of the figures.
        #[arg(long, default_value_t = 0)]
        warmup_days: u32,
        /// Write `index,score,level,detections` for every row to this file.
        #[arg(long)]
        scores_out: Option<PathBuf>,
    },
}

const COLUMNS: [&str; 16] = [
    "index",
    "Login Timestamp",
    "User ID",
    "Round-Trip Time [ms]",
    "IP Address",
    "Country",
    "Region",
    "City",
    "ASN",
    "User Agent String",
    "Browser Name and Version",
    "OS Name and Version",
    "Device Type",
    "Login Successful",
    "Is Attack IP",
    "Is Account Takeover",
];

fn bad(line: u64, m: impl std::fmt::Display) -> CliError {
    CliError::Other(format!("line {line}: {m}"))
}

fn timestamp(s: &str) -> Option<OffsetDateTime> {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    PrimitiveDateTime::parse(s.trim(), &fmt)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

fn truth(line: u64, s: &str) -> Result<bool, CliError> {
    match s.trim() {
        "True" | "true" | "1" => Ok(true),
        "False" | "false" | "0" => Ok(false),
        other => Err(bad(
            line,
            format!("expected True or False, found {other:?}"),
        )),
    }
}

/// "Chrome 79.0.3945" → "Chrome 79"; "Mac OS X 10.14.6" → "Mac OS X".
fn family_major(s: &str) -> String {
    let s = s.trim();
    match s.find(|c: char| c.is_ascii_digit()) {
        Some(i) => {
            let major: String = s[i..].chars().take_while(char::is_ascii_digit).collect();
            format!("{} {major}", s[..i].trim())
        }
        None => s.to_string(),
    }
}

fn family(s: &str) -> String {
    let s = s.trim();
    match s.find(|c: char| c.is_ascii_digit()) {
        Some(i) => s[..i].trim().to_string(),
        None => s.to_string(),
    }
}

struct Row {
    index: String,
    attempt: Attempt,
    attack_ip: bool,
    takeover: bool,
}

fn row(line: u64, r: &csv::StringRecord, idx: &[usize; 16]) -> Result<Row, CliError> {
    let f = |i: usize| r.get(idx[i]).unwrap_or_default();
    let at = timestamp(f(1))
        .ok_or_else(|| bad(line, format!("unreadable Login Timestamp {:?}", f(1))))?;
    Ok(Row {
        index: f(0).to_string(),
        attempt: Attempt {
            at: Some(at),
            user: f(2).to_string(),
            ip: f(4).to_string(),
            asn: f(8).to_string(),
            country: f(5).to_string(),
            city: format!("{}/{}", f(6), f(7)),
            browser: family_major(f(10)),
            os: family(f(11)),
            device: f(12).to_string(),
            success: truth(line, f(13))?,
        },
        attack_ip: truth(line, f(14))?,
        takeover: truth(line, f(15))?,
    })
}

/// ROC AUC of `pos` against `neg` (ties count half).
fn auc(pos: &[f64], neg: &[f64]) -> f64 {
    if pos.is_empty() || neg.is_empty() {
        return f64::NAN;
    }
    let mut all: Vec<(f64, bool)> = pos
        .iter()
        .map(|s| (*s, true))
        .chain(neg.iter().map(|s| (*s, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let avg = (i + j + 1) as f64 / 2.0;
        rank_sum += avg * all[i..j].iter().filter(|x| x.1).count() as f64;
        i = j;
    }
    let (p, n) = (pos.len() as f64, neg.len() as f64);
    (rank_sum - p * (p + 1.0) / 2.0) / (p * n)
}

/// The share of `pos` above the threshold that challenges `rate` of `neg`.
fn caught_at(pos: &[f64], neg_sorted: &[f64], rate: f64) -> f64 {
    if pos.is_empty() || neg_sorted.is_empty() {
        return f64::NAN;
    }
    let k = ((1.0 - rate) * (neg_sorted.len() as f64 - 1.0)).round() as usize;
    let threshold = neg_sorted[k.min(neg_sorted.len() - 1)];
    pos.iter().filter(|s| **s > threshold).count() as f64 / pos.len() as f64
}

fn level(score: f64) -> &'static str {
    match score {
        s if s >= 12.0 => "high",
        s if s >= 7.0 => "medium",
        s if s >= 4.0 => "low",
        _ => "none",
    }
}

pub fn run(cmd: RiskCmd) -> Result<ExitCode, CliError> {
    let RiskCmd::Replay {
        file,
        json,
        warmup_days,
        scores_out,
    } = cmd;
    let mut rd = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(&file)
        .map_err(|e| CliError::Other(format!("{}: {e}", file.display())))?;
    let idx = column_indexes(rd.headers().map_err(|e| bad(1, e))?)?;
    let mut out = scores_out.as_deref().map(ScoresOut::create).transpose()?;
    let mut model = SigninRiskModel::new();
    let started = std::time::Instant::now();
    let tally = replay(&mut rd, &idx, &mut model, out.as_mut(), warmup_days)?;
    if let Some(out) = out {
        out.finish()?;
    }
    let result = tally.report(model.users(), started.elapsed().as_secs_f64());
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&result).unwrap_or_default()
        );
    } else {
        print_report(&result);
    }
    Ok(ExitCode::SUCCESS)
}

/// Where each of [`COLUMNS`] is in the header.
fn column_indexes(headers: &csv::StringRecord) -> Result<[usize; 16], CliError> {
    let mut idx = [0usize; 16];
    for (i, name) in COLUMNS.iter().enumerate() {
        idx[i] = headers
            .iter()
            .position(|h| h.trim() == *name)
            .ok_or_else(|| bad(1, format!("the header has no column {name:?}")))?;
    }
    Ok(idx)
}

/// The `--scores-out` file, written under a temporary name and renamed when complete.
struct ScoresOut {
    w: std::io::BufWriter<std::fs::File>,
    tmp: PathBuf,
    dest: PathBuf,
}

impl ScoresOut {
    fn create(dest: &Path) -> Result<Self, CliError> {
        let tmp = dest.with_extension("partial");
        let mut w = std::io::BufWriter::new(
            std::fs::File::create(&tmp)
                .map_err(|e| CliError::Other(format!("{}: {e}", tmp.display())))?,
        );
        writeln!(w, "index,score,level,detections").map_err(|e| CliError::Other(e.to_string()))?;
        Ok(ScoresOut {
            w,
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    fn row(&mut self, index: &str, s: &Scored) -> Result<(), CliError> {
        writeln!(
            self.w,
            "{},{:.4},{},{}",
            index,
            s.score,
            level(s.score),
            s.unfamiliar.join(";")
        )
        .map_err(|e| CliError::Other(e.to_string()))
    }

    fn finish(mut self) -> Result<(), CliError> {
        self.w.flush().map_err(|e| CliError::Other(e.to_string()))?;
        drop(self.w);
        std::fs::rename(&self.tmp, &self.dest)
            .map_err(|e| CliError::Other(format!("{}: {e}", self.dest.display())))
    }
}

/// The scores of the rows after the warm-up, by label.
#[derive(Default)]
struct Tally {
    rows: u64,
    legit: Vec<f64>,
    takeover: Vec<f64>,
    attack: Vec<f64>,
}

/// Scores every row in time order (each one before the model learns from it).
fn replay(
    rd: &mut csv::Reader<std::fs::File>,
    idx: &[usize; 16],
    model: &mut SigninRiskModel,
    mut out: Option<&mut ScoresOut>,
    warmup_days: u32,
) -> Result<Tally, CliError> {
    let mut tally = Tally::default();
    let mut first: Option<OffsetDateTime> = None;
    for (n, rec) in rd.records().enumerate() {
        let line = n as u64 + 2;
        let rec = rec.map_err(|e| bad(line, e))?;
        let r = row(line, &rec, idx)?;
        let at = r.attempt.at.unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let start = *first.get_or_insert(at);
        let s = model.score(&r.attempt);
        model.observe(&r.attempt);
        tally.rows += 1;
        if let Some(out) = out.as_deref_mut() {
            out.row(&r.index, &s)?;
        }
        if at - start < Duration::days(i64::from(warmup_days)) {
            continue;
        }
        if r.takeover {
            tally.takeover.push(s.score);
        } else if r.attack_ip {
            tally.attack.push(s.score);
        } else {
            tally.legit.push(s.score);
        }
    }
    Ok(tally)
}

impl Tally {
    fn report(&self, users: usize, seconds: f64) -> serde_json::Value {
        let (legit, takeover, attack) = (&self.legit, &self.takeover, &self.attack);
        let mut sorted = legit.clone();
        sorted.sort_by(f64::total_cmp);
        serde_json::json!({
            "rows": self.rows,
            "seconds": seconds,
            "users": users,
            "legitimate": legit.len(),
            "account_takeovers": takeover.len(),
            "attack_ip_attempts": attack.len(),
            "roc_auc_takeover": auc(takeover, legit),
            "takeovers_challenged": {
                "at_1_percent": caught_at(takeover, &sorted, 0.01),
                "at_5_percent": caught_at(takeover, &sorted, 0.05),
                "at_10_percent": caught_at(takeover, &sorted, 0.10),
            },
            "attack_ip_challenged_at_5_percent": caught_at(attack, &sorted, 0.05),
        })
    }
}

fn print_report(result: &serde_json::Value) {
    let pct = |v: &serde_json::Value| {
        v.as_f64()
            .map_or("n/a".into(), |x| format!("{:.1} %", x * 100.0))
    };
    println!(
        "{} rows, {} users, in {:.1} s",
        result["rows"],
        result["users"],
        result["seconds"].as_f64().unwrap_or_default()
    );
    println!(
        "legitimate {}, account takeovers {}, other attack-IP attempts {}",
        result["legitimate"], result["account_takeovers"], result["attack_ip_attempts"]
    );
    println!(
        "ROC AUC (takeovers vs legitimate): {}",
        result["roc_auc_takeover"]
            .as_f64()
            .map_or("n/a".into(), |x| format!("{x:.4}"))
    );
    let t = &result["takeovers_challenged"];
    println!(
        "takeovers challenged at 1 % / 5 % / 10 % of legitimate sign-ins challenged: {} / {} / {}",
        pct(&t["at_1_percent"]),
        pct(&t["at_5_percent"]),
        pct(&t["at_10_percent"])
    );
    println!(
        "attack-IP attempts challenged at 5 %: {}",
        pct(&result["attack_ip_challenged_at_5_percent"])
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_and_challenge_rates() {
        assert_eq!(auc(&[3.0, 4.0], &[1.0, 2.0]), 1.0);
        assert_eq!(auc(&[1.0], &[1.0]), 0.5);
        assert!((auc(&[1.0, 4.0], &[2.0, 3.0]) - 0.5).abs() < 1e-9);
        let neg: Vec<f64> = (0..100).map(f64::from).collect();
        assert_eq!(caught_at(&[99.5, 50.0], &neg, 0.01), 0.5);
        assert_eq!(family_major("Chrome 79.0.3945"), "Chrome 79");
        assert_eq!(family("Mac OS X 10.14.6"), "Mac OS X");
        assert!(timestamp("2020-02-03 12:43:30.772").is_some());
        assert!(timestamp("2020-02-03 12:43:30").is_some());
        assert!(timestamp("yesterday").is_none());
    }
}
