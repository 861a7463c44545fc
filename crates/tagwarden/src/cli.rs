//! The command-line surface. docs/reference.md holds the contract (ARCHITECTURE.md its
//! rules); `--help` is its user-facing copy, pinned by tests/snapshots/help/.
//!
//! `--debug` and `--color` go before or after any command. `-o` belongs to each command and
//! offers only the formats it writes. The registry options belong to the commands that
//! contact a registry (resolve, check, post-render, scan, serve, gaps, matrix verify) and
//! show in their `--help` under "Registry options".
//!
//! This module is the command line as typed (ripgrep's "low" arguments). What a command
//! runs with is [`crate::settings::Settings`], built once from these, the environment, the
//! config file and the defaults; [`Cli::low_args`] hands it the parts that are shared.

// The doc comments of clap's derive are `--help` text, written for a terminal:
// `HOST[:PORT]` there is not a rustdoc link.
#![allow(rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tagwarden_core::Prefer;
use tagwarden_registry::ClientOptions;
use tagwarden_registry::credential_provider::KUBELET_PLUGIN_TIMEOUT;

use crate::commands;

const ABOUT: &str = "Keeps Kubernetes image tags honest: finds the tag a chart asks for, checks that \
it exists, and picks the nearest published tag within the kubectl skew policy when it does not.";

const EXIT_CODES: &str = "\
Exit codes:
  0  success: everything exists, or it was resolved
  1  a finding: something is missing, or there is no fallback within the policy
  2  bad usage or bad input: flags, version strings, references, YAML
  3  could not decide: unreachable, denied, rate-limited, or a malformed registry answer";

#[derive(Debug, Parser)]
#[command(name = "tagwarden", version, about = ABOUT, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonOptions,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts, before or after the subcommand.
#[derive(Debug, Args)]
pub struct CommonOptions {
    /// Log what tagwarden does (requests, retries, rate-limit headers, decisions) to
    /// stderr. Secrets are never logged.
    #[arg(long, global = true, help_heading = "Global options")]
    pub debug: bool,

    /// When to colour messages on stderr: auto (only on a terminal, and not when NO_COLOR
    /// is set or TERM is dumb), always, or never. stdout is never coloured.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value_t = ColorChoice::Auto,
        help_heading = "Global options"
    )]
    pub color: ColorChoice,
}

/// How to reach registries: on the commands that contact one (resolve, check, post-render,
/// gaps, matrix verify), under the "Registry options" heading of their `--help`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Registry options")]
pub struct RegistryOptions {
    /// Allow plain HTTP and unverified TLS for this registry (HOST[:PORT], no scheme);
    /// repeatable. Loopback registries (localhost, 127.0.0.0/8, [::1]) are always allowed,
    /// as with Docker.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]", value_parser = insecure_registry)]
    pub insecure_registries: Vec<String>,

    /// A docker config.json to read credentials from, before REGISTRY_AUTH_FILE,
    /// $DOCKER_CONFIG/config.json and ~/.docker/config.json.
    #[arg(long, value_name = "FILE", env = "TAGWARDEN_REGISTRY_CONFIG")]
    pub registry_config: Option<PathBuf>,

    /// A Kubernetes pull secret with registry credentials: a Secret manifest of type
    /// kubernetes.io/dockerconfigjson (YAML or JSON) or a bare .dockerconfigjson; repeatable.
    #[arg(long = "pull-secret", value_name = "FILE")]
    pub pull_secrets: Vec<PathBuf>,

