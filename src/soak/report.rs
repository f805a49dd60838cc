//! What a soak run saw, and the summary `gilscope soak` prints.
//!
//! Owns: [`SoakReport`] — its fields are filled once, by [`super::run`],
//! from the counters of each interpreter's load threads.

use std::time::Duration;

use super::SoakConfig;

/// What a soak run saw.
#[derive(Clone, Debug)]
pub struct SoakReport {
    /// Operations done, by kind: interpreted, C keeping, C releasing,
    /// foreign-thread calls, sleeps, check points.
    pub operations: [u64; 6],
    /// Times two threads were inside a critical section at once.
    pub exclusion_violations: u64,
    /// The shared counter minus the sum of the threads' own counts.
    pub lost_updates: i64,
    /// Threads that did not join in time.
    pub unjoined: usize,
    /// Live interpreter objects left over.
    pub leaked_objects: i64,
    /// Policy and interval changes made while running.
    pub changes: u64,
    /// Lock switches during the run.
    pub switches: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Pending calls queued (a full queue refuses some; those are not
    /// counted) and run.
    pub pending_calls: (u64, u64),
    /// Pending calls that found the lock not held.
    pub pending_without_lock: u64,
    /// How many interpreters the load threads belonged to (1 or 2).
    pub interpreters: usize,
    /// Messages received (and opened) from the channel the interpreters
    /// share.
    pub messages: u64,
    /// Children forked by a thread holding the lock, and by one not
    /// holding it.
    pub forks: [u64; 2],
    /// Children that found their lock working and exited 0.
    pub forks_ok: u64,
    /// Children that did not exit within the bound and were killed.
    pub forks_hung: u64,
    /// Extension calls made, and those that failed or answered wrong
    /// (`None` without an extension).
    pub extension_calls: Option<(u64, u64)>,
}

impl SoakReport {
    /// Whether every invariant held.
    pub fn ok(&self) -> bool {
        self.exclusion_violations == 0
            && self.lost_updates == 0
            && self.unjoined == 0
            && self.leaked_objects == 0
            && self.pending_calls.0 == self.pending_calls.1
            && self.pending_without_lock == 0
            && self.extension_calls.is_none_or(|(_, wrong)| wrong == 0)
            && self.forks_ok == self.forks[0] + self.forks[1]
    }

    /// The summary `gilscope soak` prints.
    pub fn summary(&self, config: &SoakConfig) -> String {
        let names = [
            "interpreted",
            "C keeping the lock",
            "C releasing it",
            "foreign-thread calls",
            "sleeps",
            "check points",
        ];
        let mut out = format!(
            "soak: {} threads in {} interpreter{} for {:.1} s (seed {}), {} lock switches, {} policy/interval changes\n",
            config.threads,
            self.interpreters,
            if self.interpreters == 1 { "" } else { "s" },
            self.elapsed.as_secs_f64(),
            config.seed,
            self.switches,
            self.changes
        );
        for (name, n) in names.iter().zip(self.operations) {
            out.push_str(&format!("  {name:<22}{n:>10}\n"));
        }
        out.push_str(&format!("  {:<22}{:>10}\n", "messages received", self.messages));
        if let Some((calls, _)) = self.extension_calls {
            out.push_str(&format!("  {:<22}{calls:>10}\n", "extension calls"));
        }
        out.push_str(&format!(
            "  one holder at a time  {}\n  counts add up         {}\n  every thread joined   {}\n  objects freed         {}\n",
            if self.exclusion_violations == 0 { "yes".to_owned() } else { format!("NO ({} violations)", self.exclusion_violations) },
            if self.lost_updates == 0 { "yes".to_owned() } else { format!("NO ({} lost)", self.lost_updates) },
            if self.unjoined == 0 { "yes".to_owned() } else { format!("NO ({} stuck)", self.unjoined) },
            if self.leaked_objects == 0 { "yes".to_owned() } else { format!("NO ({} left)", self.leaked_objects) },
        ));
        let (queued, ran) = self.pending_calls;
        out.push_str(&format!(
            "  pending calls run     {}\n",
            if queued == ran && self.pending_without_lock == 0 {
                format!("yes ({ran}, each with the lock)")
            } else {
                format!(
                    "NO ({ran} of {queued} ran, {} without the lock)",
                    self.pending_without_lock
                )
            }
        ));
        let forked = self.forks[0] + self.forks[1];
        out.push_str(&format!(
            "  forked children ok    {}\n",
            if self.forks_ok == forked {
                format!(
                    "yes ({forked}: {} by the holder, {} by a thread without the lock)",
                    self.forks[0], self.forks[1]
                )
            } else {
                format!(
                    "NO ({} of {forked} ok, {} hung and killed)",
                    self.forks_ok, self.forks_hung
                )
            }
        ));
        if let Some((calls, wrong)) = self.extension_calls {
            out.push_str(&format!(
                "  extension answers     {}\n",
                if wrong == 0 {
                    "right".to_owned()
                } else {
                    format!("NO ({wrong} of {calls} wrong)")
                }
            ));
        }
        out.push_str(if self.ok() { "invariants held\n" } else { "INVARIANTS BROKEN\n" });
        out
    }
}
