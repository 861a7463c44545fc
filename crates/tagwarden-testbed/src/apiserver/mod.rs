//! A test Kubernetes API server: the real protocol over HTTPS, in process.
//!
//! No Kubernetes API server can be installed where tagwarden's tests run,
//! and a mock that agrees with our own client proves nothing. So this server
//! speaks the protocol as `kube-apiserver` v1.32 does, and the tests hold it
//! to that with the real `kubectl` (see `tests/apiserver.rs`): if kubectl can
//! `get`, `watch` and `version` against it, kube-rs can too.
//!
//! ```no_run
//! use tagwarden_testbed::{ApiServer, Fixtures};
//!
//! let api = ApiServer::builder()
//!     .fixtures(Fixtures::standard().public_registry("127.0.0.1:5000"))
//!     .start();
//! let kubeconfig = api.kubeconfig_path();       // server, CA, token, context
//! // ... run `kubectl --kubeconfig … get pods -A` or kube-rs against it;
//! // change the cluster while watches are open:
//! api.apply(serde_json::json!({
//!     "apiVersion": "apps/v1", "kind": "Deployment",
//!     "metadata": { "name": "new", "namespace": "shop" },
//!     "spec": { "replicas": 1 },
//! }));
//! api.delete("apps/v1", "Deployment", Some("shop"), "new");
//! ```
//!
//! # What is faithful to the real server
//!
//! - **Transport and authentication:** HTTPS on `127.0.0.1` with its own
//!   test CA (the crate's `rcgen` PKI, rustls on aws-lc-rs, HTTP/1.1),
//!   bearer tokens; without a known `Authorization: Bearer …` every path is
//!   `401` with a `Status` body (`reason: Unauthorized`). The default token
//!   (in [`ApiServer::kubeconfig`]) is `kubernetes-admin` in `system:masters`;
//!   [`ApiServer::service_account_token`] mints one for
//!   `system:serviceaccount:NS:NAME` (groups `system:serviceaccounts`,
//!   `system:serviceaccounts:NS`, `system:authenticated`),
//!   [`ApiServer::user_token`] one for any user, and
//!   [`ApiServer::kubeconfig_with_token`] writes a kubeconfig for it.
//!   `Impersonate-User`/`Impersonate-Group` (`kubectl --as`) work, authorized
//!   by the `impersonate` verb.
//! - **RBAC, always on** (`rbac.rs`): kube-apiserver's authorizer chain,
//!   evaluated at each request from the stored `rbac.authorization.k8s.io/v1`
//!   Roles, ClusterRoles, RoleBindings and ClusterRoleBindings (served, so
//!   `kubectl apply -f`/`get clusterroles` work): `system:masters` bypasses
//!   it; verbs, apiGroups, resources with subresources (`pods/log`,
//!   `*/scale`), `resourceNames` (which match only requests that name an
//!   object: a `get`, or a list/watch with `fieldSelector=metadata.name=…`),
//!   `nonResourceURLs`; RoleBindings to Roles or ClusterRoles (granting in
//!   their namespace only); subjects User, Group, ServiceAccount. The
//!   bootstrap policy (`cluster-admin`, `system:discovery`,
//!   `system:public-info-viewer`, `system:basic-user`, with their bindings)
//!   is stored from the start, so every authenticated user may read
//!   discovery, `/version`, `/openapi`, `/healthz` and create
//!   SelfSubjectAccessReviews and SelfSubjectRulesReviews (`kubectl auth
//!   can-i`, also `--list`, works). A denial is the
//!   real `403` ("secrets \"regcred\" is forbidden: User \"…\" cannot get
//!   resource \"secrets\" in API group \"\" in the namespace \"payments\"",
//!   "forbidden: User \"…\" cannot get path \"/foo\"") with its `details`.
//!   Every decision is recorded ([`ApiServer::authorizations`],
//!   [`ApiServer::denials`]) with the binding, role and rule that allowed it,
//!   and [`ApiServer::unused_grants`] lists what a ServiceAccount was granted
//!   and never used. [`ApiServer::forbid`] remains as a switch that denies a
//!   resource to everyone, admin included, on top of RBAC.
//! - **`/version`** with a configurable `gitVersion` (`v1.32.1-eks-5e0fdde`
//!   gives `major: "1"`, `minor: "32+"`, as vendor builds report), which a
//!   test may change while clients run ([`ApiServer::set_git_version`]), or
//!   make alternate between answers ([`ApiServer::set_git_versions`]: a
//!   control plane mid-upgrade).
//! - **Discovery** (`discovery.rs`): `/api`, `/apis`, `/apis/{group}`, `/api/v1`,
//!   `/apis/{apps,batch,events.k8s.io,coordination.k8s.io,admissionregistration.k8s.io,`
//!   `rbac.authorization.k8s.io,authorization.k8s.io}/v1` in the legacy
//!   shapes, and the aggregated `APIGroupDiscoveryList` (v2 and v2beta1)
//!   when the `Accept` header asks for it, falling back to the legacy
//!   documents when it does not, as the real server negotiates.
//! - **Objects** (`store.rs`): one global, increasing `resourceVersion`
//!   stamped into every write; `uid`, `creationTimestamp`, `generation` and a
//!   `managedFields` entry (manager from `fieldManager` or the User-Agent) on
//!   writes; `409 AlreadyExists`/`Conflict`, `404 NotFound` and `422 Invalid`
//!   `Status` answers worded as the real ones.
//! - **Refusals** (`validation.rs`): names a kind does not accept (`422`
//!   with kube's RFC 1123/1035 messages), writes into a namespace that does
//!   not exist (`404 namespaces "x" not found`, the `NamespaceLifecycle`
//!   plugin; only once the server holds any Namespace), bodies of a media
//!   type a verb does not take (`415 UnsupportedMediaType`), bodies that are
//!   not JSON (`400`), verbs a resource does not list in discovery (`405`).
//! - **List:** namespaced and all-namespaces paths; `metadata.resourceVersion`;
//!   items without `apiVersion`/`kind`, as in real list answers; `limit` and
//!   `continue` (a token of the real shape, reading a consistent snapshot at
//!   the first page's resourceVersion; `410 Expired` once compacted) with
//!   `remainingItemCount`; `resourceVersionMatch=Exact`; `labelSelector`
//!   (`=`, `==`, `!=`, `in`, `notin`, exists, `!`exists) and `fieldSelector`
//!   over exactly the fields kube-apiserver selects on per kind
//!   (`validation.rs`: Pods' `spec.nodeName`, `status.phase`, …; Events'
//!   `involvedObject.uid`, …, so `kubectl describe` finds a Pod's Events);
//!   any other field is `400` "field label not supported: spec.foo".
//! - **Watch** (`?watch=1`): chunked JSON lines `{"type","object"}` of
//!   `ADDED`/`MODIFIED`/`DELETED`; the current state first when
//!   `resourceVersion` is unset or `0`, else every change after it;
//!   `BOOKMARK`s when `allowWatchBookmarks=true` (every
//!   [`ApiServerBuilder::bookmark_interval`]); `sendInitialEvents=true` with
//!   the `k8s.io/initial-events-end` bookmark (the streaming-list protocol;
//!   refused with `422` under [`ApiServerBuilder::streaming_lists`]`(false)`,
//!   as a server without the `WatchList` feature refuses it);
//!   objects entering or leaving a label selector become `ADDED`/`DELETED`;
//!   `timeoutSeconds`; and for a resourceVersion older than the history
//!   ([`ApiServer::compact`]) a `200` whose one event is an `ERROR` with a
//!   `410 Expired` `Status` ("too old resource version: 3 (9)"), as the real
//!   server sends it. A watch ends when the client disconnects, when its
//!   timeout passes, when the [`ApiServer`] is dropped, and when the test
//!   cuts every watch connection ([`ApiServer::drop_watches`]); and at once,
//!   cleanly and empty, while [`ApiServer::end_watches_at_once`] is on (a
//!   misbehaving proxy).
//! - **Writes:** `POST` (with `generateName`), `PUT` (with the
//!   `resourceVersion` precondition), `PATCH` (`json-patch+json`, `merge-patch+json`,
//!   `strategic-merge-patch+json` as a merge patch, `apply-patch+yaml` with a
//!   JSON body, which creates a missing object), `DELETE`, and
//!   `deletecollection`: enough for Events (core and `events.k8s.io`), Leases,
//!   Pods and webhook configurations. Patches are applied atomically under the store's lock.
//! - **One Event store, two APIs** (`convert.rs`): core `v1` and
//!   `events.k8s.io/v1` Events are views of the same objects, converted
//!   field by field, so an Event a `Recorder` writes shows in
//!   `kubectl get events` and the kubelet's Events in `events.k8s.io/v1`.
//! - **Field ownership** (`fields.rs`): `managedFields` follow the writes of
//!   each field manager, and a server-side apply that would change a field
//!   another manager owns is `409 Conflict` ("Apply failed with 1 conflict:
//!   conflict with \"…\" using coordination.k8s.io/v1: .spec.holderIdentity")
//!   unless `force=true`: the race that Lease-based leader election relies on.
//! - **OpenAPI, as far as kubectl needs it:** `/openapi/v3` and its
//!   group-version documents say that every resource takes
//!   `fieldValidation`, so `kubectl create -f` leaves validation to the
//!   server (which accepts every field) instead of downloading `/openapi/v2`.
//! - **Admission** (`admission.rs`): `admissionregistration.k8s.io/v1`
//!   `MutatingWebhookConfiguration`s and `ValidatingWebhookConfiguration`s
//!   are stored like any object (`kubectl create -f` the chart's), and every
//!   create and update goes through their webhooks as kube-apiserver sends
//!   it: mutating by configuration name, then validating; `rules`,
//!   `namespaceSelector` (the stored Namespace's labels), `objectSelector`,
//!   `failurePolicy` with kube's messages, `timeoutSeconds`, `sideEffects`
//!   on dry runs, `reinvocationPolicy: IfNeeded`; a real `AdmissionReview`
//!   v1 over HTTPS to `NAME.NAMESPACE.svc` verified against `caBundle`, at
//!   the address [`ApiServer::route_service`] gave the Service; JSON Patch
//!   applied, warnings as `Warning` headers, denials as
//!   `webhookerrors.ToStatusErr`. Every call is recorded
//!   ([`ApiServer::webhook_calls`]). A hand-set [`PodWebhook`] (a URL, Pod
//!   creates) runs first, for tests that need no configuration object.
//! - **Dry run:** `dryRun=All` on a create runs admission and answers the
//!   object as it would be stored (name, uid), storing nothing.
//! - **Tables:** `kubectl get` asks for `as=Table;g=meta.k8s.io`; it gets a
//!   small server-side Table (`table.rs`), in lists, gets and watches.
//!
//! # What is deliberately left out
//!
//! Protobuf (answers are JSON; request bodies are read as protobuf only for
//! the kinds kubectl's typed commands send that way, `protobuf.rs`: reviews,
//! RBAC objects, Namespaces, ServiceAccounts; YAML bodies only in their
//! JSON form), HTTP/2 and
//! websockets (so no `exec`/`logs`/
//! `port-forward`), subresources (`/status`, `/scale`, `/log`, `/eviction`:
//! RBAC rules name them, but the server serves none),
//! token review details (tokens are opaque, not JWTs, and a ServiceAccount
//! token stays valid when its ServiceAccount is deleted), ClusterRole
//! `aggregationRule`s and the default `admin`/`edit`/`view` roles, RBAC's
//! escalation checks (anyone allowed to write a Role may grant anything),
//! `kube-public` and `kube-node-lease` namespaces,
//! built-in admission plugins, webhook admission of `PATCH` and `DELETE`
//! (and what `admission.rs` lists), defaulting and validation beyond names
//! and namespaces,
//! `dryRun` other than on creates (refused with 400 rather than silently applied),
//! server-side apply's removal of fields no longer applied, strategic merge keys,
//! graceful deletion, finalizers and garbage collection (a delete removes
//! the object at once; owners do not cascade), controllers (nothing creates
//! ReplicaSets or Pods, nothing updates `status`), schemas (no `/openapi/v2`,
//! no schemas in `/openapi/v3`: `kubectl explain` does not work;
//! `kubectl create`, `apply` (which falls back on its compiled-in types for
//! the kinds it knows) and `apply --server-side` do),
//! the watch cache's own quirks (a list with
//! `resourceVersion=0` honours `limit` here), and waiting for a
//! resourceVersion newer than the newest (served as the newest).
//!
//! # Fixtures
//!
//! [`Fixtures`] is the cluster of issue 9, as JSON the real server returns
//! (files under `fixtures/apiserver/`, with the registry hosts templated).

