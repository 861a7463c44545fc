//! Error bodies: turning what went wrong into short, printable reasons.
//!
//! Registries explain failures in a JSON body (`{"errors":[{"code":"MANIFEST_UNKNOWN",
//! "message":"…"}]}`); the first entry becomes a one-line message with control characters
//! removed and a bounded length, so a hostile registry cannot make us print whatever it
//! likes. Transport failures (connect, timeout, TLS) are described by their innermost cause.

use reqwest::StatusCode;
use serde::Deserialize;

use super::{Call, Transport};
use crate::error::RegistryError;

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
pub(super) struct ErrorEntry {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

pub(super) fn error_entries(body: &[u8]) -> Vec<ErrorEntry> {
    serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.errors)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| !e.code.is_empty())
        .collect()
}

/// A short, printable message from a JSON error body (`MANIFEST_UNKNOWN: manifest unknown`).
pub(super) fn error_message(body: &[u8]) -> Option<String> {
    let first = error_entries(body).into_iter().next()?;
    Some(
        format!("{}: {}", first.code, first.message)
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect(),
    )
}

impl Transport {
    /// A 401 or 403, naming the credentials that were refused (or that there were none).
    pub(super) fn denied(&self, call: &Call<'_>, status: StatusCode, body: &[u8]) -> RegistryError {
        RegistryError::Denied {
            registry: call.registry.to_string(),
            request: call.what.clone(),
            status: status.as_u16(),
            message: error_message(body),
            credentials: self.credential_source(call),
        }
    }
}

pub(super) fn describe_transport_error(error: &reqwest::Error) -> String {
    use std::error::Error as _;
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    // The innermost cause says the most ("Connection refused", "invalid peer certificate").
    let mut cause: Option<&dyn std::error::Error> = error.source();
    let mut last = None;
    while let Some(c) = cause {
        last = Some(c.to_string());
        cause = c.source();
    }
    match last {
        Some(detail) => format!("{kind}: {detail}"),
        None => kind.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_short_messages() {
        let body = br#"{"errors":[{"code":"DENIED","message":"no\naccess"}]}"#;
        assert_eq!(error_message(body).as_deref(), Some("DENIED: noaccess"));
        assert_eq!(error_message(b"<html>"), None);
    }
}
