//! When an hourly count is a spike.

/// A spike: the current hour's count over `factor` times the hourly average of the 24 hours
/// before, and at least `min_reports`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpikeRule {
    pub factor: f64,
    pub min_reports: u64,
}

impl Default for SpikeRule {
    /// 20 times the previous day's hourly average (Csper's rule), at least 50 reports.
    fn default() -> Self {
        Self {
            factor: 20.0,
            min_reports: 50,
        }
    }
}

impl SpikeRule {
    /// Whether `hour` reports in the current hour, after `previous_day` in the 24 hours
    /// before, are a spike.
    pub fn is_spike(&self, hour: u64, previous_day: u64) -> bool {
        hour >= self.min_reports && hour as f64 > self.factor * (previous_day as f64 / 24.0)
    }

    /// Whether a count going from `before` to `after` should be checked: when it first
    /// reaches the minimum and each time it passes another multiple of it, so that a problem
    /// costs a look at its previous day a bounded number of times per hour.
    pub fn worth_checking(&self, before: u64, after: u64) -> bool {
        let step = self.min_reports.max(1);
        after >= self.min_reports && after / step > before / step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spike_is_over_the_factor_and_the_minimum() {
        let r = SpikeRule::default();
        assert!(r.is_spike(50, 0), "a new burst");
        assert!(!r.is_spike(49, 0), "under the minimum");
        // 48 a day is 2 an hour; 20 times that is 40.
        assert!(r.is_spike(50, 48));
        assert!(!r.is_spike(50, 60 * 24), "a steady 60 an hour is no spike");
        assert!(r.worth_checking(49, 50));
        assert!(!r.worth_checking(50, 60));
        assert!(r.worth_checking(60, 101));
        assert!(!r.worth_checking(0, 10));
    }
}