mod admission;
mod convert;
mod discovery;
mod fields;
mod fixtures;
mod http;
mod protobuf;
mod rbac;
mod selector;
mod store;
mod table;
mod validation;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use admission::{PodWebhook, WebhookCall, WebhookOutcome};
pub use fixtures::{FixtureImage, Fixtures};
pub use rbac::{Authorization, Grant};

use self::http::Inner;
use self::rbac::Identity;
use self::store::{Key, Write};
use crate::server::ServerThread;
use crate::tls::ServerPki;

/// The bearer token an [`ApiServer`] accepts unless told otherwise.
pub const DEFAULT_TOKEN: &str = "tagwarden-test-token-3f9c2a";
/// The user that token authenticates as: an admin, in [`ADMIN_GROUPS`]
/// (as kubeadm's `kubernetes-admin`).
pub const DEFAULT_USER: &str = "kubernetes-admin";
/// The groups of the default token's user: `system:masters` bypasses RBAC,
/// as in kube-apiserver.
pub const ADMIN_GROUPS: &[&str] = &["system:masters", "system:authenticated"];
/// The server version unless told otherwise: an EKS 1.32 build.
pub const DEFAULT_GIT_VERSION: &str = "v1.32.1-eks-5e0fdde";
/// The kubeconfig context (and cluster and user) name unless told otherwise.
pub const DEFAULT_CONTEXT: &str = "tagwarden-test";

