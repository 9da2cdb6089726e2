//! Abuse limits: how many reports per site, and in all, may be stored per minute.
//!
//! Counted per process (a Lambda instance or one `lookout serve`); API Gateway's throttling is
//! the outer guard in front of every instance. Reports over the budget are counted and dropped,
//! and the request is still answered 204 (browsers would re-send anything else).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::report::Timestamp;

/// Sites tracked per minute at most; past that, only the global cap applies to new sites.
const MAX_TRACKED_SITES: usize = 100_000;

/// Per-minute report budgets.
#[derive(Debug, Default)]
pub struct Budget {
    per_site: u64,
    global: u64,
    state: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    minute: i64,
    global_used: u64,
    sites: HashMap<String, u64>,
}

impl Budget {
    /// Budgets of `per_site` and `global` reports per minute; 0 means unlimited.
    pub fn new(per_site: u64, global: u64) -> Self {
        Self {
            per_site,
            global,
            state: Mutex::new(Window::default()),
        }
    }

    /// Whether any cap is set.
    pub fn is_limited(&self) -> bool {
        self.per_site > 0 || self.global > 0
    }

    /// Admits up to `n` reports of `site` at `now`; returns how many may be stored.
    pub fn admit(&self, site: &str, n: u64, now: Timestamp) -> u64 {
        if !self.is_limited() || n == 0 {
            return n;
        }
        let minute = now.millis().div_euclid(60_000);
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if w.minute != minute {
            w.minute = minute;
            w.global_used = 0;
            w.sites.clear();
        }
        let mut admitted = n;
        if self.global > 0 {
            admitted = admitted.min(self.global.saturating_sub(w.global_used));
        }
        if self.per_site > 0 {
            let tracked = w.sites.len();
            match w.sites.get_mut(site) {
                Some(used) => {
                    admitted = admitted.min(self.per_site.saturating_sub(*used));
                    *used += admitted;
                }
                None if tracked < MAX_TRACKED_SITES => {
                    admitted = admitted.min(self.per_site);
                    w.sites.insert(site.to_owned(), admitted);
                }
                None => {}
            }
        }
        w.global_used += admitted;
        admitted
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
}
