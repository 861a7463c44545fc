//! Pull secrets, read from the cluster the way the kubelet uses them.
//!
//! A Pod pulls with the Secrets its spec names in `imagePullSecrets`, then those of its
//! ServiceAccount ([`crate::inventory::ImageUse::pull_secrets`]). [`Cluster::pull_secrets`]
//! reads each named Secret once (`GET`, never a list: RBAC may grant `get` on a few
//! Secrets only) and turns the readable ones into a
//! [`tagwarden_registry::PullSecretKeychain`] per set of Secrets.
//!
//! Reading Secrets is optional. When RBAC forbids it (403), that is said once, and images
//! are checked with the local credentials alone; so is a Secret that does not exist or is
//! not a docker config. Secret contents are never printed or logged: messages name the
//! Secret (`payments/regcred`), nothing more.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use tagwarden_registry::PullSecretKeychain;

use crate::connection::Cluster;
use crate::error::ClusterError;
use crate::inventory::SecretRef;

/// The pull secrets that could be read, by reference.
#[derive(Debug, Default)]
pub struct PullSecrets {
    /// `namespace/name` → the Secret's `.dockerconfigjson` text.
    readable: BTreeMap<SecretRef, String>,
    /// What could not be read, each said once.
    pub warnings: Vec<String>,
}

impl PullSecrets {
    /// A keychain of the readable Secrets among `secrets`, in their order; `None` when
    /// none of them could be read.
    pub fn keychain(&self, secrets: &[SecretRef]) -> Option<PullSecretKeychain> {
        let pairs: Vec<(String, String)> = secrets
            .iter()
            .filter_map(|s| {
                self.readable
                    .get(s)
                    .map(|json| (s.to_string(), json.clone()))
            })
            .collect();
        if pairs.is_empty() {
            return None;
        }
        // Each was checked to be a docker config as it was read.
        PullSecretKeychain::from_cluster_secrets(&pairs).ok()
    }

    /// Whether `secret` was read and holds a usable docker config.
    pub fn knows(&self, secret: &SecretRef) -> bool {
        self.readable.contains_key(secret)
    }

    /// Adds what `other` read (its readable Secrets replace older copies).
    pub fn merge(&mut self, other: PullSecrets) {
        self.readable.extend(other.readable);
        self.warnings.extend(other.warnings);
    }

    /// How many Secrets could be read.
    pub fn len(&self) -> usize {
        self.readable.len()
    }

    /// True when no Secret could be read.
    pub fn is_empty(&self) -> bool {
        self.readable.is_empty()
    }
}

impl Cluster {
    /// Reads every Secret in `wanted` once; see the [module documentation](self).
    /// Never fails: what cannot be read becomes a warning.
    pub async fn pull_secrets<'a>(
        &self,
        wanted: impl IntoIterator<Item = &'a SecretRef>,
    ) -> PullSecrets {
        let wanted: BTreeSet<&SecretRef> = wanted.into_iter().collect();
        let mut secrets = PullSecrets::default();
        if wanted.is_empty() {
            return secrets;
        }
        let client = match self.client() {
            Ok(client) => client,
            Err(e) => {
                secrets
                    .warnings
                    .push(format!("cannot read pull secrets: {e}"));
                return secrets;
            }
        };
        let mut forbidden: Vec<String> = Vec::new();
        let mut forbidden_reason = None;
        for secret in wanted {
            // A name from an object, but it goes into a path: never unchecked.
            if let Err(invalid) = crate::names::namespace(&secret.namespace)
                .and_then(|_| crate::names::name(&secret.name))
            {
                secrets
                    .warnings
                    .push(format!("pull secret {secret} is not used: {invalid}"));
                continue;
            }
            let api: Api<Secret> = Api::namespaced(client.clone(), &secret.namespace);
            match api.get_opt(&secret.name).await {
                Ok(Some(object)) => match docker_config_of(&object) {
                    Ok(json) => {
                        // The error names the secret and says what is wrong (never the
                        // content).
                        match PullSecretKeychain::from_cluster_secrets(&[(secret.to_string(), json.clone())]) {
                            Ok(_) => {
                                secrets.readable.insert(secret.clone(), json);
                            }
                            Err(error) => {
                                secrets.warnings.push(format!("{error}; it is not used"))
                            }
                        }
                    }
                    Err(why) => secrets
                        .warnings
                        .push(format!("pull secret {secret} {why}; it is not used")),
                },
                Ok(None) => secrets.warnings.push(format!(
                    "pull secret {secret} does not exist; images that name it are checked without it"
                )),
                Err(kube::Error::Api(status)) if status.code == 403 => {
                    forbidden.push(secret.to_string());
                    forbidden_reason.get_or_insert(status.message.clone());
                }
                Err(e) => {
                    let error: ClusterError = self.request_error(e);
                    secrets
                        .warnings
                        .push(format!("cannot read pull secret {secret}: {error}"));
                }
            }
        }
        if !forbidden.is_empty() {
            secrets.warnings.push(format!(
                "RBAC forbids reading Secrets ({}): images are checked with your local credentials instead of the pull secrets {}; grant `get` on secrets to use them",
                forbidden_reason.unwrap_or_default(),
                list_some(&forbidden),
            ));
        }
        secrets
    }
}

/// The docker config JSON a pull Secret holds, or why it holds none.
fn docker_config_of(secret: &Secret) -> Result<String, String> {
    let kind = secret.type_.as_deref().unwrap_or("Opaque");
    let data = secret.data.as_ref();
    let text = |key: &str| {
        data.and_then(|d| d.get(key)).map(|bytes| {
            String::from_utf8(bytes.0.clone()).map_err(|_| format!("has a {key} that is not UTF-8"))
        })
    };
    match kind {
        "kubernetes.io/dockerconfigjson" => text(".dockerconfigjson")
            .unwrap_or_else(|| Err("has no .dockerconfigjson key".to_string())),
        // The legacy format is the `auths` map itself.
        "kubernetes.io/dockercfg" => text(".dockercfg")
            .unwrap_or_else(|| Err("has no .dockercfg key".to_string()))
            .map(|legacy| format!("{{\"auths\":{legacy}}}")),
        other => Err(format!(
            "is of type {other}, not kubernetes.io/dockerconfigjson"
        )),
    }
}

/// The first few names, then a count.
fn list_some(names: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}
