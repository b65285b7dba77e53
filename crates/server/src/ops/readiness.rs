//! `/readyz`'s write probe: the database must accept a small committed write, not only a
//! read. A full disk lets reads through while every write fails; the probe makes that visible
//! to the load balancer. The probe runs at most once per [`PROBE_EVERY`]; calls in between get
//! the last result, so `/readyz` cannot be used to hammer the database with writes.

use std::time::{Duration, Instant};
use trustplane_store::Store;

pub const PROBE_EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct WriteProbe {
    last: tokio::sync::Mutex<Option<(Instant, bool)>>,
}

impl WriteProbe {
    /// Whether the database accepted the latest heartbeat write.
    pub async fn writable(&self, store: &dyn Store) -> bool {
        let mut last = self.last.lock().await;
        if let Some((at, ok)) = *last
            && at.elapsed() < PROBE_EVERY
        {
            return ok;
        }
        let ok = match tokio::time::timeout(Duration::from_secs(2), store.probe_write()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(code = e.code(), error = %e, "the database refused a write");
                false
            }
            Err(_) => {
                tracing::warn!("the database write probe timed out");
                false
            }
        };
        *last = Some((Instant::now(), ok));
        ok
    }
}