/// One request the server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, e.g. `/api/v1/namespaces/shop/pods`.
    pub path: String,
    /// The raw query string (`""` for none).
    pub query: String,
    /// The `Accept` header.
    pub accept: Option<String>,
    /// The `User-Agent` header (`kubectl/v1.32.4 (linux/amd64) kubernetes/…`).
    pub user_agent: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The status code answered (a watch is `200` when it starts).
    pub status: u16,
}

/// Options of an [`ApiServer`]; from [`ApiServer::builder`].
#[derive(Clone, Debug)]
pub struct ApiServerBuilder {
    git_version: String,
    token: String,
    user: String,
    context: String,
    bookmark_interval: Duration,
    streaming_lists: bool,
    fixtures: Option<Fixtures>,
    forbidden: Vec<String>,
    pod_webhook: Option<PodWebhook>,
    routes: Vec<(String, String, u16, SocketAddr)>,
}

impl Default for ApiServerBuilder {
    fn default() -> Self {
        ApiServerBuilder {
            git_version: DEFAULT_GIT_VERSION.to_string(),
            token: DEFAULT_TOKEN.to_string(),
            user: DEFAULT_USER.to_string(),
            context: DEFAULT_CONTEXT.to_string(),
            bookmark_interval: Duration::from_secs(1),
            streaming_lists: true,
            fixtures: Some(Fixtures::standard()),
            forbidden: Vec::new(),
            pod_webhook: None,
            routes: Vec::new(),
        }
    }
}

