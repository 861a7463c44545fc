//! The `tagwarden` command line. Each command lives in [`commands`]; this file parses the
//! flags, sets up logging, runs the command and maps its result to an exit code.

mod cli;
mod cluster;
mod commands;
mod config;
mod exit;
mod output;
mod progress;
mod settings;

use std::process::ExitCode;

use anyhow::anyhow;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use crate::cli::{CheckFormat, Cli, Command, ScanFormat};
use crate::exit::{CommandResult, Failure};
use crate::settings::Settings;

fn main() -> ExitCode {
    let (cli, matches) = parse();
    let color = cli.common.color.colours_stderr();
    output::set_stderr_color(color);
    init_logging(cli.common.debug, color);

    // One thread does for a command; the long-running service gets a worker per core.
    let mut builder = match cli.command {
        Command::Serve(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            output::errln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    // The settings, once: flags, environment, config file, defaults.
    let result =
        Settings::new(&cli, &matches).and_then(|settings| run(&cli.command, settings, &runtime));
    match result {
        Ok(status) => status.into(),
        Err(failure) => {
            if !failure.is_shown() {
                report(&failure);
            }
            failure.exit_code()
        }
    }
}

/// Runs `command` with `settings`, each command handed its own `-o` type.
fn run(command: &Command, settings: Settings, runtime: &tokio::runtime::Runtime) -> CommandResult {
    use commands::*;
    match command {
        Command::KubeVersion(c) => runtime.block_on(kube_version::run(
            &settings.with_output(c.format.output),
            &c.args,
        )),
        Command::Resolve(c) => runtime.block_on(resolve::run(
            &settings.with_output(c.format.output),
            &c.args,
        )),
        Command::Cache(c) => cache::run(&settings.with_output(c.format.output), &c.args),
        Command::Gaps(c) => {
            runtime.block_on(gaps::run(&settings.with_output(c.format.output), &c.args))
        }
        Command::Matrix(c) => {
            runtime.block_on(matrix::run(&settings.with_output(c.format.output), &c.args))
        }
        // `check --cluster` is `scan -A` with check's flags: dispatched here, so that
        // neither command reaches into the other.
        Command::Check(c) if c.args.cluster => {
            let (settings, scan) = check_the_cluster(settings, c.format.output, &c.args)?;
            runtime.block_on(scan::run_as(&settings, &scan, "check --cluster"))
        }
        Command::Check(c) => {
            runtime.block_on(check::run(&settings.with_output(c.format.output), &c.args))
        }
        Command::PostRender(c) => runtime.block_on(post_render::run(&settings, &c.args)),
        Command::Scan(c) => {
            runtime.block_on(scan::run(&settings.with_output(c.format.output), &c.args))
        }
        Command::Serve(c) => runtime.block_on(serve::run(&settings, &c.args)),
    }
}

/// `check --cluster`: the `scan -A` it stands for, after refusing what only applies to
/// manifests.
fn check_the_cluster(
    settings: Settings,
    format: CheckFormat,
    args: &commands::check::Args,
) -> Result<(Settings<ScanFormat>, commands::scan::Args), Failure> {
    if !args.paths.is_empty() {
        return Err(Failure::bad_input(anyhow!(
            "--cluster reads the images of the current cluster, not files: drop {} or --cluster",
            args.paths.join(" ")
        )));
    }
    if !args.image_paths.is_empty() {
        return Err(Failure::bad_input(anyhow!(
            "--image-path applies to manifests; a cluster's images come from its workloads and Pods"
        )));
    }
    let format = match format {
        CheckFormat::Text => ScanFormat::Text,
        CheckFormat::Json => ScanFormat::Json,
        CheckFormat::Junit => ScanFormat::Junit,
        CheckFormat::Sarif => {
            return Err(Failure::bad_input(anyhow!(
                "`check --cluster` cannot write `-o sarif` (a cluster has no files to point at); it writes text, json or junit"
            )));
        }
        CheckFormat::KustomizeImages => {
            return Err(Failure::bad_input(anyhow!(
                "`check --cluster` cannot write `-o kustomize-images` (Kustomize repairs a chart's rendering, not a running cluster); it writes text, json or junit"
            )));
        }
    };
    let scan = commands::scan::Args {
        namespace: None,
        all_namespaces: true,
        selector: None,
        kube_version: args.kube_version.clone(),
        platforms: args.platforms.clone(),
        fail_on: args.fail_on,
        policy: args.policy.clone(),
        cluster: args.cluster_args.clone(),
        all_contexts: args.all_contexts,
        concurrent_clusters: tagwarden_cluster::fleet::FLEET_CONCURRENCY,
    };
    Ok((settings.with_output(format), scan))
}

/// The command line, with usage lines that say `kubectl tagwarden` when kubectl runs
/// tagwarden as its plugin (`kubectl-tagwarden` on PATH).
fn parse() -> (Cli, ArgMatches) {
    let invoked_as = std::env::args_os()
        .next()
        .and_then(|arg| {
            std::path::Path::new(&arg)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let mut command = Cli::command();
    if invoked_as == "kubectl-tagwarden" {
        command = command.bin_name("kubectl tagwarden");
    }
    let matches = command.get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    (cli, matches)
}

/// The error on stderr: it and its causes on one line, each cause once (an error whose
/// message already holds its cause's is not followed by it again).
fn report(failure: &Failure) {
    output::errln!("error: {}", chain_text(failure.error()));
}

/// `a: b: c` of an error chain, leaving out a cause whose text is already there, and a
/// cause between them when the message already quotes a deeper one (a library that
/// summed up its cause's chain by its innermost text: `cannot set up HTTPS: <rustls's
/// words>` is not followed by reqwest's "builder error").
fn chain_text(error: &anyhow::Error) -> String {
    let texts: Vec<String> = error.chain().map(ToString::to_string).collect();
    let mut message = String::new();
    for (index, text) in texts.iter().enumerate() {
        let said = |text: &String| !text.is_empty() && message.contains(text.as_str());
        if said(text) || texts[index + 1..].iter().any(said) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(text);
    }
    message
}

/// Log events of tagwarden's own crates go to stderr: warnings always, everything with
/// `--debug`, or what `TAGWARDEN_LOG` asks for. Other crates' events (rustls' "failed to
/// verify TLS certificate", hyper's) stay off unless `TAGWARDEN_LOG` names them: the
/// command's own `error:` line already says what went wrong, once.
fn init_logging(debug: bool, color: bool) {
    use tracing_subscriber::EnvFilter;
    const OWN_CRATES: [&str; 5] = [
        "tagwarden",
        "tagwarden_cluster",
        "tagwarden_registry",
        "tagwarden_core",
        "tagwarden_manifest",
    ];
    let own_at = |level: &str| {
        OWN_CRATES
            .iter()
            .map(|name| format!("{name}={level}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let filter = if debug {
        EnvFilter::new(own_at("debug"))
    } else {
        EnvFilter::try_from_env("TAGWARDEN_LOG").unwrap_or_else(|_| EnvFilter::new(own_at("warn")))
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| progress::StderrAroundSpinner)
        .with_ansi(color)
        .event_format(LevelPrefix)
        .init();
}

/// Log lines as tagwarden's other messages look: `warning: …`, `debug: …` (the label
/// coloured when stderr is), then the message and its fields.
struct LevelPrefix;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for LevelPrefix
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        context: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        use tracing::Level;
        let (label, colour) = match *event.metadata().level() {
            Level::ERROR => ("error", "1;31"),
            Level::WARN => ("warning", "1;33"),
            Level::INFO => ("info", "1;32"),
            Level::DEBUG => ("debug", "1;34"),
            Level::TRACE => ("trace", "1;35"),
        };
        if writer.has_ansi_escapes() {
            write!(writer, "\x1b[{colour}m{label}\x1b[0m: ")?;
        } else {
            write!(writer, "{label}: ")?;
        }
        context
            .field_format()
            .format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::chain_text;

    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "Address already in use (os error 98)",
        );
        let error = anyhow::Error::new(io)
            .context("cannot listen on 0.0.0.0:8080: Address already in use (os error 98)");
        assert_eq!(
            chain_text(&error),
            "cannot listen on 0.0.0.0:8080: Address already in use (os error 98)"
        );
        let error = anyhow::anyhow!("inner").context("outer");
        assert_eq!(chain_text(&error), "outer: inner");
    }

    #[test]
    fn a_cause_summed_up_by_a_deeper_one_is_left_out() {
        #[derive(Debug)]
        struct Wrapper(std::io::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("builder error")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let io = std::io::Error::other("no certificate in the file");
        let error = anyhow::Error::new(Wrapper(io))
            .context("CA file ca.pem is not PEM: no certificate in the file");
        assert_eq!(
            chain_text(&error),
            "CA file ca.pem is not PEM: no certificate in the file"
        );
        // A cause that adds something is kept.
        let error = anyhow::Error::new(Wrapper(std::io::Error::other("deeper"))).context("outer");
        assert_eq!(chain_text(&error), "outer: builder error: deeper");
    }
}
