//! Inspect many images at once, with a progress bar: the verdict about each (present,
//! missing with its fallback, undetermined, invalid), in the order given.
//!
//! ```text
//! cargo run -p tagwarden-registry --example inspect_many -- --kube-version 1.32 \
//!     clastix/kubectl:v1.32 busybox:1.36 nginx:1.27
//! ```
//!
//! Each unique image is asked once, every repository is announced first (one token per
//! registry), and at most [`InspectOptions::concurrency`] images are in flight. An image
//! whose tag has `--kube-version`'s `major.minor` tracks the Kubernetes version and gets a
//! fallback when missing. One line per image on stdout: `IMAGE STATUS DETAIL`. The bar is
//! drawn on stderr only when it is a terminal.

use std::process::ExitCode;

use tagwarden_core::{ImageStatus, KubeVersion, Tracking};
use tagwarden_registry::{Client, ClientOptions, InspectOptions, inspect_images};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut kube_version = None;
    if let Some(at) = args.iter().position(|a| a == "--kube-version") {
        let Some(text) = args.get(at + 1).cloned() else {
            eprintln!("--kube-version needs a value");
            return ExitCode::from(2);
        };
        match KubeVersion::parse(&text) {
            Ok(version) => kube_version = Some(version),
            Err(e) => {
                eprintln!("--kube-version: {e}");
                return ExitCode::from(2);
            }
        }
        args.drain(at..at + 2);
    }
    if args.is_empty() {
        eprintln!("usage: inspect_many [--kube-version V] IMAGE…");
        return ExitCode::from(2);
    }
    let client = match Client::new(ClientOptions::default()) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let options = InspectOptions {
        tracking: Tracking {
            kube_version,
            rules: Vec::new(),
        },
        ..InspectOptions::default()
    };

    let bar = indicatif::ProgressBar::new(0);
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    let verdicts = inspect_images(&client, &args, &options, |progress| {
        bar.set_length(progress.total as u64);
        bar.set_position(progress.done as u64);
    })
    .await;
    bar.finish_and_clear();

    let mut worst = 0;
    for (image, verdict) in args.iter().zip(&verdicts) {
        let detail = match (&verdict.fallback, &verdict.reason) {
            (Some(fallback), _) => format!("fallback {fallback}"),
            (None, Some(reason)) => reason.clone(),
            (None, None) => verdict.digest.clone().unwrap_or_default(),
        };
        println!("{image} {} {detail}", verdict.status.as_str());
        worst = worst.max(match verdict.status {
            ImageStatus::Present => 0,
            ImageStatus::Missing => 1,
            ImageStatus::Invalid => 2,
            ImageStatus::Denied | ImageStatus::Unreachable => 3,
        });
    }
    ExitCode::from(worst)
}