impl ApiServerBuilder {
    /// The `gitVersion` of `/version` (`v1.33.0`, `v1.32.1-eks-5e0fdde`, …);
    /// `major` and `minor` follow from it.
    pub fn git_version(mut self, v: impl Into<String>) -> Self {
        self.git_version = v.into();
        self
    }

    /// The admin's bearer token (default [`DEFAULT_TOKEN`]); other
    /// identities get theirs from [`ApiServer::service_account_token`] and
    /// [`ApiServer::user_token`].
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }

    /// The user name the admin token stands for (in [`ADMIN_GROUPS`]).
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    /// The context (and cluster and user) name of the kubeconfig.
    pub fn context_name(mut self, name: impl Into<String>) -> Self {
        self.context = name.into();
        self
    }

    /// How often a watch with `allowWatchBookmarks=true` gets a `BOOKMARK`
    /// (the real server: about once a minute; default here: 1 s).
    pub fn bookmark_interval(mut self, every: Duration) -> Self {
        self.bookmark_interval = every.max(Duration::from_millis(10));
        self
    }

    /// Whether watches with `sendInitialEvents` (streaming lists) are served (default:
    /// yes, as kube-apiserver 1.32 with its `WatchList` feature on); `false` refuses them
    /// with kube-apiserver's `422` for the feature turned off.
    pub fn streaming_lists(mut self, served: bool) -> Self {
        self.streaming_lists = served;
        self
    }

    /// The objects it starts with (default: [`Fixtures::standard`]).
    pub fn fixtures(mut self, fixtures: Fixtures) -> Self {
        self.fixtures = Some(fixtures);
        self
    }

    /// Start with no objects but the bootstrap RBAC policy every cluster
    /// has (`cluster-admin`, `system:discovery`, … and their bindings); no
    /// Namespaces either, so writes into any namespace are accepted until a
    /// Namespace is stored.
    pub fn empty(mut self) -> Self {
        self.fixtures = None;
        self
    }

    /// Start with every verb on `resource` forbidden (see [`ApiServer::forbid`]).
    pub fn forbid(mut self, resource: impl Into<String>) -> Self {
        self.forbidden.push(resource.into());
        self
    }

    /// Send every Pod create through `webhook` (see [`ApiServer::set_pod_webhook`]).
    pub fn pod_webhook(mut self, webhook: PodWebhook) -> Self {
        self.pod_webhook = Some(webhook);
        self
    }

    /// Route a Service's port to `addr` from the start (see
    /// [`ApiServer::route_service`]).
    pub fn route_service(
        mut self,
        namespace: impl Into<String>,
        name: impl Into<String>,
        port: u16,
        addr: SocketAddr,
    ) -> Self {
        self.routes
            .push((namespace.into(), name.into(), port, addr));
        self
    }

    /// Bind `127.0.0.1:0`, load the fixtures and serve.
    ///
    /// # Panics
    ///
    /// If the port, the certificates or the thread cannot be had, or a
    /// fixture object names a kind that is not served: a broken test bed
    /// must fail loudly.
    pub fn start(self) -> ApiServer {
        ApiServer::start_with(self)
    }
}

