//! Retry and pacing: when a failed request is worth another attempt, how long to wait
//! before it, and how requests to one host are spread over time.
//!
//! Connection errors, timeouts, truncated bodies, 429 and 5xx are retried with exponential
//! backoff and jitter, honouring `Retry-After` (delta-seconds only), within a bounded number
//! of attempts ([`ClientOptions::max_attempts`](super::ClientOptions::max_attempts)) and a
//! bounded total time ([`ClientOptions::max_retry_time`](super::ClientOptions::max_retry_time)).
//! A `Retry-After` longer than the longest allowed wait gives up at once. With
//! [`ClientOptions::requests_per_second`](super::ClientOptions::requests_per_second), each
//! host hands out evenly spaced start slots.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

use super::{Transport, header_str};

impl Transport {
    pub(super) fn give_up(&self, attempt: u32, started: Instant, wait: Option<Duration>) -> bool {
        let options = &self.options;
        let wait = wait.unwrap_or_else(|| backoff(attempt));
        attempt >= options.max_attempts.max(1)
            || wait > options.max_retry_wait
            || started.elapsed() + wait > options.max_retry_time
    }

    /// Wait for this host's next request slot (requests-per-second limit).
    pub(super) async fn pace(&self, host: &str) {
        let Some(rps) = self.options.requests_per_second.filter(|r| *r > 0.0) else {
            return;
        };
        let interval = Duration::from_secs_f64(1.0 / rps);
        let slot = self.with_host(host, |s| {
            let now = Instant::now();
            let slot = s.next_slot.map_or(now, |n| n.max(now));
            s.next_slot = Some(slot + interval);
            slot
        });
        tokio::time::sleep_until(slot.into()).await;
    }
}

pub(super) fn retry_after_header(headers: &HeaderMap) -> Option<Duration> {
    let value = header_str(headers, "retry-after")?;
    // Only the delta-seconds form; an HTTP date is treated as "no hint".
    value.parse::<u64>().ok().map(Duration::from_secs)
}

/// Exponential backoff with jitter: ~200 ms, ~400 ms, ~800 ms …
pub(super) fn backoff(attempt: u32) -> Duration {
    let base = 200u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(6));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    Duration::from_millis(base + nanos % (base / 2 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn backoff_grows_and_is_bounded() {
        assert!(
            backoff(1) >= Duration::from_millis(200) && backoff(1) < Duration::from_millis(400)
        );
        assert!(backoff(3) >= Duration::from_millis(800));
        assert!(backoff(60) <= Duration::from_millis(200 * 64 * 2));
    }
}
