//! The one clock of the server. Production reads the system time; tests drive a manual clock
//! so that expiry, lockout windows and grace periods can be tested without sleeping.
//!
//! Read it once per request (`RequestCtx::now`) or once per background-job tick, and pass the
//! instant down: the core never reads a clock.

use std::sync::Mutex;
use time::OffsetDateTime;

/// A source of the current UTC time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that stands still until it is set or advanced (tests, simulations).
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    /// A manual clock that starts at the current system time.
    pub fn starting_now() -> ManualClock {
        ManualClock(Mutex::new(OffsetDateTime::now_utc()))
    }

    pub fn starting_at(t: OffsetDateTime) -> ManualClock {
        ManualClock(Mutex::new(t))
    }

    pub fn set(&self, t: OffsetDateTime) {
        match self.0.lock() {
            Ok(mut g) => *g = t,
            Err(poisoned) => *poisoned.into_inner() = t,
        }
    }

    pub fn advance(&self, by: time::Duration) {
        match self.0.lock() {
            Ok(mut g) => *g += by,
            Err(poisoned) => *poisoned.into_inner() += by,
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        match self.0.lock() {
            Ok(g) => *g,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = time::macros::datetime!(2026-12-01 00:00 UTC);
        let c = ManualClock::starting_at(start);
        assert_eq!(c.now(), start);
        c.advance(time::Duration::minutes(90));
        assert_eq!(c.now(), start + time::Duration::minutes(90));
        c.set(start);
        assert_eq!(c.now(), start);
    }
}
