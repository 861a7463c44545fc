//! One module per command; each turns its settings ([`crate::settings::Settings`]) and its
//! own flags into calls of the library crates. `manifests` and `report` are shared by the
//! commands that read manifests and that write check's report; no command uses another.

pub mod cache;
pub mod check;
pub mod gaps;
pub mod kube_version;
pub mod manifests;
pub mod matrix;
pub mod post_render;
pub mod report;
pub mod resolve;
pub mod scan;
pub mod serve;

use crate::exit::Failure;

/// A registry's rate-limit headers, as last seen.
#[derive(Debug, serde::Serialize)]
pub struct RateLimitOutput {
    pub registry: String,
    #[serde(flatten)]
    pub limit: tagwarden_registry::RateLimit,
}

/// The rate-limit headers the client saw, for JSON output.
pub fn rate_limits_of(client: &tagwarden_registry::Client) -> Vec<RateLimitOutput> {
    client
        .rate_limits()
        .into_iter()
        .map(|(registry, limit)| RateLimitOutput { registry, limit })
        .collect()
}

/// Print a value as JSON on stdout, followed by a newline (see [`crate::output`]).
pub fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    crate::output::json(value)
}

/// The `--platform` values of a command, parsed by core's one platform grammar
/// (deduplicated, in the order given).
pub fn platforms_flag(values: &[String]) -> Result<Vec<tagwarden_registry::Platform>, Failure> {
    tagwarden_core::platform::parse_platforms(values)
        .map_err(|e| Failure::bad_input(anyhow::anyhow!("--platform: {e}")))
}