/// A running test API server; stops when dropped (open watches end then).
pub struct ApiServer {
    server: ServerThread,
    inner: Arc<Inner>,
    pki: ServerPki,
    context: String,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ApiServer {
    /// The fixture cluster ([`Fixtures::standard`]) with default options.
    pub fn start() -> ApiServer {
        ApiServerBuilder::default().start()
    }

    /// Options, then [`ApiServerBuilder::start`].
    pub fn builder() -> ApiServerBuilder {
        ApiServerBuilder::default()
    }

    fn start_with(b: ApiServerBuilder) -> ApiServer {
        let pki = ServerPki::generate();
        let listener = StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|e| panic!("test API server: cannot bind 127.0.0.1:0: {e}"));
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let admin = Identity::user(&b.user, ADMIN_GROUPS);
        let inner = Arc::new(Inner {
            store: store::Store::new(),
            version: Mutex::new(VersionAnswers::new(&[b.git_version.as_str()])),
            watches_end_at_once: std::sync::atomic::AtomicBool::new(false),
            streaming_lists: b.streaming_lists,
            tokens: Mutex::new(BTreeMap::from([(b.token.clone(), admin)])),
            token: b.token,
            authorizations: Mutex::new(Vec::new()),
            server_address: addr.to_string(),
            bookmark_interval: b.bookmark_interval,
            forbidden: Mutex::new(BTreeSet::new()),
            watch_cut: tokio::sync::watch::channel(0).0,
            admission: admission::Admission::default(),
            requests: Mutex::new(Vec::new()),
        });
        let fixture_objects = b.fixtures.as_ref().map(Fixtures::objects);
        for object in rbac::bootstrap_policy()
            .into_iter()
            .chain(fixture_objects.into_iter().flatten())
        {
            let resource =
                resource_of(&object).unwrap_or_else(|e| panic!("test API server fixture: {e}"));
            inner
                .store
                .write(resource, object, Write::Apply, None)
                .unwrap_or_else(|e| panic!("test API server fixture: {}", e.message));
        }
        let dir = crate::registry::scratch_dir("tagwarden-apiserver-");
        let kubeconfig = dir.path().join("kubeconfig");
        let tls = tls_config(&pki);
        let serving = Arc::clone(&inner);
        let server = ServerThread::spawn("apiserver", listener, move |listener, shutdown| {
            serve(listener, tls, serving, shutdown)
        });
        let api = ApiServer {
            server,
            inner,
            pki,
            context: b.context,
            dir,
            kubeconfig,
        };
        *lock(&api.inner.admission.pod_webhook) = b.pod_webhook;
        for (namespace, name, port, addr) in b.routes {
            api.route_service(&namespace, &name, port, addr);
        }
        for resource in b.forbidden {
            api.forbid(&resource);
        }
        api.write_kubeconfig(&api.kubeconfig.clone());
        std::fs::write(api.ca_path(), &api.pki.ca_cert_pem)
            .unwrap_or_else(|e| panic!("test API server: cannot write its CA file: {e}"));
        api
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.server.socket_addr())
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.server.socket_addr()
    }

    /// The bearer token it accepts.
    pub fn token(&self) -> &str {
        &self.inner.token
    }

    /// PEM of the CA that signed its certificate.
    pub fn ca_cert_pem(&self) -> &str {
        &self.pki.ca_cert_pem
    }

    /// A file holding [`ApiServer::ca_cert_pem`] (for reqwest or `--certificate-authority`).
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// The kubeconfig YAML: one cluster (URL, CA data), one user (the
    /// admin token), one context with namespace `default`, made current.
    pub fn kubeconfig(&self) -> String {
        self.kubeconfig_with_token(&self.inner.token)
    }

    /// [`ApiServer::kubeconfig`] with another bearer token (e.g. from
    /// [`ApiServer::service_account_token`]): kubectl or kube-rs then act as
    /// that identity.
    pub fn kubeconfig_with_token(&self, token: &str) -> String {
        use base64::Engine as _;
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.pki.ca_cert_pem);
        let name = &self.context;
        format!(
            "apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - name: {name}\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\n\
             users:\n\
             - name: {name}\n  user:\n    token: {token}\n\
             contexts:\n\
             - name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n    namespace: default\n\
             current-context: {name}\n\
             preferences: {{}}\n",
            url = self.url(),
        )
    }

    /// Write [`ApiServer::kubeconfig_with_token`] to `path`.
    ///
    /// # Panics
    ///
    /// If the file cannot be written.
    pub fn write_kubeconfig_with_token(&self, path: &Path, token: &str) {
        std::fs::write(path, self.kubeconfig_with_token(token))
            .unwrap_or_else(|e| panic!("cannot write kubeconfig {}: {e}", path.display()));
    }

    /// A new bearer token that authenticates as the ServiceAccount
    /// `namespace/name`: user `system:serviceaccount:NS:NAME`, groups
    /// `system:serviceaccounts`, `system:serviceaccounts:NS`,
    /// `system:authenticated`. What it may do is what the stored
    /// Roles, ClusterRoles and bindings grant that identity, decided at each
    /// request. (The ServiceAccount object itself is not required.)
    pub fn service_account_token(&self, namespace: &str, name: &str) -> String {
        self.mint_token(Identity::service_account(namespace, name))
    }

    /// A new bearer token for a plain `user` in `groups` (plus
    /// `system:authenticated`).
    pub fn user_token(&self, user: &str, groups: &[&str]) -> String {
        self.mint_token(Identity::user(user, groups))
    }

    fn mint_token(&self, identity: Identity) -> String {
        let token = format!("tagwarden-test.{}", self.inner.store.uid().replace('-', ""));
        lock(&self.inner.tokens).insert(token.clone(), identity);
        token
    }

    /// Every authorization decision so far, in order: one per
    /// authenticated request (and one per impersonation check).
    pub fn authorizations(&self) -> Vec<Authorization> {
        lock(&self.inner.authorizations).clone()
    }

    /// The decisions that denied (`403`).
    pub fn denials(&self) -> Vec<Authorization> {
        lock(&self.inner.authorizations)
            .iter()
            .filter(|a| !a.allowed)
            .cloned()
            .collect()
    }

    /// Forget the decisions recorded so far.
    pub fn clear_authorizations(&self) {
        lock(&self.inner.authorizations).clear();
    }

    /// What the stored RBAC objects grant the ServiceAccount
    /// `namespace/name` (not counting what every authenticated user has)
    /// that no allowed request of it used so far, one line per verb and
    /// resource: `get secrets (ClusterRole tagwarden)`, `list pods in
    /// namespace shop (Role shop/reader)`. Least privilege is an empty list.
    pub fn unused_grants(&self, namespace: &str, name: &str) -> Vec<String> {
        let history = self.authorizations();
        rbac::unused_grants(
            &self.inner.store,
            &Identity::service_account(namespace, name),
            &history,
        )
    }

    /// From now on `/version` answers `git_version` (`major`/`minor` follow).
    pub fn set_git_version(&self, git_version: &str) {
        self.set_git_versions(&[git_version]);
    }

    /// From now on `/version` answers these in turn, one per request: a
    /// control plane mid-upgrade, whose replicas behind one address disagree.
    ///
    /// # Panics
    ///
    /// If `git_versions` is empty.
    pub fn set_git_versions(&self, git_versions: &[&str]) {
        assert!(!git_versions.is_empty(), "set_git_versions: no version");
        *lock(&self.inner.version) = VersionAnswers::new(git_versions);
    }

    /// Set a Node's `status.nodeInfo.kubeletVersion` (watchers see
    /// `MODIFIED`), as a node upgraded in place reports it.
    ///
    /// # Panics
    ///
    /// If there is no such Node.
    pub fn set_kubelet_version(&self, node: &str, version: &str) -> Value {
        self.modify("v1", "Node", None, node, |n| {
            n["status"]["nodeInfo"]["kubeletVersion"] = json!(version);
        })
    }

    /// Write [`ApiServer::kubeconfig`] to `path`.
    ///
    /// # Panics
    ///
    /// If the file cannot be written.
    pub fn write_kubeconfig(&self, path: &Path) {
        std::fs::write(path, self.kubeconfig())
            .unwrap_or_else(|e| panic!("cannot write kubeconfig {}: {e}", path.display()));
    }

    /// A kubeconfig file the server wrote at start (in its scratch directory).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The context name in the kubeconfig.
    pub fn context_name(&self) -> &str {
        &self.context
    }

    /// The newest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.inner.store.resource_version()
    }

    /// Create or replace `object` (its `apiVersion`, `kind` and metadata say
    /// where), as a controller or `kubectl apply` would; watchers see
    /// `ADDED` or `MODIFIED` at once. Returns the stored object (with its new
    /// `resourceVersion`).
    ///
    /// # Panics
    ///
    /// If the kind is not served or the object has no name.
    pub fn apply(&self, object: Value) -> Value {
        let resource = resource_of(&object).unwrap_or_else(|e| panic!("ApiServer::apply: {e}"));
        let stored = self
            .inner
            .store
            .write(resource, object, Write::Apply, None)
            .unwrap_or_else(|e| panic!("ApiServer::apply: {}", e.message));
        (*stored).clone()
    }

    /// Store many objects, as a cluster that has run for a while holds them: each
    /// as [`ApiServer::apply`] stores it (same checks, resourceVersions in order, no
    /// copy made to return), then the history is forgotten ([`ApiServer::compact`]),
    /// so a watch or list from an older resourceVersion is `410 Gone`. Meant for before
    /// clients start: the scale benchmarks load 150,000 Pods with it. Returns how many
    /// objects were stored.
    ///
    /// # Panics
    ///
    /// If an object's kind is not served or it has no name.
    pub fn seed(&self, objects: impl IntoIterator<Item = Value>) -> usize {
        let mut stored = 0;
        for object in objects {
            let resource = resource_of(&object).unwrap_or_else(|e| panic!("ApiServer::seed: {e}"));
            self.inner
                .store
                .write(resource, object, Write::Apply, None)
                .unwrap_or_else(|e| panic!("ApiServer::seed: {}", e.message));
            stored += 1;
        }
        self.compact();
        stored
    }

    /// Change the stored object in place with `edit` (e.g. scale a
    /// Deployment); watchers see `MODIFIED`. Returns the new object.
    ///
    /// # Panics
    ///
    /// If there is no such object.
    pub fn modify(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        edit: impl FnOnce(&mut Value),
    ) -> Value {
        let key = key_for(api_version, kind, namespace, name);
        let mut object = self
            .inner
            .store
            .get(&key)
            .map(|o| (*o).clone())
            .unwrap_or_else(|| panic!("ApiServer::modify: no {kind} {namespace:?}/{name}"));
        edit(&mut object);
        let stored = self
            .inner
            .store
            .write(key.resource, object, Write::Update, None)
            .unwrap_or_else(|e| panic!("ApiServer::modify: {}", e.message));
        (*stored).clone()
    }

    /// Delete an object; watchers see `DELETED`. Returns whether it existed.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> bool {
        let key = key_for(api_version, kind, namespace, name);
        self.inner.store.delete(&key).is_ok()
    }

    /// The stored object, if any.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let key = key_for(api_version, kind, namespace, name);
        self.inner.store.get(&key).map(|o| (*o).clone())
    }

    /// Every stored object of a kind (all namespaces), in key order.
    pub fn list(&self, api_version: &str, kind: &str) -> Vec<Value> {
        let resource = resource_of(&json!({ "apiVersion": api_version, "kind": kind }))
            .unwrap_or_else(|e| panic!("ApiServer::list: {e}"));
        self.inner
            .store
            .list(resource, None, &|_| true, None, None, None)
            .map(|p| p.items.iter().map(|o| o.value()).collect())
            .unwrap_or_default()
    }

    /// Forget the change history, as etcd's compaction does: a watch or a
    /// `continue` from an older resourceVersion is `410 Gone` from now on
    /// (and a watch still reading it gets the `ERROR` event). Returns the
    /// resourceVersion compacted to.
    pub fn compact(&self) -> u64 {
        self.inner.store.compact()
    }

    /// Cut every open watch connection now, mid-stream (the chunked body is
    /// never finished), as a restarting API server or a load balancer does:
    /// clients must reconnect, from their last resourceVersion. With
    /// [`ApiServer::compact`] first, that reconnect is `410 Gone`.
    pub fn drop_watches(&self) {
        self.inner.watch_cut.send_modify(|n| *n += 1);
    }

    /// Make every verb on `resource` `403 Forbidden` for everyone, the
    /// admin included, on top of what RBAC decides (with the same message,
    /// recorded as a denial). `resource` is the plural, with the group for
    /// non-core groups: `secrets`, `serviceaccounts`,
    /// `leases.coordination.k8s.io`. To test a real RBAC setup instead, use
    /// [`ApiServer::service_account_token`] and RBAC objects.
    pub fn forbid(&self, resource: &str) {
        lock(&self.inner.forbidden).insert(resource.to_string());
    }

    /// Make every watch end at once from now on (`true`): a `200` whose body ends
    /// without an event, as a misconfigured proxy does. `false` restores watches.
    pub fn end_watches_at_once(&self, end: bool) {
        self.inner
            .watches_end_at_once
            .store(end, std::sync::atomic::Ordering::SeqCst);
    }

    /// Undo [`ApiServer::forbid`].
    pub fn allow(&self, resource: &str) {
        lock(&self.inner.forbidden).remove(resource);
    }

    /// From now on, send every Pod create through this mutating webhook
    /// (`None`: none) before the stored configurations' webhooks, as a
    /// `MutatingWebhookConfiguration` for Pod `CREATE` would
    /// (`admission.rs` has the details).
    pub fn set_pod_webhook(&self, webhook: Option<PodWebhook>) {
        *lock(&self.inner.admission.pod_webhook) = webhook;
    }

    /// Where port `port` of the Service `namespace/name` leads: `addr`
    /// (e.g. where `tagwarden serve --webhook-listen` listens). A webhook
    /// whose `clientConfig.service` names it is called there (verified as
    /// `NAME.NAMESPACE.svc`); an unrouted Service refuses connections.
    pub fn route_service(&self, namespace: &str, name: &str, port: u16, addr: SocketAddr) {
        lock(&self.inner.admission.routes)
            .insert((namespace.to_string(), name.to_string(), port), addr);
    }

    /// Every webhook call made so far, in order (see [`WebhookCall`]).
    pub fn webhook_calls(&self) -> Vec<WebhookCall> {
        lock(&self.inner.admission.calls).clone()
    }

    /// Forget the webhook calls recorded so far.
    pub fn clear_webhook_calls(&self) {
        lock(&self.inner.admission.calls).clear();
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<ApiRequest> {
        lock(&self.inner.requests).clone()
    }

    /// Forget the requests recorded so far.
    pub fn clear_requests(&self) {
        lock(&self.inner.requests).clear();
    }
}

