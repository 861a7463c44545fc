//! [`Webhook`]: the context of the admission endpoints and their axum [`Router`], a thin
//! layer over the engine's decision ([`decide_repair`], one task per unique image, as
//! [`tagwarden_registry::decide_repairs`] batches it for `post-render`) and the pure core
//! ([`super::patch`]).
//!
//! Each request: read it (`review`), leave it alone when it is out of scope (`scope`),
//! ask the engine about the Pod's images within the latency budget, turn the decisions into
//! a patch, count the outcome, publish an Event when something was rewritten, answer.
//!
//! The budget: the decision runs in a task of its own. When it is not done in time the Pod
//! is allowed unchanged and `timeout` is counted, but the task runs on: its answer lands in
//! the webhook's own memory ([`super::memory`]: present 10 min, missing 1 min, errors not
//! at all; concurrent requests for the same image wait on one task), so the next Pod with
//! that image is answered warm, without asking the registry again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::events::Recorder;
use prometheus_client::registry::Registry;
use serde_json::Value;
use tagwarden_core::{KubeVersion, Reference};
use tagwarden_registry::{Client, Repair, RepairOptions, Repository, decide_repair};

use super::WebhookOptions;
use super::events;
use super::memory::{Key, Memory};
use super::metrics::{Decision, WebhookMetrics};
use super::patch::{self, ImageSlot, Mutation};
use super::review::{self, Answer, Request, Subject};
use super::scope;
use crate::inventory::SecretRef;
use crate::monitor::RegistryClients;

/// Admission requests larger than this are refused by the HTTP layer (the API server's own
/// limit for an object is about 3 MiB).
const MAX_REVIEW_BYTES: usize = 8 * 1024 * 1024;

/// The admission webhook: the registry client, the options, the metrics and, optionally,
/// an Event recorder. Cheap to clone (clones share everything).
#[derive(Clone)]
pub struct Webhook {
    inner: Arc<Inner>,
}

struct Inner {
    /// Which client asks about a Pod's images, by its pull secrets.
    clients: Arc<dyn RegistryClients>,
    options: WebhookOptions,
    /// What `/validate` asks: the same decision, with every image asked about (`pin`), so
    /// that a missing image is found whether or not it tracks the Kubernetes version.
    /// Swapped when the cluster's version changes ([`Webhook::set_kube_version`]).
    validate_repair: Arc<RwLock<Arc<RepairOptions>>>,
    /// The decision's options (shared with each decision task); swapped likewise.
    repair: Arc<RwLock<Arc<RepairOptions>>>,
    /// Decisions remembered and in flight.
    memory: Arc<Memory>,
    metrics: WebhookMetrics,
    recorder: Option<Recorder>,
    /// Whether a registry may be asked now (its request budget, a 429's pause): the
    /// monitor's [`crate::monitor::RegistryGates`] in `serve`
    /// ([`Webhook::with_registry_gate`]).
    gate: Option<Arc<dyn RegistryGate>>,
}

/// Says whether a registry may be asked now. `serve` gives the webhook the monitor's
/// [`crate::monitor::RegistryGates`], which count every request of the shared client
/// against the user's per-registry budgets and pause a registry after a 429: an admission
/// then does not ask a closed registry either, and its images are undetermined (the Pod is
/// admitted unchanged; nothing is remembered).
pub trait RegistryGate: Send + Sync + 'static {
    /// `None` when `registry` (as users name it: `docker.io`, `127.0.0.1:5000`) may be
    /// asked now; else why not.
    fn closed(&self, registry: &str) -> Option<String>;
}

/// One [`RegistryClients`] shared by the monitor and the webhook (`Arc::new(clients)`,
/// a clone to each), so that both see the same clients and caches.
impl<T: RegistryClients + ?Sized> RegistryClients for Arc<T> {
    fn client_for(&self, pull_secrets: &[SecretRef]) -> Client {
        (**self).client_for(pull_secrets)
    }
}

/// A request the webhook acts on, or the answer already decided.
enum Scoped {
    /// A Pod create in scope: its allow answer (to patch), namespace and Pod.
    Act {
        allow: Answer,
        namespace: String,
        pod: Box<Pod>,
        /// A dry run: answer the same, but publish no Event.
        dry_run: bool,
    },
    /// Out of scope (allowed unchanged) or unreadable (allowed with a warning).
    Done(Answer, Decision),
}