    /// The kubelet's credential-provider config (CredentialProviderConfig, YAML or JSON, or
    /// a folder of them), as on a node: for an image that a provider's matchImages name,
    /// its plugin (ECR, GCR/Artifact Registry, ACR…) is run for credentials. Asked after
    /// --pull-secret and the docker config files, before going anonymous. Needs
    /// --image-credential-provider-bin-dir.
    #[arg(
        long,
        value_name = "FILE",
        requires = "image_credential_provider_bin_dir"
    )]
    pub image_credential_provider_config: Option<PathBuf>,

    /// The folder holding the plugins that --image-credential-provider-config names.
    #[arg(
        long,
        value_name = "DIR",
        requires = "image_credential_provider_config"
    )]
    pub image_credential_provider_bin_dir: Option<PathBuf>,

    /// Kill a credential-provider plugin that has not answered after this many seconds
    /// (the kubelet's own limit is 60); at least 1.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = KUBELET_PLUGIN_TIMEOUT.as_secs(),
        value_parser = at_least_one_u64,
        requires = "image_credential_provider_config"
    )]
    pub image_credential_provider_timeout: u64,

    /// Trust this CA certificate bundle (PEM) for every registry; repeatable.
    #[arg(long = "ca-file", value_name = "FILE")]
    pub ca_files: Vec<PathBuf>,

    /// Docker's per-registry CA folders: DIR/HOST[:PORT]/*.crt is trusted for that registry.
    #[arg(long, value_name = "DIR", default_value = ClientOptions::DEFAULT_CERTS_DIR)]
    pub certs_dir: PathBuf,

    /// A tagwarden config file (YAML): insecure registries, insecure_skip_verify, CA files,
    /// mirrors, cache TTL, tracking policy. See docs/registries.md.
    #[arg(long, value_name = "FILE", env = "TAGWARDEN_CONFIG")]
    pub config: Option<PathBuf>,

    /// Neither read nor write the on-disk cache of digests and tag lists.
    #[arg(long)]
    pub no_cache: bool,

    /// Attempts per request when it fails transiently (connection errors, timeouts,
    /// truncated answers, 429, 5xx); at least 1.
    #[arg(long, value_name = "N", default_value_t = ClientOptions::DEFAULT_MAX_ATTEMPTS, value_parser = at_least_one_u32)]
    pub attempts: u32,

    /// Give up retrying one request after this many seconds in total.
    #[arg(long, value_name = "SECS", default_value_t = ClientOptions::DEFAULT_MAX_RETRY_TIME.as_secs())]
    pub retry_budget: u64,

    /// Timeout of one HTTP request, in seconds; at least 1.
    #[arg(long, value_name = "SECS", default_value_t = ClientOptions::DEFAULT_REQUEST_TIMEOUT.as_secs(), value_parser = at_least_one_u64)]
    pub timeout: u64,

    /// Requests in flight per registry; at least 1.
    #[arg(long, value_name = "N", default_value_t = ClientOptions::DEFAULT_MAX_CONCURRENCY, value_parser = at_least_one_usize)]
    pub max_concurrency: usize,

    /// Requests per second per registry, a number above 0 (default: no limit).
    #[arg(long, value_name = "N", value_parser = requests_per_second)]
    pub rps: Option<f64>,
}

impl RegistryOptions {
    /// The defaults, for commands that never contact a registry: clap's own, so that each
    /// default is written once, on its flag.
    fn defaults() -> RegistryOptions {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            registry: RegistryOptions,
        }
        Only::try_parse_from(["tagwarden"])
            .map(|only| only.registry)
            .unwrap_or_else(|e| e.exit())
    }
}

/// How to reach a cluster, as kubectl has it: `--kubeconfig`, `--context` and
/// `--request-timeout`, on every command that talks to a cluster (`kube-version`, `check`,
/// `post-render`, `scan`, `serve`). Every one of them finds its cluster the same way
/// (`crate::cluster`, from [`crate::settings::KubeSettings`]).
#[derive(Debug, Clone, Default, Args)]
pub struct ClusterArgs {
    /// The kubeconfig file to use instead of KUBECONFIG (a list of files) and
    /// ~/.kube/config.
    #[arg(long, value_name = "FILE", help_heading = CLUSTER_OPTIONS)]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use instead of HELM_KUBECONTEXT (set when Helm runs
    /// tagwarden) and the kubeconfig's current-context. `scan` takes it more than once: a
    /// fleet, scanned in one run.
    #[arg(long, value_name = "NAME", action = clap::ArgAction::Append, help_heading = CLUSTER_OPTIONS)]
    pub context: Vec<String>,

    /// How long one request to the Kubernetes API server may wait for its answer, as
    /// kubectl's: a number of seconds or a duration (10s, 1m, 1h30m); 0 waits as long as
    /// the connection lives (10 s to connect, 30 s between reads).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "0",
        value_parser = request_timeout,
        help_heading = CLUSTER_OPTIONS
    )]
    pub request_timeout: RequestTimeout,
}

/// The `--help` heading of [`ClusterArgs`] (on each argument, so that it does not carry
/// over to the arguments flattened after them).
const CLUSTER_OPTIONS: &str = "Cluster options";

/// `--request-timeout`: `None` for `0`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestTimeout(pub Option<Duration>);

impl ClusterArgs {
    /// True when `--kubeconfig` or `--context` was given.
    pub fn is_given(&self) -> bool {
        self.kubeconfig.is_some() || !self.context.is_empty()
    }
}

