//! One module per command; each turns parsed flags into calls of the library crates.

pub mod gaps;
pub mod kube_version;
pub mod matrix;
pub mod resolve;

use tagwarden_registry::{Client, ClientOptions, CredentialStore};

use crate::cli::GlobalOptions;
use crate::exit::Failure;

/// The registry client every command shares, configured from the global flags.
pub fn registry_client(global: &GlobalOptions) -> Result<Client, Failure> {
    let credentials = CredentialStore::from_environment(global.registry_config.as_deref())?;
    let options = ClientOptions {
        insecure_registries: global.insecure_registries.clone(),
        credentials,
        ..ClientOptions::default()
    };
    Ok(Client::new(options)?)
}

/// Print a value as JSON on stdout, followed by a newline.
pub fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("output types always serialise")
    );
}
