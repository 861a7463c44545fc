//! `tagwarden kube-version`: parse a Kubernetes version from any distribution.

use anyhow::anyhow;
use clap::Args as ClapArgs;
use tagwarden_core::KubeVersion;

use crate::cli::{GlobalOptions, OutputFormat};
use crate::commands::print_json;
use crate::exit::{CommandResult, Failure, Status};
use crate::output::outln;

pub fn run(global: &GlobalOptions, args: &Args) -> CommandResult {
    if !matches!(global.output, OutputFormat::Text | OutputFormat::Json) {
        return Err(global.output.reject("kube-version", &["text", "json"]));
    }
    if args.git_version.is_none() && args.major.is_none() && args.minor.is_none() {
        return Err(Failure::bad_input(anyhow!(
            "give a version string (e.g. `tagwarden kube-version v1.32.1`) or --major/--minor; \
             reading the version from a live cluster is not available yet"
        )));
    }
    let version = KubeVersion::from_fields(
        args.git_version.as_deref(),
        args.major.as_deref(),
        args.minor.as_deref(),
    )
    .map_err(Failure::bad_input)?;
    match global.output {
        OutputFormat::Json => print_json(&version)?,
        OutputFormat::Text => outln!("{version} ({})", version.distribution)?,
        other => return Err(other.reject("kube-version", &["text", "json"])),
    }
    Ok(Status::Success)
}

pub const EXAMPLES: &str = "\
Examples:
  tagwarden kube-version v1.28.5-eks-5e0fdde
  tagwarden kube-version v1.29.4+k3s1 -o json
  tagwarden kube-version --major 1 --minor 28+
  tagwarden kube-version v0.2.3-1-g96ce0beb59c389+kcp --major 1 --minor 23";

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The gitVersion, as `kubectl version -o json` or the API server's /version report it.
    /// Asking a live cluster arrives with the cluster integration; until then pass the string.
    #[arg(value_name = "GIT_VERSION")]
    pub git_version: Option<String>,

    /// The `major` field of /version.
    #[arg(long, value_name = "M")]
    pub major: Option<String>,

    /// The `minor` field of /version (EKS reports e.g. `28+`).
    #[arg(long, value_name = "N")]
    pub minor: Option<String>,
}