/// `--request-timeout` as kubectl reads it: a whole number of seconds (`0`: no limit), or
/// a Go duration (`1h2m3.5s`, `500ms`, `2m`).
fn request_timeout(text: &str) -> Result<RequestTimeout, String> {
    const RULE: &str =
        "must be a whole number of seconds, or a number with a unit (e.g. 1s, 2m, 3h)";
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(RequestTimeout(
            (seconds > 0).then(|| Duration::from_secs(seconds)),
        ));
    }
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() || rest.starts_with('-') {
        return Err(format!("`{text}` {RULE}"));
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("`{text}` {RULE}"))?;
        let number: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}` {RULE}"))?;
        rest = &rest[digits..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("`{text}` {RULE}")),
        };
        total += number * scale;
        rest = &rest[unit_end..];
    }
    if !total.is_finite() || total > 1e9 {
        return Err(format!("`{text}` is too long"));
    }
    Ok(RequestTimeout(
        (total > 0.0).then(|| Duration::from_secs_f64(total)),
    ))
}

fn at_least_one(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

fn at_least_one_u64(text: &str) -> Result<u64, String> {
    at_least_one(text)
}

fn at_least_one_u32(text: &str) -> Result<u32, String> {
    at_least_one(text)?
        .try_into()
        .map_err(|_| format!("`{text}` is too large"))
}

fn at_least_one_usize(text: &str) -> Result<usize, String> {
    at_least_one(text)?
        .try_into()
        .map_err(|_| format!("`{text}` is too large"))
}

/// `--rps`: a finite number above 0.
fn requests_per_second(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
        Ok(_) => Err("must be a number above 0 (leave it out for no limit)".to_string()),
        Err(_) => Err(format!("`{text}` is not a number")),
    }
}

/// `--insecure-registry`: HOST[:PORT] as Docker takes it; a URL is refused, since a scheme
/// or a path would never match a registry and the flag would silently do nothing.
fn insecure_registry(text: &str) -> Result<String, String> {
    let host = text.trim();
    if let Some((scheme, rest)) = host.split_once("://") {
        let rest = rest.trim_end_matches('/');
        return Err(format!(
            "give HOST[:PORT] without `{scheme}://`: --insecure-registry {rest}"
        ));
    }
    if host.is_empty() || host.contains('/') || host.chars().any(char::is_whitespace) {
        return Err(format!(
            "`{text}` is not HOST[:PORT] (e.g. registry.local:5000)"
        ));
    }
    Ok(host.to_string())
}

/// `-o` of a command that writes text or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    /// For people.
    Text,
    /// For programs: the stable shapes documented in docs/reference.md.
    Json,
}

/// `-o` of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// A table for people.
    Text,
    /// For programs: the stable shape documented in docs/reference.md.
    Json,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
    /// JUnit XML, for CI test reports.
    Junit,
    /// The repairs as Kustomize `images` entries, for a Flux HelmRelease's post-renderer.
    KustomizeImages,
}

/// `-o` of `gaps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GapsFormat {
    /// A table for people.
    Text,
    /// For programs: the stable shape documented in docs/publishers.md.
    Json,
    /// `{"include":[…]}`, a GitHub Actions build matrix.
    GithubMatrix,
}

/// `-o FORMAT` for text or JSON; `global` within the command, so that `cache path -o json`
/// and `matrix show -o json` work.
#[derive(Debug, Args)]
pub struct TextOrJsonOutput {
    /// Output format.
    #[arg(short, long, global = true, value_enum, value_name = "FORMAT", default_value_t = TextOrJson::Text)]
    pub output: TextOrJson,
}

/// `-o FORMAT` of `check`.
#[derive(Debug, Args)]
pub struct CheckOutputFormat {
    /// Output format.
    #[arg(short, long, value_enum, value_name = "FORMAT", default_value_t = CheckFormat::Text)]
    pub output: CheckFormat,
}

/// `-o FORMAT` of `gaps`.
#[derive(Debug, Args)]
pub struct GapsOutputFormat {
    /// Output format.
    #[arg(short, long, value_enum, value_name = "FORMAT", default_value_t = GapsFormat::Text)]
    pub output: GapsFormat,
}

/// A command's own arguments, its `-o`, and the registry options.
#[derive(Debug, Args)]
pub struct WithRegistry<A: Args, O: Args> {
    #[command(flatten)]
    pub args: A,
    #[command(flatten)]
    pub format: O,
    #[command(flatten)]
    pub registry: RegistryOptions,
}