/// Who asks about one Pod's images.
struct Asker {
    client: Client,
    options: Arc<RepairOptions>,
    /// The Pod's pull secrets (part of what a decision is remembered by).
    secrets: Vec<SecretRef>,
    /// For `/validate` (its options differ).
    validate: bool,
}

/// When a request started and how long it may take.
struct Clock {
    started: Instant,
    budget: Duration,
}

/// What became of the engine's decision within the budget.
enum Decided {
    /// One repair per image slot.
    Repairs(Vec<Repair>),
    /// Not ready within the budget.
    Late,
    /// The decision task failed (a panic in it): allowed unchanged.
    Failed(String),
}

impl Webhook {
    /// A webhook asking `client` (share the one `serve` uses: its cache then answers
    /// warm) with `options`.
    pub fn new(client: Client, options: WebhookOptions) -> Webhook {
        Webhook::with_clients(client, options)
    }

    /// A webhook that asks about each Pod's images with the client `clients` gives for
    /// the Pod's `imagePullSecrets` (the ServiceAccount admission plugin has added the
    /// ServiceAccount's by the time webhooks are called), as the monitor does; give it the
    /// same [`RegistryClients`] as the monitor, so their caches are shared.
    pub fn with_clients(clients: impl RegistryClients, options: WebhookOptions) -> Webhook {
        let validate_repair = Arc::new(RwLock::new(Arc::new(RepairOptions {
            pin: true,
            ..options.repair.clone()
        })));
        let repair = Arc::new(RwLock::new(Arc::new(options.repair.clone())));
        let metrics = WebhookMetrics::new();
        Webhook {
            inner: Arc::new(Inner {
                clients: Arc::new(clients),
                options,
                validate_repair,
                repair,
                memory: Arc::new(Memory::default()),
                metrics,
                recorder: None,
                gate: None,
            }),
        }
    }

    /// The same webhook, publishing an `ImageRewritten` Event on each rewritten Pod's
    /// owner through `recorder` (needs `create`/`patch` on `events.k8s.io` events).
    pub fn with_recorder(self, recorder: Recorder) -> Webhook {
        self.changed(|inner| inner.recorder = Some(recorder))
    }

    /// The same webhook, asking no registry that `gate` says is closed (see
    /// [`RegistryGate`]): `serve` passes the monitor's [`crate::monitor::RegistryGates`],
    /// so that the webhook keeps within the per-registry request budgets too.
    pub fn with_registry_gate(self, gate: impl RegistryGate) -> Webhook {
        self.changed(|inner| inner.gate = Some(Arc::new(gate)))
    }

    /// A webhook sharing everything with this one but what `change` changes.
    fn changed(self, change: impl FnOnce(&mut Inner)) -> Webhook {
        let inner = &self.inner;
        let mut next = Inner {
            clients: inner.clients.clone(),
            options: inner.options.clone(),
            validate_repair: inner.validate_repair.clone(),
            repair: inner.repair.clone(),
            memory: inner.memory.clone(),
            metrics: inner.metrics.clone(),
            recorder: inner.recorder.clone(),
            gate: inner.gate.clone(),
        };
        change(&mut next);
        Webhook {
            inner: Arc::new(next),
        }
    }

    /// The options it runs with (as started: see [`Webhook::set_kube_version`]).
    pub fn options(&self) -> &WebhookOptions {
        &self.inner.options
    }

    /// Track `version` from now on (the cluster was upgraded): the decisions' options
    /// change, and the decisions remembered are forgotten. Clones share the change.
    pub fn set_kube_version(&self, version: &KubeVersion) {
        for options in [&self.inner.repair, &self.inner.validate_repair] {
            let mut guard = options.write().expect("webhook options poisoned");
            let mut next = RepairOptions::clone(&guard);
            next.inspect.tracking.kube_version = Some(version.clone());
            *guard = Arc::new(next);
        }
        self.inner.memory.clear();
    }

    fn repair_options(&self, validate: bool) -> Arc<RepairOptions> {
        let options = if validate {
            &self.inner.validate_repair
        } else {
            &self.inner.repair
        };
        options.read().expect("webhook options poisoned").clone()
    }

    /// Adds `tagwarden_webhook_decisions_total` and `tagwarden_webhook_duration_seconds`
    /// to `registry` (once per registry): `serve` adds them to the monitor's, so that one
    /// registry is encoded for `/metrics` ([`crate::monitor::Metrics::register`]).
    pub fn register_metrics(&self, registry: &mut Registry) {
        self.inner.metrics.register(registry);
    }

