//! `tagwarden kube-version`: parse a Kubernetes version from any distribution, or read it
//! from the live cluster; and the Kubernetes version `check` and `post-render` work with.

use anyhow::anyhow;
use clap::Args as ClapArgs;
use tagwarden_cluster::ClusterError;
use tagwarden_core::KubeVersion;

use crate::cli::{GlobalOptions, OutputFormat};
use crate::commands::print_json;
use crate::exit::{CommandResult, Failure, Status};
use crate::output::{errln, outln};

pub async fn run(global: &GlobalOptions, args: &Args) -> CommandResult {
    if !matches!(global.output, OutputFormat::Text | OutputFormat::Json) {
        return Err(global.output.reject("kube-version", &["text", "json"]));
    }
    let given = args.git_version.is_some() || args.major.is_some() || args.minor.is_some();
    let version = if given {
        if args.cluster.is_given() {
            return Err(Failure::bad_input(anyhow!(
                "--kubeconfig and --context select a cluster to ask; with a version string \
                 there is nothing to ask: give one or the other"
            )));
        }
        let version = KubeVersion::from_fields(
            args.git_version.as_deref(),
            args.major.as_deref(),
            args.minor.as_deref(),
        )
        .map_err(Failure::bad_input)?;
        warn_about_conflicts(args, &version);
        version
    } else {
        live_version(args).await?
    };
    match global.output {
        OutputFormat::Json => print_json(&version)?,
        OutputFormat::Text => outln!("{version} ({})", version.distribution)?,
        other => return Err(other.reject("kube-version", &["text", "json"])),
    }
    Ok(Status::Success)
}

/// Says so when the gitVersion and the --major/--minor fields disagree, or when fields were
/// ignored: the answer follows the rules of /version, but the user should know which part
/// was used.
fn warn_about_conflicts(args: &Args, version: &KubeVersion) {
    let Some(git) = args.git_version.as_deref() else {
        return;
    };
    let Ok(from_git) = KubeVersion::parse(git) else {
        return; // not a Kubernetes version (kcp): the fields are the version, no conflict
    };
    if args.major.is_none() && args.minor.is_none() {
        return;
    }
    let git_minor = format!("{}.{}", from_git.major, from_git.minor);
    if version.major_minor() != from_git.major_minor() {
        errln!(
            "warning: {git} is Kubernetes {git_minor}, but --major/--minor say {}.{}; using \
             {}.{} (fields that disagree with the gitVersion win: it then belongs to another \
             product)",
            version.major,
            version.minor,
            version.major,
            version.minor
        );
        return;
    }
    // The fields were not used: incomplete or malformed. Say so when they disagree, or
    // when they could not be read at all.
    let Err(why) = KubeVersion::from_fields(None, args.major.as_deref(), args.minor.as_deref())
    else {
        return;
    };
    let number = |text: Option<&str>| {
        text.map(|t| t.trim().trim_end_matches('+'))
            .map(|t| t.rsplit('.').next().unwrap_or(t).parse::<u64>().ok())
    };
    let (major, minor) = (number(args.major.as_deref()), number(args.minor.as_deref()));
    let disagrees = matches!(major, Some(Some(m)) if m != from_git.major)
        || matches!(minor, Some(Some(m)) if m != from_git.minor);
    let unreadable = matches!(major, Some(None)) || matches!(minor, Some(None));
    if disagrees {
        errln!(
            "warning: {git} is Kubernetes {git_minor}, but --major/--minor disagree and are \
             ignored ({why}); using {git_minor}"
        );
    } else if unreadable {
        errln!("warning: --major/--minor ignored ({why}); using {git_minor}");
    }
}

pub use crate::cli::ClusterArgs;

/// `/version` of the cluster `--kubeconfig`/`--context` (or KUBECONFIG, ~/.kube/config,
/// in-cluster) select.
async fn live_version(args: &Args) -> Result<KubeVersion, Failure> {
    const HINT: &str = "or pass the version string instead (tagwarden kube-version v1.32.1)";
    let cluster = args
        .cluster
        .locate(
            "to ask",
            "give a version string (e.g. `tagwarden kube-version v1.32.1`) or --major/--minor",
            HINT,
        )
        .await?;
    cluster
        .version()
        .await
        .map_err(|e| cluster_failure(e, HINT))
}

/// Exit 2 for a broken kubeconfig or a bad name, 3 for a server that could not be asked.
/// The message is the error and what the command can do without the cluster; for a
/// server that could not be asked, a second line says what to do about it (`hint: …`).
pub fn cluster_failure(error: ClusterError, hint: &str) -> Failure {
    let message = match error.hint() {
        Some(what_to_do) => anyhow!("{error}; {hint}\nhint: {what_to_do}"),
        None => anyhow!("{error}; {hint}"),
    };
    if error.is_config() {
        Failure::bad_input(message)
    } else {
        Failure::undecided(message)
    }
}

/// The Kubernetes version `check` and `post-render` track, parsed once and kept typed
/// from here on. In order:
///
/// 1. `--kube-version` (`given`);
/// 2. `TAGWARDEN_KUBE_VERSION`;
/// 3. `/version` of the cluster [`ClusterArgs`] finds (`--kubeconfig`/`--context`,
///    KUBECONFIG or ~/.kube/config, the context `HELM_KUBECONTEXT` names when Helm runs
///    tagwarden, or the in-cluster configuration): as `check --cluster` and `scan` find it.
///
/// `Ok(None)` only when there is no cluster configuration at all: tracking is skipped, and
/// the command says so. A cluster that is configured but cannot be asked is exit 3, never a silent
/// "no version": tracking would quietly stop.
pub async fn for_tracking(
    given: Option<&str>,
    cluster_args: &ClusterArgs,
) -> Result<Option<KubeVersion>, Failure> {
    let parse = |what: &str, text: &str| {
        KubeVersion::parse(text)
            .map(Some)
            .map_err(|e| Failure::bad_input(anyhow!("{what}: {e}")))
    };
    if let Some(text) = given {
        return parse("--kube-version", text);
    }
    if let Some(text) = std::env::var("TAGWARDEN_KUBE_VERSION")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        return parse("TAGWARDEN_KUBE_VERSION", &text);
    }
    const HINT: &str = "pass the version with --kube-version VERSION (or TAGWARDEN_KUBE_VERSION)";
    let Some(cluster) = cluster_args.find(HINT).await? else {
        return Ok(None);
    };
    let version = cluster
        .version()
        .await
        .map_err(|e| cluster_failure(e, HINT))?;
    tracing::debug!(
        server = %cluster.server(),
        context = cluster.context().unwrap_or("-"),
        "Kubernetes {version} ({}) from the live cluster",
        version.distribution
    );
    Ok(Some(version))
}

pub const EXAMPLES: &str = "\
Examples:
  tagwarden kube-version
  tagwarden kube-version --context prod-eu -o json
  tagwarden kube-version v1.28.5-eks-5e0fdde
  tagwarden kube-version v1.29.4+k3s1 -o json
  tagwarden kube-version --major 1 --minor 28+
  tagwarden kube-version v0.2.3-1-g96ce0beb59c389+kcp --major 1 --minor 23";

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The gitVersion, as `kubectl version -o json` or the API server's /version report it.
    /// Without it (and without --major/--minor), the current context's cluster is asked.
    #[arg(value_name = "GIT_VERSION")]
    pub git_version: Option<String>,

    /// The `major` field of /version.
    #[arg(long, value_name = "M")]
    pub major: Option<String>,

    /// The `minor` field of /version (EKS reports e.g. `28+`).
    #[arg(long, value_name = "N")]
    pub minor: Option<String>,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}
