//! Abuse limits, per clock minute: how many reports per site, and in all, may be stored, and
//! how many bytes of recovery lines may be logged.
//!
//! Counted per process (a Lambda instance or one `lookout serve`); API Gateway's throttling is
//! the outer guard in front of every instance. Reports over the budget are counted and dropped,
//! and the request is still answered 204 (browsers would re-send anything else). Unstored
//! reports past the recovery bytes are still answered 503 and counted, but not logged one by
//! one (see [`crate::recovery`]).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::report::Timestamp;

/// Sites tracked per minute at most; past that, only the global cap applies to new sites.
const MAX_TRACKED_SITES: usize = 100_000;

/// The default bound on recovery lines: bytes per minute per process.
pub const DEFAULT_RECOVERY_BYTES_PER_MINUTE: u64 = 64 * 1024;

/// A value that starts afresh every clock minute, under a lock: what a per-minute budget has
/// used so far.
#[derive(Debug, Default)]
pub struct MinuteWindow<T> {
    /// The minute (since the epoch) and its value.
    current: Mutex<(i64, T)>,
}

impl<T: Default> MinuteWindow<T> {
    /// Runs `f` on the value of `now`'s minute, which starts as `T::default()`. On a minute's
    /// first call, `f` is also given the value the previous minute ended with.
    pub fn with<R>(&self, now: Timestamp, f: impl FnOnce(&mut T, Option<T>) -> R) -> R {
        let minute = now.millis().div_euclid(60_000);
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let (at, value) = &mut *current;
        let ended = if *at == minute {
            None
        } else {
            *at = minute;
            Some(std::mem::take(value))
        };
        f(value, ended)
    }
}

/// Per-minute budgets: reports stored per site and in all, and bytes of recovery lines.
#[derive(Debug)]
pub struct Budget {
    per_site: u64,
    global: u64,
    stored: MinuteWindow<Stored>,
    recovery_bytes: u64,
    recovery: MinuteWindow<RecoveryLines>,
}

/// The reports a minute stored.
#[derive(Debug, Default)]
struct Stored {
    global: u64,
    sites: HashMap<String, u64>,
}

/// The recovery lines of a minute.
#[derive(Debug, Default)]
struct RecoveryLines {
    /// Bytes logged.
    bytes: u64,
    /// Lines not logged (over the budget).
    dropped: u64,
}

/// What the recovery budget decided for one line (counted either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryAdmission {
    /// The line fits this minute's bytes: log it.
    pub logged: bool,
    /// The line is this minute's first one over the budget.
    pub first_dropped: bool,
    /// On a minute's first line, the lines the previous minute dropped (else 0).
    pub dropped_last_minute: u64,
}

impl Default for Budget {
    /// No report cap, and [`DEFAULT_RECOVERY_BYTES_PER_MINUTE`].
    fn default() -> Self {
        Self::new(0, 0)
    }
}

impl Budget {
    /// Budgets of `per_site` and `global` reports per minute (0 means unlimited), and
    /// [`DEFAULT_RECOVERY_BYTES_PER_MINUTE`] of recovery lines.
    pub fn new(per_site: u64, global: u64) -> Self {
        Self {
            per_site,
            global,
            stored: MinuteWindow::default(),
            recovery_bytes: DEFAULT_RECOVERY_BYTES_PER_MINUTE,
            recovery: MinuteWindow::default(),
        }
    }

    /// The same budgets with `bytes` of recovery lines per minute (0: no recovery lines).
    pub fn with_recovery_bytes_per_minute(mut self, bytes: u64) -> Self {
        self.recovery_bytes = bytes;
        self
    }

    /// Whether any report cap is set.
    pub fn is_limited(&self) -> bool {
        self.per_site > 0 || self.global > 0
    }

    /// Admits up to `n` reports of `site` at `now`; returns how many may be stored.
    pub fn admit(&self, site: &str, n: u64, now: Timestamp) -> u64 {
        if !self.is_limited() || n == 0 {
            return n;
        }
        self.stored.with(now, |stored, _| {
            let mut admitted = n;
            if self.global > 0 {
                admitted = admitted.min(self.global.saturating_sub(stored.global));
            }
            if self.per_site > 0 {
                let tracked = stored.sites.len();
                match stored.sites.get_mut(site) {
                    Some(used) => {
                        admitted = admitted.min(self.per_site.saturating_sub(*used));
                        *used += admitted;
                    }
                    None if tracked < MAX_TRACKED_SITES => {
                        admitted = admitted.min(self.per_site);
                        stored.sites.insert(site.to_owned(), admitted);
                    }
                    None => {}
                }
            }
            stored.global += admitted;
            admitted
        })
    }

    /// Bytes of recovery lines allowed per minute.
    pub fn recovery_bytes_per_minute(&self) -> u64 {
        self.recovery_bytes
    }

    /// Counts a recovery line of `bytes` at `now`: logged if it fits this minute's bytes,
    /// else dropped.
    pub fn admit_recovery_line(&self, bytes: u64, now: Timestamp) -> RecoveryAdmission {
        self.recovery.with(now, |lines, ended| {
            let dropped_last_minute = ended.map_or(0, |e| e.dropped);
            let total = lines.bytes.saturating_add(bytes);
            let logged = total <= self.recovery_bytes;
            if logged {
                lines.bytes = total;
            } else {
                lines.dropped += 1;
            }
            RecoveryAdmission {
                logged,
                first_dropped: !logged && lines.dropped == 1,
                dropped_last_minute,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_site_and_global_caps_reset_every_minute() {
        let b = Budget::new(10, 15);
        let t = Timestamp(60_000 * 1000);
        assert_eq!(b.admit("a.com", 8, t), 8);
        assert_eq!(b.admit("a.com", 8, t), 2, "site cap");
        assert_eq!(b.admit("b.com", 8, t), 5, "global cap");
        assert_eq!(b.admit("c.com", 1, t), 0);
        let next = Timestamp(t.millis() + 60_000);
        assert_eq!(b.admit("a.com", 8, next), 8);
        let unlimited = Budget::new(0, 0);
        assert_eq!(unlimited.admit("a.com", 1_000_000, t), 1_000_000);
    }

    #[test]
    fn the_recovery_budget_admits_lines_up_to_its_bytes_per_minute() {
        let budget = Budget::default().with_recovery_bytes_per_minute(2_500);
        let minute = Timestamp(60_000 * 29_000_000);
        let lines: Vec<RecoveryAdmission> = (0..5)
            .map(|_| budget.admit_recovery_line(1_000, minute))
            .collect();
        let admitted = lines.iter().filter(|l| l.logged).count();
        assert_eq!(admitted, 2, "two 1,000-byte lines fit in 2,500 bytes");
        let first_dropped: Vec<bool> = lines.iter().map(|l| l.first_dropped).collect();
        assert_eq!(first_dropped, [false, false, true, false, false]);
        assert_eq!(budget.recovery.with(minute, |w, _| w.dropped), 3);
        let next = Timestamp(minute.millis() + 60_000);
        let line = budget.admit_recovery_line(1_000, next);
        assert!(line.logged, "a new minute, a new budget");
        assert_eq!(line.dropped_last_minute, 3, "the minute before is told");
        assert_eq!(budget.recovery.with(next, |w, _| w.dropped), 0);
    }
}
