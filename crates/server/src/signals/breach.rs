//! The breached-password filter in use, and its hot reload: `trustplane password
//! import-breached` replaces the file atomically (write to a temporary file, then rename), a
//! watcher notices the new file and swaps it in without a restart. A file that fails to load
//! (truncated, corrupt, unreadable) is reported and the previous filter stays in use.

use arc_swap::ArcSwapOption;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use trustplane_breach::BreachFilter;

/// What identifies one version of the file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: u64,
}

fn stamp(path: &Path) -> Option<FileStamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        modified: m.modified().ok(),
        len: m.len(),
        #[cfg(unix)]
        inode: std::os::unix::fs::MetadataExt::ino(&m),
    })
}

/// The state shown to administrators (API and console).
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct BreachStatus {
    /// Where the filter is read from.
    pub path: String,
    /// Whether a filter is in use.
    pub loaded: bool,
    /// Distinct breached hashes in the filter in use.
    pub hashes: u64,
    /// Minimum breach count of the hashes included.
    pub threshold: u64,
    /// Memory per hash, in bytes.
    pub bytes_per_hash: f64,
    /// When the filter in use was loaded (`YYYY-MM-DD hh:mm:ss UTC`).
    pub loaded_at: Option<String>,
    /// The last failed load, if the newest file could not be used.
    pub last_error: Option<String>,
}

/// What a reload attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The file has not changed since the last load (or attempt).
    Unchanged,
    /// A new filter is in use.
    Loaded { hashes: u64 },
    /// No file at the path; the filter in use (if any) stays.
    Missing,
    /// The file could not be used; the filter in use (if any) stays.
    Failed(String),
}

pub struct BreachSlot {
    path: PathBuf,
    current: ArcSwapOption<BreachFilter>,
    inner: Mutex<SlotInner>,
}

#[derive(Default)]
struct SlotInner {
    seen: Option<FileStamp>,
    status: BreachStatus,
}

impl BreachSlot {
    /// A slot for the filter at `path`, holding `initial` (already loaded by the caller).
    pub fn new(path: PathBuf, initial: Option<BreachFilter>) -> BreachSlot {
        let seen = initial.as_ref().and_then(|_| stamp(&path));
        let mut status = BreachStatus {
            path: path.display().to_string(),
            ..BreachStatus::default()
        };
        if let Some(f) = &initial {
            describe(&mut status, f);
        }
        BreachSlot {
            path,
            current: ArcSwapOption::new(initial.map(Arc::new)),
            inner: Mutex::new(SlotInner { seen, status }),
        }
    }

    /// The filter in use now.
    pub fn get(&self) -> Option<Arc<BreachFilter>> {
        self.current.load_full()
    }

    pub fn status(&self) -> BreachStatus {
        match self.inner.lock() {
            Ok(g) => g.status.clone(),
            Err(p) => p.into_inner().status.clone(),
        }
    }

    /// Loads the file if it changed since the last look (blocking file I/O: call it from a
    /// blocking thread). `force` reloads even an unchanged file.
    pub fn reload(&self, force: bool) -> Reload {
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let Some(now_stamp) = stamp(&self.path) else {
            if g.seen.is_some() {
                tracing::warn!(path = %self.path.display(),
                    "the breached-password filter file is gone; the loaded filter stays in use");
                g.seen = None;
            }
            return Reload::Missing;
        };
        if !force && g.seen == Some(now_stamp) {
            return Reload::Unchanged;
        }
        g.seen = Some(now_stamp);
        match BreachFilter::load(&self.path) {
            Ok(f) => {
                let hashes = f.hashes;
                describe(&mut g.status, &f);
                g.status.last_error = None;
                self.current.store(Some(Arc::new(f)));
                tracing::info!(path = %self.path.display(), hashes,
                    "breached-password filter loaded");
                Reload::Loaded { hashes }
            }
            Err(e) => {
                let msg = e.to_string();
                tracing::error!(path = %self.path.display(), error = %msg,
                    "the new breached-password filter cannot be used; the previous one stays in use");
                g.status.last_error = Some(msg.clone());
                Reload::Failed(msg)
            }
        }
    }

    /// Checks the file every `every` until the process ends.
    pub fn watch(self: Arc<Self>, every: Duration) {
        if every.is_zero() {
            return;
        }
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let slot = self.clone();
                if tokio::task::spawn_blocking(move || slot.reload(false))
                    .await
                    .is_err()
                {
                    tracing::error!("the breached-password filter reload task failed");
                }
            }
        });
    }
}

fn describe(status: &mut BreachStatus, f: &BreachFilter) {
    status.loaded = true;
    status.hashes = f.hashes;
    status.threshold = f.threshold;
    status.bytes_per_hash = f.bytes_per_hash();
    status.loaded_at = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
        ))
        .ok();
}