/// The `/version` documents answered in turn.
pub(crate) struct VersionAnswers {
    documents: Vec<Value>,
    next: usize,
}

impl VersionAnswers {
    fn new(git_versions: &[&str]) -> VersionAnswers {
        VersionAnswers {
            documents: git_versions.iter().map(|v| version_info(v)).collect(),
            next: 0,
        }
    }

    /// The document for this request.
    pub(crate) fn next(&mut self) -> Value {
        let doc = self.documents[self.next % self.documents.len()].clone();
        self.next += 1;
        doc
    }
}

fn resource_of(object: &Value) -> Result<usize, String> {
    let text = |k: &str| object.get(k).and_then(Value::as_str).unwrap_or_default();
    discovery::find_kind(text("apiVersion"), text("kind")).ok_or_else(|| {
        format!(
            "the test API server does not serve {} {}",
            text("apiVersion"),
            text("kind")
        )
    })
}

fn key_for(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Key {
    let resource = resource_of(&json!({ "apiVersion": api_version, "kind": kind }))
        .unwrap_or_else(|e| panic!("{e}"));
    Key {
        resource,
        namespace: namespace.unwrap_or_default().to_string(),
        name: name.to_string(),
    }
}

/// `/version` for a `gitVersion`: `v1.32.1-eks-5e0fdde` → major `1`,
/// minor `32+` (vendor builds mark the minor with `+`).
fn version_info(git_version: &str) -> Value {
    let core = git_version.trim_start_matches('v');
    let (numbers, suffix) = match core.find(['-', '+']) {
        Some(i) => (&core[..i], &core[i..]),
        None => (core, ""),
    };
    let mut parts = numbers.split('.');
    let major = parts.next().unwrap_or("1").to_string();
    let mut minor = parts.next().unwrap_or("0").to_string();
    if !suffix.is_empty() {
        minor.push('+');
    }
    let commit: String = Sha256::digest(git_version.as_bytes())
        .iter()
        .take(20)
        .map(|b| format!("{b:02x}"))
        .collect();
    json!({
        "major": major,
        "minor": minor,
        "gitVersion": git_version,
        "gitCommit": commit,
        "gitTreeState": "clean",
        "buildDate": "2025-01-23T22:06:44Z",
        "goVersion": "go1.23.4",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn tls_config(pki: &ServerPki) -> Arc<rustls::ServerConfig> {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.server_cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .expect("rcgen writes valid PEM");
    let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes())
        .expect("rcgen writes a valid key");
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("aws-lc-rs supports the default TLS versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("the test server certificate matches its key");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

async fn serve(
    listener: StdTcpListener,
    tls: Arc<rustls::ServerConfig>,
    inner: Arc<Inner>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let listener =
        tokio::net::TcpListener::from_std(listener).expect("registering the API server listener");
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let inner = Arc::clone(&inner);
                tokio::spawn(async move {
                    // A client that gives up on our CA ends here; that is its answer.
                    let Ok(stream) = acceptor.accept(stream).await else { return };
                    let svc = hyper::service::service_fn(move |req| {
                        let inner = Arc::clone(&inner);
                        async move {
                            Ok::<_, std::convert::Infallible>(http::handle(inner, req).await)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_reported_as_vendor_builds_do() {
        let v = version_info("v1.32.1-eks-5e0fdde");
        assert_eq!(
            (v["major"].as_str(), v["minor"].as_str()),
            (Some("1"), Some("32+"))
        );
        let v = version_info("v1.33.0");
        assert_eq!(
            (v["major"].as_str(), v["minor"].as_str()),
            (Some("1"), Some("33"))
        );
        assert_eq!(v["gitCommit"].as_str().map(str::len), Some(40));
    }

    #[test]
    fn handle_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<ApiServer>();
    }
}
