//! The continuous-access caches listen to the store's change feed (`trustplane_store::changes`):
//! the store announces every committed change (this process's own right after `COMMIT`,
//! other instances' through PostgreSQL `NOTIFY`, other processes' on SQLite by polling the
//! audit log) and says when delivery may have gaps.

use crate::enforce::cae::{Cae, Event, from_audit};
use trustplane_store::{Change, ChangeListener};

/// The event a committed change implies (`None`: nothing forward-auth depends on).
pub fn event_of(change: &Change) -> Option<Event> {
    match change {
        Change::Audited {
            action,
            target_type,
            target_id,
        } => from_audit(action, target_type, target_id.as_deref()),
        Change::Session(id) => Some(Event::Session(*id)),
        Change::User(id) => Some(Event::User(*id)),
        Change::Device(id) => Some(Event::Device(id.to_string())),
        Change::All => Some(Event::All),
    }
}

impl ChangeListener for Cae {
    fn changed(&self, change: &Change) {
        if let Some(e) = event_of(change) {
            self.apply(&e);
        }
    }

    fn feed_live(&self, live: bool) {
        if live {
            self.set_live();
        } else {
            self.set_down();
        }
    }
}