    /// `POST /mutate`, and `POST /validate` when [`WebhookOptions::validate`] is on. Merge
    /// it into the HTTPS server's router ([`super::serve_https`]).
    pub fn router(&self) -> Router {
        let mut router = Router::new().route("/mutate", post(mutate_endpoint));
        if self.inner.options.validate {
            router = router.route("/validate", post(validate_endpoint));
        }
        router
            .layer(DefaultBodyLimit::max(MAX_REVIEW_BYTES))
            .with_state(self.clone())
    }

    /// The answer of `/mutate` to one `AdmissionReview` body (the HTTP layer only moves
    /// bytes): a JSONPatch for the images to replace, or the Pod unchanged.
    pub async fn mutate(&self, body: &[u8]) -> Value {
        self.mutate_within(body, None).await
    }

    /// [`Webhook::mutate`], answering within three quarters of `api_timeout` when that is
    /// less than the budget: the API server's own `?timeout=` for this call (its
    /// `timeoutSeconds`), so that a configuration with a shorter timeout than the budget
    /// still gets an answer instead of a failed call.
    pub async fn mutate_within(&self, body: &[u8], api_timeout: Option<Duration>) -> Value {
        self.mutate_answer(body, api_timeout).await.to_review()
    }

    /// The answer of `/mutate`, counted in the metrics.
    async fn mutate_answer(&self, body: &[u8], api_timeout: Option<Duration>) -> Answer {
        let clock = self.clock(api_timeout);
        let (answer, decision) = self.mutation_answer(body, &clock).await;
        self.inner
            .metrics
            .record(decision, clock.started.elapsed().as_secs_f64());
        answer
    }

    /// The answer of `/validate` to one `AdmissionReview` body: denied when an image is
    /// missing with nothing to stand in for it, else allowed.
    pub async fn validate(&self, body: &[u8]) -> Value {
        self.validate_within(body, None).await
    }

    /// [`Webhook::validate`] within the API server's timeout, as [`Webhook::mutate_within`].
    pub async fn validate_within(&self, body: &[u8], api_timeout: Option<Duration>) -> Value {
        self.validate_answer(body, api_timeout).await.to_review()
    }

    /// The answer of `/validate`, counted in the metrics.
    async fn validate_answer(&self, body: &[u8], api_timeout: Option<Duration>) -> Answer {
        let clock = self.clock(api_timeout);
        let (answer, decision) = self.validation_answer(body, &clock).await;
        self.inner
            .metrics
            .record(decision, clock.started.elapsed().as_secs_f64());
        answer
    }

    /// Starts the clock of one request.
    fn clock(&self, api_timeout: Option<Duration>) -> Clock {
        let budget = self.inner.options.budget;
        Clock {
            started: Instant::now(),
            budget: api_timeout.map_or(budget, |t| budget.min(t * 3 / 4)),
        }
    }

    async fn mutation_answer(&self, body: &[u8], clock: &Clock) -> (Answer, Decision) {
        let (allow, namespace, pod, dry_run) = match self.in_scope(body) {
            Scoped::Act {
                allow,
                namespace,
                pod,
                dry_run,
            } => (allow, namespace, pod, dry_run),
            Scoped::Done(answer, decision) => return (answer, decision),
        };
        let slots = patch::image_slots(&pod);
        let asker = self.asker_for(&pod, &namespace, false);
        let repairs = match self.decide(&asker, &slots, clock).await {
            Decided::Repairs(repairs) => repairs,
            Decided::Late => return (allow.warn(late_warning(clock)), Decision::Timeout),
            Decided::Failed(why) => return (allow.warn(failed_warning(&why)), Decision::Error),
        };
        let mutation = patch::mutation(&pod, &slots, &repairs);
        log_rewrites(&namespace, &mutation);
        if !mutation.rewrites.is_empty()
            && !dry_run
            && let Some(recorder) = &self.inner.recorder
            && let Some(regarding) = events::regarding(&pod, &namespace)
        {
            events::publish(recorder, regarding, &mutation.rewrites);
        }
        let decision = if !mutation.rewrites.is_empty() {
            Decision::Rewritten
        } else if mutation.undetermined > 0 {
            Decision::Undetermined
        } else {
            Decision::Unchanged
        };
        let answer = allow.warn_all(mutation.warnings).patched(mutation.patch);
        (answer, decision)
    }

