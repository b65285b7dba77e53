//! Where events come from besides this instance's own changes: PostgreSQL `LISTEN` (every
//! instance sharing the database), or on SQLite a poll of the audit log (changes made by
//! another process, e.g. `trustplane admin …` while the server runs).

use super::{Cae, Event, from_audit};
use std::sync::Arc;
use std::time::Duration;
use trustplane_store::{AuditQuery, Backend, EVENTS_CHANNEL, Store};
use uuid::Uuid;

/// How often SQLite's audit log is polled for changes made by other processes.
pub const POLL_EVERY: Duration = Duration::from_secs(1);
const POLL_PAGE: i64 = 200;

/// The event a notification payload names. Malformed payloads invalidate everything.
pub fn parse_payload(payload: &str) -> Option<Event> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(payload) else {
        return Some(Event::All);
    };
    if let Some(action) = v["action"].as_str() {
        return from_audit(
            action,
            v["target_type"].as_str().unwrap_or_default(),
            v["target_id"].as_str(),
        );
    }
    let id = v["id"].as_str().and_then(|s| Uuid::parse_str(s).ok());
    Some(match (v["event"].as_str(), id) {
        (Some("session"), Some(id)) => Event::Session(id),
        (Some("user"), Some(id)) => Event::User(id),
        (Some("policy"), _) => Event::Policy,
        (Some("routes"), _) => Event::Routes,
        (Some("device"), _) => Event::Device(v["id"].as_str().unwrap_or_default().to_string()),
        _ => Event::All,
    })
}

/// Starts the event source for this backend (call once, inside the runtime).
pub fn start(cae: Arc<Cae>, store: Arc<dyn Store>, database_url: String) {
    match store.backend() {
        Backend::Postgres => {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            cae.set_publisher(tx);
            tokio::spawn(publish(rx, database_url.clone()));
            tokio::spawn(listen(cae, database_url));
        }
        Backend::Sqlite => {
            tokio::spawn(poll(cae, store));
        }
    }
}

async fn publish(mut rx: tokio::sync::mpsc::UnboundedReceiver<String>, url: String) {
    let pool = match sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(&url)
    {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "continuous access: cannot create the publishing pool");
            return;
        }
    };
    while let Some(payload) = rx.recv().await {
        for attempt in 0..2 {
            match sqlx::query("SELECT pg_notify($1, $2)")
                .bind(EVENTS_CHANNEL)
                .bind(&payload)
                .execute(&pool)
                .await
            {
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "continuous access: cannot publish an event");
                }
            }
        }
    }
}

async fn listen(cae: Arc<Cae>, url: String) {
    loop {
        match sqlx::postgres::PgListener::connect(&url).await {
            Ok(mut l) => match l.listen(EVENTS_CHANNEL).await {
                Ok(()) => {
                    cae.set_live();
                    tracing::info!("continuous access: listening for change events");
                    // `None` or an error: connection lost, notifications may be missed.
                    while let Ok(Some(n)) = l.try_recv().await {
                        if let Some(e) = parse_payload(n.payload()) {
                            cae.apply(&e);
                        }
                    }
                    tracing::warn!("continuous access: event listener lost; caches cleared");
                }
                Err(e) => tracing::warn!(error = %e, "continuous access: LISTEN failed"),
            },
            Err(e) => tracing::warn!(error = %e, "continuous access: cannot connect the listener"),
        }
        cae.set_down();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn poll(cae: Arc<Cae>, store: Arc<dyn Store>) {
    let mut last: Option<i64> = None;
    loop {
        let q = AuditQuery {
            limit: POLL_PAGE,
            ..Default::default()
        };
        match store.list_audit(&q).await {
            Ok(entries) => {
                let newest = entries.first().map_or(0, |e| e.seq);
                match last {
                    None => cae.set_live(),
                    Some(seen) => {
                        if !cae.is_live() {
                            cae.set_live();
                        }
                        let fresh: Vec<_> = entries.iter().filter(|e| e.seq > seen).collect();
                        if fresh.len() as i64 >= POLL_PAGE {
                            cae.apply(&Event::All);
                        } else {
                            for e in fresh {
                                if let Some(ev) =
                                    from_audit(&e.action, &e.target_type, e.target_id.as_deref())
                                {
                                    cae.apply(&ev);
                                }
                            }
                        }
                    }
                }
                last = Some(newest.max(last.unwrap_or(0)));
            }
            Err(e) => {
                tracing::warn!(error = %e, "continuous access: cannot read the audit log");
                cae.set_down();
            }
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
