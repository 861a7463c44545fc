//! Request budgets for the fleet: a fixed window per registry in Redis.
//!
//! Each registry request first counts itself in `PREFIX budget:REGISTRY` with one Lua
//! script (atomic on the server): `INCR`, and on the window's first request `PEXPIRE` for
//! the window's length. While the count is within the budget the request goes; past it,
//! the request is not sent and the caller hears how long the window still runs. Every
//! process sharing the Redis counts into the same key, so `docker.io=600/3600` means 600
//! requests an hour for the fleet, not per process.
//!
//! When Redis cannot count (down, slow), the request goes: each process is then held by
//! its own limits only (`serve`'s own budgets), and the fallback is counted.

use std::time::Duration;

use super::{Counters, SharedCache};

/// `INCR` the window's counter, start the window on its first request (or when the key
/// lost its expiry), and return the count and the milliseconds the window still runs.
const SPEND: &str = r"
local used = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if used == 1 or left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {used, left}
";

/// The fleet's budget of a registry is spent: how it reads, and when the window ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spent {
    /// `10 requests per 60s`.
    pub budget: String,
    /// How long the window still runs.
    pub retry_in: Duration,
}

impl SharedCache {
    /// Count one request to `registry` against the fleet's budget. `Ok` when it may go
    /// (within the budget, no budget for this registry, or Redis could not count it);
    /// `Err` when the budget is spent.
    pub async fn spend(&self, registry: &str) -> Result<(), Spent> {
        let Some(budget) = self.inner.options.budgets.get(registry).copied() else {
            return Ok(());
        };
        let window_ms = u64::try_from(budget.per.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SPEND)
            .arg(1)
            .arg(self.key(format_args!("budget:{registry}")))
            .arg(window_ms);
        let counters = &self.inner.counters;
        let (used, left_ms): (u64, i64) = match self.inner.store.run(&cmd).await {
            Some(Ok(answer)) => answer,
            Some(Err(_)) => {
                Counters::count(&counters.errors);
                Counters::count(&counters.fallbacks);
                return Ok(());
            }
            None => {
                Counters::count(&counters.fallbacks);
                return Ok(());
            }
        };
        if used <= u64::from(budget.requests) {
            return Ok(());
        }
        Counters::count(&counters.budget_spent);
        let retry_in = Duration::from_millis(u64::try_from(left_ms).unwrap_or(0));
        tracing::debug!(
            registry,
            used,
            ?retry_in,
            "the fleet's request budget is spent"
        );
        Err(Spent {
            budget: format!("{} requests per {:?}", budget.requests, budget.per),
            retry_in,
        })
    }
}
