//! The `tagwarden` command line. Each command lives in [`commands`]; this file parses the
//! flags, sets up logging, runs the command and maps its result to an exit code.

mod cli;
mod commands;
mod config;
mod exit;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::exit::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.debug);

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            output::errln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let result = match &cli.command {
        Command::KubeVersion(args) => commands::kube_version::run(&cli.global, args),
        Command::Resolve(args) => runtime.block_on(commands::resolve::run(&cli.global, args)),
        Command::Cache(args) => commands::cache::run(&cli.global, args),
        Command::Gaps(args) => runtime.block_on(commands::gaps::run(&cli.global, args)),
        Command::Matrix(args) => runtime.block_on(commands::matrix::run(&cli.global, args)),
        Command::Check(args) => runtime.block_on(commands::check::run(&cli.global, args)),
        Command::PostRender(args) => {
            runtime.block_on(commands::post_render::run(&cli.global, args))
        }
    };
    match result {
        Ok(status) => status.into(),
        Err(failure) => {
            report(&failure);
            failure.exit_code()
        }
    }
}

/// One line on stderr: the error and its causes, joined.
fn report(failure: &Failure) {
    let mut message = String::new();
    for (i, cause) in failure.error().chain().enumerate() {
        if i > 0 {
            message.push_str(": ");
        }
        message.push_str(&cause.to_string());
    }
    output::errln!("error: {message}");
}

fn init_logging(debug: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = if debug {
        EnvFilter::new("tagwarden=debug,tagwarden_registry=debug,tagwarden_core=debug")
    } else {
        EnvFilter::try_from_env("TAGWARDEN_LOG").unwrap_or_else(|_| EnvFilter::new("warn"))
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}
