//! The node's budget of import bytes in flight: every import request and import job holds its
//! body's size from the budget until it ends. An import's memory grows with its body, so the
//! budget bounds what all imports of a node can take together; a request
//! beyond it waits a little, then is told to come back (`Error::Overloaded`) instead of running
//! the node out of memory.

use crate::Error;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget is counted in units of this many bytes (a semaphore counts in `u32` per take).
const UNIT: usize = 64 * 1024;

/// Shared by every clone; a node has one.
#[derive(Clone, Debug)]
pub struct ImportBudget {
    permits: Arc<Semaphore>,
    units: u32,
    wait: Duration,
    idle: Option<fn()>,
}

/// A share of the budget, given back when dropped; the last share given back runs the budget's
/// `on_idle`.
#[derive(Debug)]
pub struct BudgetShare {
    permit: Option<OwnedSemaphorePermit>,
    budget: ImportBudget,
}

impl Drop for BudgetShare {
    fn drop(&mut self) {
        drop(self.permit.take());
        if let Some(idle) = self.budget.idle {
            if self.budget.permits.available_permits() == self.budget.units as usize {
                idle();
            }
        }
    }
}

impl ImportBudget {
    /// A budget of `bytes` in flight; a request that does not fit waits up to `wait` for others
    /// to end.
    pub fn new(bytes: usize, wait: Duration) -> Self {
        let units = (bytes.div_ceil(UNIT)).clamp(1, u32::MAX as usize) as u32;
        ImportBudget {
            permits: Arc::new(Semaphore::new(units as usize)),
            units,
            wait,
            idle: None,
        }
    }

    /// The same budget, calling `idle` when its last import ends: `serve` asks the allocator
    /// to return the imports' freed memory to the system then.
    pub fn on_idle(mut self, idle: fn()) -> Self {
        self.idle = Some(idle);
        self
    }

    /// What `serve` asked to run when imports free memory (see [`on_idle`](Self::on_idle)).
    pub fn release_hook(&self) -> Option<fn()> {
        self.idle
    }

    fn share(&self, permit: OwnedSemaphorePermit) -> BudgetShare {
        BudgetShare {
            permit: Some(permit),
            budget: self.clone(),
        }
    }

    /// The budget's size in bytes.
    pub fn bytes(&self) -> usize {
        self.units as usize * UNIT
    }

    /// Takes `bytes` from the budget (the whole budget at most, so that one import larger than
    /// the budget still runs alone), waiting up to the budget's wait.
    pub async fn take(&self, bytes: usize) -> Result<BudgetShare, Error> {
        let units = bytes.div_ceil(UNIT).clamp(1, self.units as usize) as u32;
        match tokio::time::timeout(
            self.wait,
            self.permits.clone().acquire_many_owned(units),
        )
        .await
        {
            Ok(Ok(permit)) => Ok(self.share(permit)),
            _ => Err(Error::Overloaded {
                message: format!(
                    "This node is importing all it can hold at once ({} MiB of import requests in flight). Nothing was imported: send the request again after the time in Retry-After.",
                    self.bytes() / (1024 * 1024)
                ),
                retry_after_secs: self.retry_after_secs(bytes),
            }),
        }
    }

    /// Takes `bytes`, waiting as long as it takes (an import job, queued anyway).
    pub async fn wait_for(&self, bytes: usize) -> BudgetShare {
        let units = bytes.div_ceil(UNIT).clamp(1, self.units as usize) as u32;
        let permit = self
            .permits
            .clone()
            .acquire_many_owned(units)
            .await
            .expect("the budget's semaphore is never closed");
        self.share(permit)
    }

    /// Takes `bytes` without waiting (an import job, which its worker runs later when refused).
    pub fn try_take(&self, bytes: usize) -> Option<BudgetShare> {
        let units = bytes.div_ceil(UNIT).clamp(1, self.units as usize) as u32;
        self.permits
            .clone()
            .try_acquire_many_owned(units)
            .ok()
            .map(|permit| self.share(permit))
    }

    /// About how long until a request of `bytes` may fit: an import writes some 10 MB of
    /// request per second, so the imports in flight end within seconds.
    fn retry_after_secs(&self, bytes: usize) -> u32 {
        let in_flight = self.bytes() - self.permits.available_permits() * UNIT;
        ((in_flight.min(bytes.max(UNIT)) / (10 * 1024 * 1024)) as u32).clamp(1, 30)
    }
}

impl Default for ImportBudget {
    /// Unbounded for tools and tests; `serve` sets one from the machine's memory.
    fn default() -> Self {
        ImportBudget::new(usize::MAX / 2, Duration::from_secs(1))
    }
}

/// The default budget for a machine with `total` bytes of memory: a tenth of it, so that the
/// imports' peak (about two and a half times their bodies, beside the server's fixed start-up
/// and database cache) stays within the machine.
pub fn default_bytes(total: usize) -> usize {
    (total / 10).max(64 * 1024 * 1024)
}

/// The machine's memory in bytes, from `/proc/meminfo` (a cgroup's limit when lower).
pub fn machine_memory() -> Option<usize> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: usize = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let total = kib * 1024;
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok());
    Some(cgroup.map_or(total, |c| c.min(total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_beyond_the_budget_is_told_when_to_come_back() {
        let b = ImportBudget::new(4 * UNIT, Duration::from_millis(10));
        let held = b.take(3 * UNIT).await.unwrap();
        match b.take(2 * UNIT).await {
            Err(Error::Overloaded {
                retry_after_secs, ..
            }) => assert!(retry_after_secs >= 1),
            other => panic!("expected Overloaded, got {other:?}"),
        }
        assert!(b.try_take(2 * UNIT).is_none());
        drop(held);
        // Larger than the whole budget: runs alone.
        let alone = b.take(100 * UNIT).await.unwrap();
        assert!(b.try_take(1).is_none());
        drop(alone);
        assert!(b.try_take(1).is_some());
    }
}