    async fn validation_answer(&self, body: &[u8], clock: &Clock) -> (Answer, Decision) {
        let (allow, namespace, pod) = match self.in_scope(body) {
            Scoped::Act {
                allow,
                namespace,
                pod,
                ..
            } => (allow, namespace, pod),
            Scoped::Done(answer, decision) => return (answer, decision),
        };
        let slots = patch::image_slots(&pod);
        let asker = self.asker_for(&pod, &namespace, true);
        let repairs = match self.decide(&asker, &slots, clock).await {
            Decided::Repairs(repairs) => repairs,
            Decided::Late => return (allow.warn(late_warning(clock)), Decision::Timeout),
            Decided::Failed(why) => return (allow.warn(failed_warning(&why)), Decision::Error),
        };
        let mutation = patch::mutation(&pod, &slots, &repairs);
        if !mutation.missing.is_empty() {
            let message = mutation
                .missing
                .iter()
                .map(|m| {
                    format!(
                        "container {}: {} is missing and nothing may stand in for it: {}",
                        m.container, m.image, m.why
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            return (
                allow.deny(format!("tagwarden: {message}")),
                Decision::Denied,
            );
        }
        let decision = match mutation.undetermined {
            0 => Decision::Unchanged,
            _ => Decision::Undetermined,
        };
        (allow, decision)
    }

    /// Reads the request and says whether the webhook acts on it.
    fn in_scope(&self, body: &[u8]) -> Scoped {
        let Request {
            uid,
            api_version,
            dry_run,
            subject,
        } = match review::parse(body) {
            Ok(request) => request,
            Err(malformed) => {
                tracing::warn!(uid = %malformed.uid, why = %malformed.why, "unreadable admission request: allowed unchanged");
                return Scoped::Done(Answer::malformed(&malformed), Decision::Error);
            }
        };
        let allow = Answer::allow(&uid, &api_version);
        match subject {
            Subject::Other(what) => {
                tracing::debug!(%uid, %what, "not a Pod create: allowed unchanged");
                Scoped::Done(allow, Decision::Unchanged)
            }
            Subject::PodCreate { namespace, pod } => {
                match scope::why_skipped(&namespace, &pod, &self.inner.options.excluded_namespaces)
                {
                    Some(why) => {
                        tracing::debug!(%uid, %why, "out of scope: allowed unchanged");
                        Scoped::Done(allow, Decision::Unchanged)
                    }
                    None => Scoped::Act {
                        allow,
                        namespace,
                        pod,
                        dry_run,
                    },
                }
            }
        }
    }

    /// Who asks about `pod`'s images, and with what: the client for its pull secrets (in
    /// its namespace), and the options of `/validate` or `/mutate`.
    fn asker_for(&self, pod: &Pod, namespace: &str, validate: bool) -> Asker {
        let namespace = match namespace {
            "" => pod.metadata.namespace.as_deref().unwrap_or_default(),
            ns => ns,
        };
        let secrets: Vec<SecretRef> = pod
            .spec
            .iter()
            .flat_map(|spec| spec.image_pull_secrets.iter().flatten())
            .filter(|secret| !secret.name.is_empty())
            .map(|secret| SecretRef {
                namespace: namespace.to_string(),
                name: secret.name.clone(),
            })
            .collect();
        Asker {
            client: self.inner.clients.client_for(&secrets),
            options: self.repair_options(validate),
            secrets,
            validate,
        }
    }

    /// One decision per slot, within what is left of the budget. Fields that are no image
    /// reference are kept (the API server rejects them; not ours to repair).
    async fn decide(&self, asker: &Asker, slots: &[ImageSlot], clock: &Clock) -> Decided {
        let (client, options) = (&asker.client, &asker.options);
        let parsed: Vec<Option<Reference>> = slots
            .iter()
            .map(|slot| Reference::parse(&slot.image).ok())
            .collect();
        // The images to ask about, each once (the others are kept without a question).
        let mut seen = HashSet::new();
        let asked: Vec<&Reference> = parsed
            .iter()
            .flatten()
            .filter(|r| options.asks_about(r) && seen.insert(r.original()))
            .collect();
        if asked.is_empty() {
            return Decided::Repairs(vec![Repair::Keep; slots.len()]);
        }
        let keys: Vec<Key> = asked
            .iter()
            .map(|r| {
                (
                    asker.validate,
                    asker.secrets.clone(),
                    r.original().to_string(),
                )
            })
            .collect();
        // Warm: every answer remembered, nothing to wait for.
        if let Some(answers) = self.inner.memory.remembered(&keys) {
            return Decided::Repairs(by_slot(&parsed, &asked, answers));
        }
        // `decide_repairs`, one task per unique image: each task outlives a late answer
        // and leaves its result in the webhook's memory, where the next request finds it.
        let repositories: Vec<Repository> = asked.iter().map(|r| Repository::of(r)).collect();
        client.announce(&repositories);
        let tasks = asked.iter().zip(keys).map(|(reference, key)| {
            if let Some(why) = self.closed(reference) {
                return self
                    .inner
                    .memory
                    .remembered_or(key, Repair::Undetermined { why });
            }
            let (client, options) = (client.clone(), options.clone());
            let reference = Reference::clone(reference);
            self.inner.memory.decision(key, move || {
                tokio::spawn(async move { decide_repair(&client, &reference, &options).await })
            })
        });
        let task = futures::future::join_all(tasks.collect::<Vec<_>>());
        let left = clock.budget.saturating_sub(clock.started.elapsed());
        match tokio::time::timeout(left, task).await {
            Err(_) => Decided::Late,
            Ok(answers) => match answers.into_iter().collect::<Result<Vec<Repair>, String>>() {
                Ok(answers) => Decided::Repairs(by_slot(&parsed, &asked, answers)),
                Err(e) => Decided::Failed(e),
            },
        }
    }
}

impl Webhook {
    /// Why `reference`'s registry may not be asked now, if it may not.
    fn closed(&self, reference: &Reference) -> Option<String> {
        let gate = self.inner.gate.as_ref()?;
        let why = gate.closed(reference.registry())?;
        tracing::debug!(image = reference.original(), %why, "webhook: registry closed, not asked");
        Some(format!("not asked: {why}"))
    }
}

/// One repair per slot, from the answers about `asked` (in its order): a slot whose image
/// was not asked about (untracked, or no reference at all) is kept.
fn by_slot(
    parsed: &[Option<Reference>],
    asked: &[&Reference],
    answers: Vec<Repair>,
) -> Vec<Repair> {
    let by_image: HashMap<&str, Repair> = asked.iter().map(|r| r.original()).zip(answers).collect();
    parsed
        .iter()
        .map(|p| match p {
            Some(r) => by_image.get(r.original()).cloned().unwrap_or(Repair::Keep),
            None => Repair::Keep,
        })
        .collect()
}

fn late_warning(clock: &Clock) -> String {
    format!(
        "tagwarden: the registries did not answer within {}; the Pod was admitted unchanged",
        seconds(clock.budget)
    )
}

fn failed_warning(why: &str) -> String {
    format!("tagwarden: the decision failed ({why}); the Pod was admitted unchanged")
}

/// `2s`, `1.5s`, `250ms`.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else if d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

fn log_rewrites(namespace: &str, mutation: &Mutation) {
    for r in &mutation.rewrites {
        tracing::info!(
            namespace,
            container = %r.container,
            original = %r.original,
            replacement = %r.replacement,
            why = %r.why,
            "rewrote an image at admission"
        );
    }
}

async fn mutate_endpoint(
    State(webhook): State<Webhook>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let timeout = query.as_deref().and_then(api_server_timeout);
    json_response(webhook.mutate_answer(&body, timeout).await)
}

async fn validate_endpoint(
    State(webhook): State<Webhook>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let timeout = query.as_deref().and_then(api_server_timeout);
    json_response(webhook.validate_answer(&body, timeout).await)
}

/// The answer as `application/json`, written straight from it (no JSON value first).
fn json_response(answer: Answer) -> Response {
    let json = HeaderValue::from_static("application/json");
    ([(header::CONTENT_TYPE, json)], answer.to_json()).into_response()
}

/// The `timeout` the API server appends to a webhook's URL (`?timeout=10s`, a Go
/// duration in seconds or milliseconds), if any.
fn api_server_timeout(query: &str) -> Option<Duration> {
    let value = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("timeout="))?;
    let (number, scale) = match value.strip_suffix("ms") {
        Some(ms) => (ms, 0.001),
        None => (value.strip_suffix('s')?, 1.0),
    };
    let seconds = number.parse::<f64>().ok()? * scale;
    (seconds.is_finite() && seconds > 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_server_timeout_is_read_from_the_query() {
        assert_eq!(
            api_server_timeout("timeout=10s"),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            api_server_timeout("a=b&timeout=1500ms"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            api_server_timeout("timeout=2.5s"),
            Some(Duration::from_millis(2500))
        );
        for bad in [
            "",
            "timeout=",
            "timeout=10",
            "timeout=-1s",
            "timeout=1m",
            "timeout=NaNs",
        ] {
            assert_eq!(api_server_timeout(bad), None, "{bad}");
        }
    }
}