/// A command's own arguments and its `-o`.
#[derive(Debug, Args)]
pub struct WithOutput<A: Args> {
    #[command(flatten)]
    pub args: A,
    #[command(flatten)]
    pub format: TextOrJsonOutput,
}

/// The fallback-policy flags of every command that decides about fallbacks (`check`,
/// `post-render`, `scan`, `serve`), declared once and flattened into each.
#[derive(Debug, Clone, Default, Args)]
pub struct PolicyArgs {
    /// A repository whose tag tracks the Kubernetes version whatever it looks like
    /// (docker.io/clastix/kubectl, 'ghcr.io/org/*'); repeatable. Adds to the config's
    /// policy.track.
    #[arg(long = "track", value_name = "REPOSITORY")]
    pub track: Vec<String>,

    /// How many minor versions a fallback may be away from the wanted tag (default: the
    /// config's policy.max_skew, else 1).
    #[arg(long, value_name = "N")]
    pub max_skew: Option<u64>,

    /// Which side to try first once the wanted minor has nothing (default: the config's
    /// policy.prefer, else older).
    #[arg(long, value_enum)]
    pub prefer: Option<PreferArg>,
}

/// `--prefer`: which side a fallback is tried on first once the wanted minor has nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PreferArg {
    Older,
    Newer,
}

impl From<PreferArg> for Prefer {
    fn from(prefer: PreferArg) -> Prefer {
        match prefer {
            PreferArg::Older => Prefer::Older,
            PreferArg::Newer => Prefer::Newer,
        }
    }
}

/// The parts of a command line that settings are built from, whatever the command: the
/// registry options, the policy flags, the Kubernetes version and the cluster flags, each
/// `None` (or empty) where the command has no such flag.
#[derive(Debug, Default)]
pub struct LowArgs<'a> {
    /// The registry options (`None`: the command never contacts a registry).
    pub registry: Option<&'a RegistryOptions>,
    /// `--track` (only the commands that take [`PolicyArgs`]).
    pub track: &'a [String],
    /// `--max-skew`.
    pub max_skew: Option<u64>,
    /// `--prefer`.
    pub prefer: Option<PreferArg>,
    /// Whether the command decides about fallbacks at all (`policy:` of the config file
    /// is read only then).
    pub decides_fallbacks: bool,
    /// `--kube-version` as typed.
    pub kube_version: Option<&'a str>,
    /// Whether `TAGWARDEN_KUBE_VERSION` stands in for a missing `--kube-version` (`check`
    /// of manifests; `post-render`'s flag reads it itself).
    pub kube_version_env: bool,
    /// The cluster flags.
    pub cluster: Option<&'a ClusterArgs>,
    /// Whether the command reads several clusters (`scan`, `check --cluster`): `--context`
    /// more than once, `--all-contexts` and `--kube-version +N`.
    pub fleet: bool,
    /// `--all-contexts`.
    pub all_contexts: bool,
}

impl Cli {
    /// The parts of the command line [`crate::settings::Settings`] is built from.
    pub fn low_args(&self) -> LowArgs<'_> {
        match &self.command {
            Command::KubeVersion(c) => LowArgs {
                cluster: Some(&c.args.cluster),
                ..LowArgs::default()
            },
            Command::Cache(_) => LowArgs::default(),
            Command::Matrix(c) => LowArgs {
                registry: match &c.args.command {
                    commands::matrix::MatrixCommand::Verify(verify) => Some(&verify.registry),
                    _ => None,
                },
                ..LowArgs::default()
            },
            Command::Gaps(c) => LowArgs {
                registry: Some(&c.registry),
                ..LowArgs::default()
            },
            Command::Resolve(c) => LowArgs {
                registry: Some(&c.registry),
                max_skew: c.args.max_skew,
                prefer: c.args.prefer,
                decides_fallbacks: true,
                kube_version: c.args.kube_version.as_deref(),
                ..LowArgs::default()
            },
            Command::Check(c) => LowArgs {
                kube_version: c.args.kube_version.as_deref(),
                // `check --cluster` is `scan -A`: its version is an upgrade's target.
                kube_version_env: !c.args.cluster,
                cluster: Some(&c.args.cluster_args),
                fleet: c.args.cluster,
                all_contexts: c.args.all_contexts,
                ..LowArgs::with_policy(&c.registry, &c.args.policy)
            },
            Command::PostRender(c) => LowArgs {
                kube_version: c.args.kube_version.as_deref(),
                cluster: Some(&c.args.cluster),
                ..LowArgs::with_policy(&c.registry, &c.args.policy)
            },
            Command::Scan(c) => LowArgs {
                kube_version: c.args.kube_version.as_deref(),
                cluster: Some(&c.args.cluster),
                fleet: true,
                all_contexts: c.args.all_contexts,
                ..LowArgs::with_policy(&c.registry, &c.args.policy)
            },
            Command::Serve(c) => LowArgs {
                cluster: Some(&c.args.cluster),
                ..LowArgs::with_policy(&c.registry, &c.args.policy)
            },
        }
    }
}

