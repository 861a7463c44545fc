//! Rate-limit headers: what a registry says about its quota on each answer.
//!
//! Docker Hub sends `ratelimit-limit` (`100;w=21600`: 100 pulls per 6 hours),
//! `ratelimit-remaining` and `docker-ratelimit-source` (the IP or account counted). The
//! transport keeps the latest values per host; callers show them in `--debug` and JSON.

use reqwest::header::HeaderMap;
use serde::Serialize;

use super::{Transport, header_str};

/// What a registry said about its rate limit on its latest answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    /// `ratelimit-limit`, e.g. `100;w=21600`.
    pub limit: Option<String>,
    /// `ratelimit-remaining`, e.g. `98;w=21600`.
    pub remaining: Option<String>,
    /// `docker-ratelimit-source`: the IP or account the limit is counted against.
    pub source: Option<String>,
}

impl Transport {
    /// The latest rate-limit headers per registry host.
    pub fn rate_limits(&self) -> Vec<(String, RateLimit)> {
        let hosts = self.hosts.lock().expect("transport state poisoned");
        let mut limits: Vec<(String, RateLimit)> = hosts
            .iter()
            .filter_map(|(host, state)| state.rate_limit.clone().map(|l| (host.clone(), l)))
            .collect();
        limits.sort_by(|a, b| a.0.cmp(&b.0));
        limits
    }

    /// Keep the rate-limit headers of an answer, when it has any.
    pub(super) fn record_rate_limit(&self, host: &str, headers: &HeaderMap) {
        let Some(limit) = RateLimit::from_headers(headers) else {
            return;
        };
        tracing::debug!(
            host,
            limit = limit.limit.as_deref().unwrap_or("-"),
            remaining = limit.remaining.as_deref().unwrap_or("-"),
            source = limit.source.as_deref().unwrap_or("-"),
            "registry rate limit"
        );
        self.with_host(host, |s| s.rate_limit = Some(limit));
    }
}

impl RateLimit {
    /// The rate-limit headers of an answer; `None` when it has none of them.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<RateLimit> {
        let limit = header_str(headers, "ratelimit-limit");
        let remaining = header_str(headers, "ratelimit-remaining");
        let source = header_str(headers, "docker-ratelimit-source");
        if limit.is_none() && remaining.is_none() && source.is_none() {
            return None;
        }
        Some(RateLimit {
            limit,
            remaining,
            source,
        })
    }
}
