//! The command-line surface. DESIGN.md holds the contract; `--help` is its user-facing copy.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    pub global: GlobalOptions,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts, before or after the subcommand.
#[derive(Debug, Args)]
pub struct GlobalOptions {
    /// Output format: text for people, json for programs.
    #[arg(short, long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Allow plain HTTP and unverified TLS for this registry (HOST[:PORT]); repeatable.
    /// Loopback registries (localhost, 127.0.0.0/8, [::1]) are always allowed, as with Docker.
    #[arg(long = "insecure-registry", global = true, value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,

    /// A docker config.json to read credentials from, before REGISTRY_AUTH_FILE,
    /// $DOCKER_CONFIG/config.json and ~/.docker/config.json.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        env = "TAGWARDEN_REGISTRY_CONFIG"
    )]
    pub registry_config: Option<PathBuf>,

    /// A Kubernetes pull secret with registry credentials: a Secret manifest of type
    /// kubernetes.io/dockerconfigjson (YAML or JSON) or a bare .dockerconfigjson; repeatable.
    #[arg(long = "pull-secret", global = true, value_name = "FILE")]
    pub pull_secrets: Vec<PathBuf>,

    /// Trust this CA certificate bundle (PEM) for every registry; repeatable.
    #[arg(long = "ca-file", global = true, value_name = "FILE")]
    pub ca_files: Vec<PathBuf>,

    /// Docker's per-registry CA folders: DIR/HOST[:PORT]/*.crt is trusted for that registry.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/etc/docker/certs.d"
    )]
    pub certs_dir: PathBuf,

    /// A tagwarden config file (YAML): insecure registries, insecure_skip_verify, CA files,
    /// mirrors, cache TTL. See the README.
    #[arg(long, global = true, value_name = "FILE", env = "TAGWARDEN_CONFIG")]
    pub config: Option<PathBuf>,

    /// Neither read nor write the on-disk cache of digests and tag lists.
    #[arg(long, global = true)]
    pub no_cache: bool,

    /// Attempts per request when it fails transiently (connection errors, timeouts,
    /// truncated answers, 429, 5xx).
    #[arg(long, global = true, value_name = "N", default_value_t = 3)]
    pub attempts: u32,

    /// Give up retrying one request after this many seconds in total.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 60)]
    pub retry_budget: u64,

    /// Timeout of one HTTP request, in seconds.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,

    /// Requests in flight per registry.
    #[arg(long, global = true, value_name = "N", default_value_t = 8)]
    pub max_concurrency: usize,

    /// Requests per second per registry (default: no limit).
    #[arg(long, global = true, value_name = "N")]
    pub rps: Option<f64>,

    /// Log what tagwarden does (requests, retries, rate-limit headers, decisions) to
    /// stderr. Secrets are never logged.
    #[arg(long, global = true)]
    pub debug: bool,

    /// When to colour messages on stderr: auto (only on a terminal, and not when NO_COLOR
    /// is set or TERM is dumb), always, or never. stdout is never coloured.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
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

/// Every output format of every command; each command accepts the ones that make sense
/// for it (see [`OutputFormat::reject`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// For programs: the stable shapes documented in ARCHITECTURE.md.
    Json,
    /// SARIF 2.1.0, for code scanning (`check`).
    Sarif,
    /// JUnit XML, for CI test reports (`check`).
    Junit,
    /// `{"include":[…]}`, a GitHub Actions build matrix (`gaps`).
    GithubMatrix,
}

impl OutputFormat {
    /// The error for a format this command does not produce (exit 2).
    pub fn reject(self, command: &str, supported: &[&str]) -> crate::exit::Failure {
        let name = self
            .to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default();
        crate::exit::Failure::bad_input(anyhow::anyhow!(
            "`{command}` cannot write `-o {name}`; it writes {}",
            supported.join(" or ")
        ))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse a Kubernetes version string from any distribution.
    #[command(after_help = commands::kube_version::EXAMPLES)]
    KubeVersion(commands::kube_version::Args),

    /// Turn an image reference (and maybe a Kubernetes version) into a tag that exists.
    #[command(after_help = commands::resolve::EXAMPLES)]
    Resolve(commands::resolve::Args),

    /// Upstream Kubernetes versions that have no published tag of an image (for publishers).
    #[command(after_help = commands::gaps::EXAMPLES)]
    Gaps(commands::gaps::Args),

    /// The on-disk cache of digests and tag lists: `cache clear`, `cache path`.
    Cache(commands::cache::Args),

    /// The compatibility matrix of an application against Kubernetes versions.
    #[command(after_help = commands::matrix::EXAMPLES)]
    Matrix(commands::matrix::Args),

    /// Check every image of rendered manifests (files, folders, stdin) against its registry.
    #[command(after_help = commands::check::EXAMPLES)]
    Check(commands::check::Args),

    /// A Helm post-renderer: repair image tags that follow the Kubernetes version (stdin → stdout).
    #[command(after_help = commands::post_render::EXAMPLES)]
    PostRender(commands::post_render::Args),
}
