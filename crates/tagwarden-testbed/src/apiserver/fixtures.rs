//! The fixture cluster of issue 9, as `kubectl get -o json` prints it.
//!
//! The objects live in `fixtures/apiserver/*.json` (`v1` `List`s, one per
//! namespace, plus `cluster.json`), complete as the real API server returns
//! them: `uid`, `resourceVersion`, `creationTimestamp`, `managedFields`,
//! labels, Helm annotations, owner references and `status`. The server
//! re-stamps `resourceVersion` as it loads them (file order), so the global
//! order holds. What is in them:
//!
//! | namespace | objects | images and what they are for |
//! |---|---|---|
//! | — | Namespaces; Nodes `ip-10-0-1-23…` (amd64), `ip-10-0-2-41…`, `ip-10-0-3-77…` (arm64), with `status.nodeInfo`; a `default` ServiceAccount per namespace | |
//! | `capsule-system` | Helm release `capsule`: Deployment → ReplicaSet → Pod `capsule-controller-manager-…`; hook Job `capsule-crds` (`helm.sh/hook: post-install,post-upgrade`) with its Pod `capsule-crds-8x7kq` in `ImagePullBackOff`; the kubelet's Events (`Pulling`, `Failed` "… not found", `Error: ErrImagePull`, `BackOff`, `Error: ImagePullBackOff`) | `clastix/capsule:v0.7.2` (not in the standard seed); `clastix/kubectl:v1.32` (missing: the seed has no `v1.32*`) |
//! | `shop` | Deployment `web` → ReplicaSet `web-6c9d7f4b8c` → 2 Pods (on the amd64 node), each with init container `wait-for-config` | `library/busybox:1.36.1` (amd64 + arm64); init `acme/tools/kubectl:v1.30.2` (amd64 only, while 2 nodes are arm64) |
//! | `reports` | Deployment `cluster-janitor` scaled to 0 (and its ReplicaSet); CronJob `nightly-export` | `bitnami/kubectl:1.27.3` (missing tag); `{provider}/platform/exporter:1.4.0` (needs a kubelet credential provider) |
//! | `debug` | bare Pod `toolbox` with ephemeral container `debugger-wq7nz` | `library/busybox:1.36`; ephemeral `library/busybox:latest` |
//! | `payments` | Secret `regcred` (`kubernetes.io/dockerconfigjson`), ServiceAccount `ledger` (with `imagePullSecrets`), StatefulSet `ledger` → Pod `ledger-0` (with `imagePullSecrets`) | `{private}/payments/ledger:3.1.0` (only the pull secret opens it) |
//!
//! Registry hosts are templated, so tests point images at the test bed's
//! registries: `{{public/}}` (images written without a host, i.e. Docker
//! Hub; empty by default, `HOST/` when set), `{{public_host}}` (the host as
//! containerd names it in statuses and Events: `docker.io` by default),
//! `{{private}}`, `{{provider}}`, and `{{private_dockerconfigjson}}` (the
//! Secret's data, made from the private host and credentials).

use serde_json::Value;

use crate::token::{DEFAULT_PASSWORD, DEFAULT_USERNAME};

const FILES: &[(&str, &str)] = &[
    (
        "cluster.json",
        include_str!("../../fixtures/apiserver/cluster.json"),
    ),
    (
        "capsule.json",
        include_str!("../../fixtures/apiserver/capsule.json"),
    ),
    (
        "shop.json",
        include_str!("../../fixtures/apiserver/shop.json"),
    ),
    (
        "reports.json",
        include_str!("../../fixtures/apiserver/reports.json"),
    ),
    (
        "debug.json",
        include_str!("../../fixtures/apiserver/debug.json"),
    ),
    (
        "payments.json",
        include_str!("../../fixtures/apiserver/payments.json"),
    ),
];

/// The fixture cluster, with its registry hosts.
#[derive(Clone, Debug)]
pub struct Fixtures {
    public: Option<String>,
    private: String,
    provider: String,
    username: String,
    password: String,
}

/// One image a fixture object uses, with where (for tests' expectations).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixtureImage {
    /// `namespace` (empty for none).
    pub namespace: String,
    /// `Pod`, `Deployment`, …
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// The container's name.
    pub container: String,
    /// The image reference, as written in the object.
    pub image: String,
}

impl Fixtures {
    /// Hosts as a real cluster would have them: Docker Hub images without a
    /// host, `registry.example.com` (private, `testuser`/`testpassword`),
    /// and an ECR host for the credential-provider image.
    pub fn standard() -> Fixtures {
        Fixtures {
            public: None,
            private: "registry.example.com".to_string(),
            provider: "123456789012.dkr.ecr.eu-west-1.amazonaws.com".to_string(),
            username: DEFAULT_USERNAME.to_string(),
            password: DEFAULT_PASSWORD.to_string(),
        }
    }

