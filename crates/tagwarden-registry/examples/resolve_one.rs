//! Resolve one image: the tag that exists, or the nearest compatible fallback within the
//! kubectl skew policy.
//!
//! ```text
//! cargo run -p tagwarden-registry --example resolve_one -- clastix/kubectl:v1.32
//! cargo run -p tagwarden-registry --example resolve_one -- clastix/kubectl v1.32.0-eks-5e0fdde
//! ```
//!
//! The first argument is the image; the optional second one is a Kubernetes version, from
//! which the wanted tag is derived (the tag scheme is inferred from the published tags).
//! Prints the answer on stdout and why on stderr; exits 1 when nothing within the policy
//! exists, 2 on bad arguments, 3 when the registry could not be asked.

use std::process::ExitCode;

use tagwarden_core::{KubeVersion, Reference};
use tagwarden_registry::{Client, ClientOptions, Outcome, ResolveError, ResolveRequest, resolve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (image, kube_version) = match args.as_slice() {
        [image] => (image, None),
        [image, kube] => (image, Some(kube)),
        _ => {
            eprintln!("usage: resolve_one IMAGE [KUBERNETES_VERSION]");
            return ExitCode::from(2);
        }
    };
    let reference = match Reference::parse(image) {
        Ok(reference) => reference,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let kube_version = match kube_version.map(|v| KubeVersion::parse(v)).transpose() {
        Ok(version) => version,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // Loopback registries speak plain HTTP without further options, as with Docker.
    let client = match Client::new(ClientOptions::default()) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let request = ResolveRequest {
        reference,
        kube_version,
        tag_format: None,
        policy: Default::default(),
        platforms: Vec::new(),
    };
    match resolve(&client, &request).await {
        Ok(resolution) => {
            if let Some(resolved) = &resolution.resolved {
                println!("{resolved}");
            }
            eprintln!("{}", resolution.explanation);
            match resolution.outcome {
                Outcome::Exact | Outcome::Fallback => ExitCode::SUCCESS,
                Outcome::Missing => ExitCode::from(1),
            }
        }
        Err(ResolveError::Input(why)) => {
            eprintln!("{why}");
            ExitCode::from(2)
        }
        // Denied, unreachable, rate-limited: never a fallback.
        Err(ResolveError::Registry(e)) => {
            eprintln!("could not decide: {e}");
            ExitCode::from(3)
        }
    }
}
