//! Registry clients by pull secrets, for `serve --read-pull-secrets`: an image is checked
//! with the pull secrets of the workloads that use it, before the local credentials, as
//! `scan` does ([`crate::pull_secrets`]).
//!
//! The monitor asks for a client synchronously ([`RegistryClients::client_for`]); the
//! Secrets are read before that, by the indexer, each time the image uses name a Secret
//! it has not read yet, and again every [`REREAD_EVERY`] (credentials rotate). One keychain
//! per set of Secrets, kept while that set is in use, over the local client's transport
//! ([`Client::with_keychain_first`]): the per-host concurrency limit, pacing, host-down
//! marks and learned challenges are one budget for the process, however many sets of
//! Secrets the workloads name. Tokens and in-memory answers stay per set of Secrets.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use tagwarden_registry::Client;

use crate::connection::Cluster;
use crate::inventory::SecretRef;
use crate::monitor::RegistryClients;
use crate::pull_secrets::PullSecrets;

/// How often Secrets already read are read again.
pub const REREAD_EVERY: Duration = Duration::from_secs(600);

/// Clients by the pull secrets of an image's workloads.
pub struct PullSecretClients {
    local: Client,
    secrets: RwLock<(PullSecrets, Option<Instant>)>,
    clients: Mutex<HashMap<Vec<SecretRef>, Client>>,
    warned: Mutex<std::collections::HashSet<String>>,
}

impl fmt::Debug for PullSecretClients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PullSecretClients")
            .field(
                "clients",
                &self.clients.lock().map(|c| c.len()).unwrap_or(0),
            )
            .finish()
    }
}

impl PullSecretClients {
    /// `local` for images without readable pull secrets; the others ask through it with
    /// their pull secrets first.
    pub fn new(local: Client) -> PullSecretClients {
        PullSecretClients {
            local,
            secrets: RwLock::new((PullSecrets::default(), None)),
            clients: Mutex::new(HashMap::new()),
            warned: Mutex::new(Default::default()),
        }
    }

    /// Whether the Secrets read are due to be read again ([`REREAD_EVERY`]): then
    /// [`PullSecretClients::refresh`] wants every Secret in use.
    pub(crate) fn stale(&self) -> bool {
        let guard = self.secrets.read().expect("secrets poisoned");
        guard.1.is_none_or(|at| at.elapsed() >= REREAD_EVERY)
    }

    /// Reads the Secrets of `secrets` that are not read yet (all of them when
    /// [`PullSecretClients::stale`]); what cannot be read is logged once.
    pub(crate) async fn refresh<'a>(
        &self,
        cluster: &Cluster,
        secrets: impl IntoIterator<Item = &'a SecretRef>,
    ) {
        let stale = self.stale();
        let wanted: Vec<&SecretRef> = {
            let guard = self.secrets.read().expect("secrets poisoned");
            let mut seen = std::collections::BTreeSet::new();
            secrets
                .into_iter()
                .filter(|s| stale || !guard.0.knows(s))
                .filter(|s| seen.insert((*s).clone()))
                .collect()
        };
        if wanted.is_empty() {
            return;
        }
        let read = cluster.pull_secrets(wanted).await;
        {
            let mut warned = self.warned.lock().expect("warned poisoned");
            for warning in &read.warnings {
                if warned.insert(warning.clone()) {
                    tracing::warn!("{warning}");
                }
            }
        }
        let mut guard = self.secrets.write().expect("secrets poisoned");
        if stale {
            guard.0 = read;
            guard.1 = Some(Instant::now());
            // New credentials: new clients.
            self.clients.lock().expect("clients poisoned").clear();
        } else {
            guard.0.merge(read);
        }
    }
}

impl RegistryClients for PullSecretClients {
    fn client_for(&self, pull_secrets: &[SecretRef]) -> Client {
        let keychain = {
            let guard = self.secrets.read().expect("secrets poisoned");
            guard.0.keychain(pull_secrets)
        };
        let Some(keychain) = keychain else {
            return self.local.clone();
        };
        let mut clients = self.clients.lock().expect("clients poisoned");
        if let Some(client) = clients.get(pull_secrets) {
            return client.clone();
        }
        let client = self.local.with_keychain_first(keychain);
        clients.insert(pull_secrets.to_vec(), client.clone());
        client
    }
}