    /// Put the public images (`clastix/kubectl`, `library/busybox`, …) on
    /// `host` (e.g. a test [`crate::Registry`]'s `127.0.0.1:PORT`).
    pub fn public_registry(mut self, host: impl Into<String>) -> Self {
        self.public = Some(host.into());
        self
    }

    /// The host of the private image that only the pull secret opens.
    pub fn private_registry(mut self, host: impl Into<String>) -> Self {
        self.private = host.into();
        self
    }

    /// The user and password in the pull secret (default: the test bed's
    /// htpasswd user).
    pub fn private_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.username = username.into();
        self.password = password.into();
        self
    }

    /// The host of the image that needs a kubelet credential provider.
    pub fn provider_registry(mut self, host: impl Into<String>) -> Self {
        self.provider = host.into();
        self
    }

    /// Every object, in load order.
    ///
    /// # Panics
    ///
    /// If a fixture file is not valid JSON after templating (a bug here).
    pub fn objects(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for (file, text) in FILES {
            let text = self.render(text);
            let list: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("fixtures/apiserver/{file}: {e}"));
            match list.get("items").and_then(Value::as_array) {
                Some(items) => out.extend(items.iter().cloned()),
                None => panic!("fixtures/apiserver/{file}: not a List"),
            }
        }
        out
    }

    /// Every image of every container, init container and ephemeral
    /// container of every object (Pod templates included).
    pub fn images(&self) -> Vec<FixtureImage> {
        let mut out = Vec::new();
        for object in self.objects() {
            let text = |p: &str| {
                object
                    .pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            for spec in [
                "/spec",
                "/spec/template/spec",
                "/spec/jobTemplate/spec/template/spec",
            ] {
                for list in ["containers", "initContainers", "ephemeralContainers"] {
                    let Some(cs) = object
                        .pointer(&format!("{spec}/{list}"))
                        .and_then(Value::as_array)
                    else {
                        continue;
                    };
                    for c in cs {
                        out.push(FixtureImage {
                            namespace: text("/metadata/namespace"),
                            kind: text("/kind"),
                            name: text("/metadata/name"),
                            container: c["name"].as_str().unwrap_or_default().to_string(),
                            image: c["image"].as_str().unwrap_or_default().to_string(),
                        });
                    }
                }
            }
        }
        out
    }

    fn render(&self, text: &str) -> String {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let auth = b64(&format!("{}:{}", self.username, self.password));
        let docker_config = serde_json::json!({ "auths": { &self.private: {
            "username": self.username, "password": self.password, "auth": auth,
        } } });
        let public_prefix = self
            .public
            .as_ref()
            .map(|h| format!("{h}/"))
            .unwrap_or_default();
        text.replace("{{public/}}", &public_prefix)
            .replace(
                "{{public_host}}",
                self.public.as_deref().unwrap_or("docker.io"),
            )
            .replace("{{private}}", &self.private)
            .replace("{{provider}}", &self.provider)
            .replace(
                "{{private_dockerconfigjson}}",
                &b64(&docker_config.to_string()),
            )
    }
}

impl Default for Fixtures {
    fn default() -> Self {
        Fixtures::standard()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_templated() {
        let f = Fixtures::standard()
            .public_registry("127.0.0.1:5000")
            .private_registry("127.0.0.1:5001");
        let images: Vec<String> = f.images().into_iter().map(|i| i.image).collect();
        assert!(images.contains(&"127.0.0.1:5000/clastix/kubectl:v1.32".to_string()));
        assert!(images.contains(&"127.0.0.1:5001/payments/ledger:3.1.0".to_string()));
        assert!(images.iter().all(|i| !i.contains("{{")), "{images:?}");
        let plain: Vec<String> = Fixtures::standard()
            .images()
            .into_iter()
            .map(|i| i.image)
            .collect();
        assert!(plain.contains(&"clastix/kubectl:v1.32".to_string()));
    }

    #[test]
    fn the_pull_secret_opens_the_private_host() {
        use base64::Engine as _;
        let f = Fixtures::standard().private_registry("127.0.0.1:5001");
        let secret = f
            .objects()
            .into_iter()
            .find(|o| o["kind"] == "Secret")
            .expect("a Secret");
        let data = secret["data"][".dockerconfigjson"].as_str().unwrap();
        let config: Value = serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            config["auths"]["127.0.0.1:5001"]["username"],
            DEFAULT_USERNAME
        );
    }
}