impl<'a> LowArgs<'a> {
    /// The registry options and the policy flags of a command that has both.
    fn with_policy(registry: &'a RegistryOptions, policy: &'a PolicyArgs) -> LowArgs<'a> {
        LowArgs {
            registry: Some(registry),
            track: &policy.track,
            max_skew: policy.max_skew,
            prefer: policy.prefer,
            decides_fallbacks: true,
            ..LowArgs::default()
        }
    }

    /// The registry options as given, or their defaults for a command without them.
    pub fn registry_or_defaults(&self) -> std::borrow::Cow<'a, RegistryOptions> {
        match self.registry {
            Some(registry) => std::borrow::Cow::Borrowed(registry),
            None => std::borrow::Cow::Owned(RegistryOptions::defaults()),
        }
    }
}

/// `--color`, as ripgrep has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stderr is a terminal, NO_COLOR is unset or empty, and TERM is not `dumb`.
    Auto,
    /// Always colour, even into a file or a pipe.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether messages on stderr get colours, for this choice in this environment.
    pub fn colours_stderr(self) -> bool {
        use std::io::IsTerminal;
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
                let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
                std::io::stderr().is_terminal() && !no_color && !dumb
            }
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse a Kubernetes version string from any distribution.
    #[command(after_help = commands::kube_version::EXAMPLES)]
    KubeVersion(WithOutput<commands::kube_version::Args>),

    /// Turn an image reference (and maybe a Kubernetes version) into a tag that exists.
    #[command(after_help = commands::resolve::EXAMPLES)]
    Resolve(WithRegistry<commands::resolve::Args, TextOrJsonOutput>),

    /// Upstream Kubernetes versions that have no published tag of an image (for publishers).
    #[command(after_help = commands::gaps::EXAMPLES)]
    Gaps(WithRegistry<commands::gaps::Args, GapsOutputFormat>),

    /// The on-disk cache of digests and tag lists: `cache clear`, `cache path`.
    Cache(WithOutput<commands::cache::Args>),

    /// The compatibility matrix of an application against Kubernetes versions.
    #[command(after_help = commands::matrix::EXAMPLES)]
    Matrix(WithOutput<commands::matrix::Args>),

    /// Check every image of rendered manifests (files, folders, stdin) against its registry.
    #[command(after_help = commands::check::EXAMPLES)]
    Check(WithRegistry<commands::check::Args, CheckOutputFormat>),

    /// A Helm post-renderer: repair image tags that follow the Kubernetes version (stdin → stdout).
    #[command(after_help = commands::post_render::EXAMPLES)]
    PostRender(WithRegistry<commands::post_render::Args, NoOutputFormat>),

    /// Check every image a live cluster uses; find pull failures; preflight an upgrade.
    #[command(after_help = commands::scan::EXAMPLES)]
    Scan(WithRegistry<commands::scan::Args, ScanOutputFormat>),

    /// The in-cluster service: watch workloads, keep checking their images, export
    /// Prometheus metrics and write Kubernetes Events.
    #[command(after_help = commands::serve::EXAMPLES)]
    Serve(Box<WithRegistry<commands::serve::Args, NoOutputFormat>>),
}

/// `-o FORMAT` of `scan`.
#[derive(Debug, Args)]
pub struct ScanOutputFormat {
    /// Output format.
    #[arg(short, long, value_enum, value_name = "FORMAT", default_value_t = ScanFormat::Text)]
    pub output: ScanFormat,
}

/// The formats of `scan`: `check`'s, without SARIF (a cluster has no files to point at).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// A table grouped by image, with every workload.
    Text,
    /// The report as JSON.
    Json,
    /// JUnit XML, one test case per unique image.
    Junit,
}

/// No `-o`: post-render writes the manifests it read, as YAML.
#[derive(Debug, Args)]
pub struct NoOutputFormat {}
