//! `tagwarden kube-version`: parse a Kubernetes version from any distribution, or read it
//! from the live cluster.

use anyhow::anyhow;
use clap::Args as ClapArgs;
use tagwarden_core::KubeVersion;

use crate::cli::{ClusterArgs, TextOrJson};
use crate::commands::print_json;
use crate::exit::{CommandResult, Failure, Status};
use crate::output::{errln, outln};
use crate::settings::Settings;

pub async fn run(settings: &Settings<TextOrJson>, args: &Args) -> CommandResult {
    let given = args.git_version.is_some() || args.major.is_some() || args.minor.is_some();
    let version = if given {
        if settings.kube.cluster_given {
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
        live_version(settings).await?
    };
    match settings.output {
        TextOrJson::Json => print_json(&version)?,
        TextOrJson::Text => outln!("{version} ({})", version.distribution)?,
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

/// `/version` of the cluster `--kubeconfig`/`--context` (or KUBECONFIG, ~/.kube/config,
/// in-cluster) select.
async fn live_version(settings: &Settings<TextOrJson>) -> Result<KubeVersion, Failure> {
    const HINT: &str = "or pass the version string instead (tagwarden kube-version v1.32.1)";
    let cluster = crate::cluster::locate(
        &settings.kube,
        "to ask",
        "give a version string (e.g. `tagwarden kube-version v1.32.1`) or --major/--minor",
        HINT,
    )
    .await?;
    cluster
        .version()
        .await
        .map_err(|e| crate::cluster::failure(e, HINT))
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
