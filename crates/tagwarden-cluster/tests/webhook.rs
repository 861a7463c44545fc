//! The admission webhook end to end, with real parts only: `AdmissionReview` v1 over HTTPS
//! from the webhook's own TLS server, Pods as controllers create them, the real test
//! registry (Debian's docker-registry through tagwarden-testbed), the fault proxy for a
//! slow registry, certificate files rotated on disk, and the test API server calling the
//! webhook for `kubectl create`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use k8s_openapi::api::core::v1::Pod;
use prometheus_client::registry::Registry as Metrics;
use serde_json::{Value, json};
use tagwarden_cluster::SecretRef;
use tagwarden_cluster::monitor::{
    Budget, Metrics as MonitorMetrics, Monitor, MonitorOptions, RegistryClients, RegistryGates,
    prepare_client_options,
};
use tagwarden_cluster::webhook::{
    CertificateFiles, HttpsEndpoint, ORIGINAL_IMAGES_ANNOTATION, Webhook, WebhookOptions,
    serve_https,
};
use tagwarden_core::{KubeVersion, Tracking};
use tagwarden_registry::{Client, ClientOptions, CredentialStore, InspectOptions, RepairOptions};
use tagwarden_testbed::{
    ApiServer, Fault, FaultProxy, PodWebhook, Registry, RegistryMode, Rule, Seeded, Warnings,
    dead_addr, seed_standard,
};
use tokio::sync::oneshot;

// ---------------------------------------------------------------------------------------
// Test material: certificates, the webhook's HTTPS server, reviews.
// ---------------------------------------------------------------------------------------

/// A CA and a server certificate it signed for 127.0.0.1 and localhost, as PEM.
struct Pki {
    ca: String,
    cert: String,
    key: String,
}

impl Pki {
    fn generate(name: &str) -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut server = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        server
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        server.distinguished_name.push(DnType::CommonName, name);
        let cert = server.signed_by(&key, &issuer).unwrap();
        Pki {
            ca: ca_cert.pem(),
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// Writes the pair as cert-manager would (a new file renamed over the old one).
    fn write_to(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
        for (path, text) in [(&cert, &self.cert), (&key, &self.key)] {
            let next = path.with_extension("next");
            std::fs::write(&next, text).unwrap();
            std::fs::rename(&next, path).unwrap();
        }
        (cert, key)
    }
}

/// The webhook served over HTTPS on loopback, and its metrics.
struct Served {
    url: String,
    ca: String,
    metrics: Metrics,
    webhook: Webhook,
    _dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

impl Served {
    async fn start(webhook: Webhook) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::generate("webhook");
        let (cert, key) = pki.write_to(dir.path());
        let mut metrics = Metrics::default();
        webhook.register_metrics(&mut metrics);
        let endpoint = HttpsEndpoint {
            listen: "127.0.0.1:0".parse().unwrap(),
            cert,
            key,
        };
        let bound = webhook.bind(&endpoint).await.unwrap();
        let url = format!("https://{}", bound.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(bound.run(async move {
            let _ = stopped.await;
        }));
        Served {
            url,
            ca: pki.ca,
            metrics,
            webhook,
            _dir: dir,
            _stop: stop,
        }
    }

    /// POSTs `review` to `path` and returns the `AdmissionReview` answer.
    async fn call(&self, path: &str, review: &Value) -> Value {
        let resp = https_client(&self.ca)
            .post(format!("{}{path}", self.url))
            .json(review)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        resp.json().await.unwrap()
    }

    /// The value of `tagwarden_webhook_decisions_total{decision}`.
    fn decisions(&self, decision: &str) -> u64 {
        let text = self.metrics_text();
        let prefix = format!("tagwarden_webhook_decisions_total{{decision=\"{decision}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
            .trim()
            .parse()
            .unwrap()
    }

    fn metrics_text(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.metrics).unwrap();
        text
    }
}

/// A client that trusts only `ca_pem`, with no connection reuse across calls.
fn https_client(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

fn registry_client() -> Client {
    Client::new(
        ClientOptions::builder()
            .max_attempts(1)
            .request_timeout(Duration::from_secs(10))
            .build(),
    )
    .unwrap()
}

/// The client `serve` gives the webhook: the monitor's, which keeps no answers in memory.
fn monitor_client() -> Client {
    let mut options = ClientOptions::builder()
        .max_attempts(1)
        .request_timeout(Duration::from_secs(10))
        .build();
    prepare_client_options(&mut options, &RegistryGates::default(), None);
    Client::new(options).unwrap()
}

/// Tracking at Kubernetes 1.32, as `serve` would set it from the cluster's `/version`.
fn options(pin: bool) -> WebhookOptions {
    let repair = RepairOptions {
        inspect: InspectOptions {
            tracking: Tracking {
                kube_version: Some(KubeVersion::parse("v1.32.4").unwrap()),
                rules: Vec::new(),
            },
            ..InspectOptions::default()
        },
        pin,
    };
    WebhookOptions::new(repair, Some("tagwarden"))
}

/// The Pod the Job controller creates for Capsule's CRD hook Job: `generateName`, an owner
/// reference to the Job, `clastix/kubectl:v1.32` from `registry`.
fn hook_pod(registry: &str, namespace: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "generateName": "capsule-crds-",
            "namespace": namespace,
            "labels": { "job-name": "capsule-crds", "batch.kubernetes.io/job-name": "capsule-crds" },
            "annotations": { "helm.sh/hook": "post-install,post-upgrade" },
            "ownerReferences": [{
                "apiVersion": "batch/v1", "kind": "Job", "name": "capsule-crds",
                "uid": "0b0c6a53-3c33-4f38-9b3a-2f3d8c7c9e11",
                "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": {
            "restartPolicy": "Never",
            "serviceAccountName": "capsule",
            "containers": [{
                "name": "crds-hook",
                "image": format!("{registry}/clastix/kubectl:v1.32"),
                "command": ["sh", "-c", "kubectl apply -f /crds"],
            }],
        },
    })
}

/// An `AdmissionReview` v1 as the API server sends it for the creation of `pod`.
fn review(pod: &Value, uid: &str) -> Value {
    let gvk = json!({ "group": "", "version": "v1", "kind": "Pod" });
    let gvr = json!({ "group": "", "version": "v1", "resource": "pods" });
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
            "name": pod["metadata"]["name"].as_str().unwrap_or(""),
            "namespace": pod["metadata"]["namespace"],
            "operation": "CREATE",
            "userInfo": {
                "username": "system:serviceaccount:kube-system:job-controller",
                "groups": ["system:serviceaccounts", "system:authenticated"],
            },
            "object": pod,
            "oldObject": null,
            "dryRun": false,
            "options": { "kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1" },
        },
    })
}

/// The answer's patch applied to `pod` with the `json-patch` crate, read as a `Pod`.
fn patched(pod: &Value, answer: &Value) -> Pod {
    let response = &answer["response"];
    assert_eq!(response["patchType"], "JSONPatch", "{answer}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(response["patch"].as_str().expect("a base64 patch"))
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
    let mut doc = pod.clone();
    json_patch::patch(&mut doc, &patch).unwrap();
    serde_json::from_value(doc).unwrap()
}

fn image_of(pod: &Pod) -> &str {
    pod.spec.as_ref().unwrap().containers[0]
        .image
        .as_deref()
        .unwrap()
}

fn warnings(answer: &Value) -> Vec<String> {
    answer["response"]["warnings"]
        .as_array()
        .map(|w| w.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// Allowed, for `uid`, with no patch.
fn assert_unchanged(answer: &Value, uid: &str) {
    let response = &answer["response"];
    assert_eq!(response["uid"], uid, "{answer}");
    assert_eq!(response["allowed"], true, "{answer}");
    assert!(response.get("patch").is_none(), "{answer}");
    assert!(response.get("patchType").is_none(), "{answer}");
}

fn seeded_registry() -> (Registry, Seeded) {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    (registry, seeded)
}

// ---------------------------------------------------------------------------------------
// /mutate
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capsule_hook_pod_gets_the_nearest_published_kubectl() {
    let (registry, _seeded) = seeded_registry();
    let served = Served::start(Webhook::new(registry_client(), options(false))).await;
    let pod = hook_pod(registry.addr(), "capsule-system");

    let answer = served.call("/mutate", &review(&pod, "uid-1")).await;
    assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(answer["kind"], "AdmissionReview");
    assert_eq!(answer["response"]["uid"], "uid-1");
    assert_eq!(answer["response"]["allowed"], true);
    let after = patched(&pod, &answer);
    let wanted = format!("{}/clastix/kubectl:v1.32", registry.addr());
    let repaired = format!("{}/clastix/kubectl:v1.31", registry.addr());
    assert_eq!(image_of(&after), repaired);
    let annotations = after.metadata.annotations.as_ref().unwrap();
    let originals: Value = serde_json::from_str(&annotations[ORIGINAL_IMAGES_ANNOTATION]).unwrap();
    assert_eq!(originals, json!({ "crds-hook": wanted }));
    // The other annotation and everything else are as they were.
    assert_eq!(annotations["helm.sh/hook"], "post-install,post-upgrade");
    assert_eq!(
        after.metadata.generate_name.as_deref(),
        Some("capsule-crds-")
    );
    assert_eq!(
        after.metadata.owner_references.as_ref().unwrap()[0].kind,
        "Job"
    );
    let said = warnings(&answer);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].starts_with(&format!(
            "tagwarden: container crds-hook: {wanted} -> {repaired}: "
        )) && said[0].contains("v1.32"),
        "{said:?}"
    );
    assert_eq!(served.decisions("rewritten"), 1);
    assert!(
        served
            .metrics_text()
            .contains("tagwarden_webhook_duration_seconds_count 1"),
        "{}",
        served.metrics_text()
    );
    // Called again (reinvocationPolicy: IfNeeded) with the repaired Pod: nothing more to do,
    // and the annotation stays as it is.
    let again = serde_json::to_value(&after).unwrap();
    assert_unchanged(
        &served.call("/mutate", &review(&again, "uid-2")).await,
        "uid-2",
    );

    // On serve's /metrics: in the monitor's one registry, encoded once, in either format.
    let monitor = tagwarden_cluster::monitor::Metrics::new();
    monitor.register(|registry| served.webhook.register_metrics(registry));
    let openmetrics = monitor.encode_openmetrics();
    assert!(
        openmetrics.contains("tagwarden_is_leader 0")
            && openmetrics.contains("tagwarden_webhook_decisions_total{decision=\"rewritten\"} 1")
            && openmetrics.ends_with("# EOF\n")
            && openmetrics.matches("# EOF").count() == 1,
        "{openmetrics}"
    );
    let text = monitor.encode();
    assert!(
        text.contains("tagwarden_is_leader 0")
            && text.contains("tagwarden_webhook_decisions_total{decision=\"rewritten\"} 1")
            && !text.contains("# EOF"),
        "{text}"
    );
    tagwarden_testbed::promtool::check_metrics(&text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_pin_the_replacement_and_every_other_image_are_pinned_by_digest() {
    let (registry, seeded) = seeded_registry();
    let served = Served::start(Webhook::new(registry_client(), options(true))).await;
    let mut pod = hook_pod(registry.addr(), "team-a");
    let present = format!("{}/clastix/kubectl:v1.30", registry.addr());
    pod["spec"]["initContainers"] = json!([{ "name": "wait", "image": present }]);

    let answer = served.call("/mutate", &review(&pod, "uid-pin")).await;
    let after = patched(&pod, &answer);
    let v131 = seeded.digest("clastix/kubectl", "v1.31");
    let v130 = seeded.digest("clastix/kubectl", "v1.30");
    assert_eq!(
        image_of(&after),
        format!("{}/clastix/kubectl:v1.31@{v131}", registry.addr())
    );
    let init = &after
        .spec
        .as_ref()
        .unwrap()
        .init_containers
        .as_ref()
        .unwrap()[0];
    assert_eq!(
        init.image.as_deref(),
        Some(format!("{present}@{v130}").as_str())
    );
    let originals: Value = serde_json::from_str(
        &after.metadata.annotations.as_ref().unwrap()[ORIGINAL_IMAGES_ANNOTATION],
    )
    .unwrap();
    assert_eq!(originals["wait"], present);
    assert_eq!(warnings(&answer).len(), 2, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn present_undetermined_opted_out_and_excluded_pods_are_left_alone() {
    let (registry, _seeded) = seeded_registry();
    let served = Served::start(Webhook::new(registry_client(), options(false))).await;
    let hook = hook_pod(registry.addr(), "team-a");

    // Present: v1.31 exists.
    let mut present = hook.clone();
    present["spec"]["containers"][0]["image"] =
        json!(format!("{}/clastix/kubectl:v1.31", registry.addr()));
    assert_unchanged(&served.call("/mutate", &review(&present, "p")).await, "p");
    assert_eq!(served.decisions("unchanged"), 1);

    // Undetermined: the registry is down. Never a rewrite.
    let down = hook_pod(&dead_addr(), "team-a");
    let answer = served.call("/mutate", &review(&down, "u")).await;
    assert_unchanged(&answer, "u");
    assert_eq!(served.decisions("undetermined"), 1);

    // Opted out per Pod.
    let mut opted_out = hook.clone();
    opted_out["metadata"]["annotations"]["tagwarden.io/mutate"] = json!("false");
    assert_unchanged(&served.call("/mutate", &review(&opted_out, "o")).await, "o");

    // kube-system and tagwarden's own namespace, by default.
    for namespace in ["kube-system", "tagwarden"] {
        let excluded = hook_pod(registry.addr(), namespace);
        assert_unchanged(
            &served.call("/mutate", &review(&excluded, namespace)).await,
            namespace,
        );
    }

    // Not a Pod create: an UPDATE goes through untouched.
    let mut update = review(&hook, "upd");
    update["request"]["operation"] = json!("UPDATE");
    update["request"]["oldObject"] = hook.clone();
    assert_unchanged(&served.call("/mutate", &update).await, "upd");
    assert_eq!(served.decisions("unchanged"), 5);
    assert_eq!(served.decisions("rewritten"), 0);

    // The same hook Pod elsewhere is rewritten: the cases above were left alone for their
    // own reasons.
    let answer = served.call("/mutate", &review(&hook, "h")).await;
    assert!(image_of(&patched(&hook, &answer)).ends_with("/clastix/kubectl:v1.31"));
}

/// Clients as `serve` hands them out by pull secrets: the credentials of the Secret
/// `regcred`, else none. Records what it was asked for.
struct BySecret {
    with_regcred: Client,
    anonymous: Client,
    asked: std::sync::Mutex<Vec<Vec<SecretRef>>>,
}

impl RegistryClients for BySecret {
    fn client_for(&self, pull_secrets: &[SecretRef]) -> Client {
        self.asked.lock().unwrap().push(pull_secrets.to_vec());
        if pull_secrets.iter().any(|s| s.name == "regcred") {
            self.with_regcred.clone()
        } else {
            self.anonymous.clone()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_registry_is_asked_with_the_pods_pull_secret() {
    let registry = Registry::start_with(RegistryMode::Htpasswd);
    seed_standard(&registry);
    let (user, password) = registry.credentials();
    let ca = registry.ca_cert_path().unwrap().to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let auths = json!({ "auths": { registry.addr(): { "username": user, "password": password } } });
    std::fs::write(&config, auths.to_string()).unwrap();
    let client = |credentials: CredentialStore| {
        Client::new(
            ClientOptions::builder()
                .credentials(credentials)
                .ca_files(vec![ca.clone()])
                .max_attempts(1)
                .build(),
        )
        .unwrap()
    };
    let clients = Arc::new(BySecret {
        with_regcred: client(CredentialStore::from_file(&config).unwrap()),
        anonymous: client(CredentialStore::anonymous()),
        asked: Default::default(),
    });
    let served = Served::start(Webhook::with_clients(clients.clone(), options(false))).await;

    // Without the secret: 401, undetermined, unchanged.
    let pod = hook_pod(registry.addr(), "team-a");
    assert_unchanged(&served.call("/mutate", &review(&pod, "anon")).await, "anon");
    assert_eq!(served.decisions("undetermined"), 1);

    // With it (as the ServiceAccount admission plugin adds it): repaired.
    let mut with_secret = pod.clone();
    with_secret["spec"]["imagePullSecrets"] = json!([{ "name": "regcred" }]);
    let answer = served.call("/mutate", &review(&with_secret, "auth")).await;
    assert!(image_of(&patched(&with_secret, &answer)).ends_with("/clastix/kubectl:v1.31"));
    let asked = clients.asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        vec![
            vec![],
            vec![SecretRef {
                namespace: "team-a".into(),
                name: "regcred".into()
            }]
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_review_is_allowed_with_a_warning_never_refused() {
    let (registry, _seeded) = seeded_registry();
    let served = Served::start(Webhook::new(registry_client(), options(false))).await;
    let mut broken = review(&hook_pod(registry.addr(), "team-a"), "bad-1");
    broken["request"]["object"]["spec"] = json!("not a spec");
    let answer = served.call("/mutate", &broken).await;
    assert_unchanged(&answer, "bad-1");
    assert!(
        warnings(&answer)[0].contains("could not be read"),
        "{answer}"
    );

    // Not JSON at all: still an AdmissionReview answer, allowed; over HTTP/2 (ALPN) and
    // over HTTP/1.1, whichever the API server speaks.
    let resp = https_client(&served.ca)
        .post(format!("{}/mutate", served.url))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (resp.status(), resp.version()),
        (reqwest::StatusCode::OK, reqwest::Version::HTTP_2)
    );
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["response"]["allowed"], true);
    let http1 = reqwest::Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(served.ca.as_bytes()).unwrap())
        .http1_only()
        .build()
        .unwrap();
    let resp = http1
        .post(format!("{}/mutate", served.url))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["response"]["allowed"],
        true
    );
    assert_eq!(served.decisions("error"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_registry_gets_the_pod_admitted_unchanged_within_the_budget() {
    let (registry, _seeded) = seeded_registry();
    let proxy = FaultProxy::in_front_of(&registry);
    let latency = Duration::from_secs(2);
    proxy.set_latency(latency);
    let mut options = options(false);
    options.budget = Duration::from_millis(300);
    // serve's client: its own memory is off, so only the webhook's memory can be warm.
    let served = Served::start(Webhook::new(monitor_client(), options)).await;
    let pod = hook_pod(&proxy.addr(), "team-a");

    let started = Instant::now();
    let answer = served.call("/mutate", &review(&pod, "slow")).await;
    let took = started.elapsed();
    assert_unchanged(&answer, "slow");
    assert!(
        took < latency,
        "answered after {took:?}: the registry's first answer takes {latency:?}"
    );
    assert!(warnings(&answer)[0].contains("within 300ms"), "{answer}");
    assert_eq!(served.decisions("timeout"), 1);

    // The late decision went on and filled the webhook's memory: a later Pod with the
    // same image gets its answer in time, from memory.
    let deadline = Instant::now() + Duration::from_secs(60);
    let answer = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let answer = served.call("/mutate", &review(&pod, "again")).await;
        if answer["response"].get("patch").is_some() {
            break answer;
        }
        assert!(Instant::now() < deadline, "never answered warm: {answer}");
    };
    assert!(image_of(&patched(&pod, &answer)).ends_with("/clastix/kubectl:v1.31"));
    assert_eq!(served.decisions("rewritten"), 1);
    // And the next one asks the registry nothing at all.
    let asked = proxy.requests().len();
    let answer = served.call("/mutate", &review(&pod, "warm")).await;
    assert!(image_of(&patched(&pod, &answer)).ends_with("/clastix/kubectl:v1.31"));
    assert_eq!(proxy.requests().len(), asked, "{:?}", proxy.request_lines());
}

/// Registry requests of one admission of `pod`, from cold, through a fresh webhook.
async fn requests_of_one_resolution(proxy: &FaultProxy, pod: &Value) -> usize {
    proxy.clear_requests();
    let served = Served::start(Webhook::new(monitor_client(), options(false))).await;
    let answer = served.call("/mutate", &review(pod, "one")).await;
    assert!(image_of(&patched(pod, &answer)).ends_with("/clastix/kubectl:v1.31"));
    let asked = proxy.requests().len();
    proxy.clear_requests();
    asked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_admissions_of_one_missing_image_cost_one_resolution() {
    let (registry, _seeded) = seeded_registry();
    let proxy = FaultProxy::in_front_of(&registry);
    let pod = hook_pod(&proxy.addr(), "team-a");
    let one = requests_of_one_resolution(&proxy, &pod).await;
    assert!(one > 0);

    // serve's webhook: the monitor's client, which keeps nothing in memory.
    let served = Served::start(Webhook::new(monitor_client(), options(false))).await;
    let reviews: Vec<Value> = (0..200)
        .map(|i| review(&pod, &format!("burst-{i}")))
        .collect();
    let answers =
        futures::future::join_all(reviews.iter().map(|r| served.call("/mutate", r))).await;
    // Each is allowed (rewritten, or unchanged when the budget ran out under the load).
    assert!(answers.iter().all(|a| a["response"]["allowed"] == true));
    // And after the burst, from memory.
    for i in 0..20 {
        let answer = served
            .call("/mutate", &review(&pod, &format!("after-{i}")))
            .await;
        assert!(image_of(&patched(&pod, &answer)).ends_with("/clastix/kubectl:v1.31"));
    }
    let asked = proxy.requests().len();
    assert!(
        asked <= one,
        "220 admissions asked {asked} times, one resolution asks {one}: {:?}",
        proxy.request_lines()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_admissions_of_one_uncached_image_share_one_lookup() {
    let (registry, _seeded) = seeded_registry();
    let proxy = FaultProxy::in_front_of(&registry);
    let pod = hook_pod(&proxy.addr(), "team-a");
    let one = requests_of_one_resolution(&proxy, &pod).await;
    assert!(one > 0);
    // Slow enough that all of them are in flight at once.
    proxy.set_latency(Duration::from_millis(100));
    let served = Served::start(Webhook::new(monitor_client(), options(false))).await;
    let reviews: Vec<Value> = (0..50).map(|i| review(&pod, &format!("c-{i}"))).collect();
    let answers =
        futures::future::join_all(reviews.iter().map(|r| served.call("/mutate", r))).await;
    for answer in &answers {
        assert!(image_of(&patched(&pod, answer)).ends_with("/clastix/kubectl:v1.31"));
    }
    assert_eq!(proxy.requests().len(), one, "{:?}", proxy.request_lines());
    assert_eq!(served.decisions("rewritten"), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecided_answer_is_not_remembered_and_the_next_admission_asks_again() {
    let (registry, _seeded) = seeded_registry();
    let proxy = FaultProxy::in_front_of(&registry);
    let broken = proxy.add_rule(
        Rule::new(Fault::status(503))
            .path_contains("/manifests/v1.32")
            .times(1),
    );
    let served = Served::start(Webhook::new(monitor_client(), options(false))).await;
    let pod = hook_pod(&proxy.addr(), "team-a");

    let answer = served.call("/mutate", &review(&pod, "first")).await;
    assert_unchanged(&answer, "first");
    assert_eq!(proxy.hits(broken), 1);
    assert_eq!(served.decisions("undetermined"), 1);

    // "Could not decide" was not kept as an answer (nor as "missing"): asked again.
    let asked = proxy.requests().len();
    let answer = served.call("/mutate", &review(&pod, "second")).await;
    assert!(image_of(&patched(&pod, &answer)).ends_with("/clastix/kubectl:v1.31"));
    assert!(
        proxy.requests().len() > asked,
        "{:?}",
        proxy.request_lines()
    );
    // And that answer is kept: the third asks nothing.
    let asked = proxy.requests().len();
    let answer = served.call("/mutate", &review(&pod, "third")).await;
    assert!(image_of(&patched(&pod, &answer)).ends_with("/clastix/kubectl:v1.31"));
    assert_eq!(proxy.requests().len(), asked, "{:?}", proxy.request_lines());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_whose_budget_is_used_up_is_not_asked_at_admission() {
    let (registry, _seeded) = seeded_registry();
    let proxy = FaultProxy::in_front_of(&registry);
    // serve's assembly: the gates and the metrics observe the client; the gates hold the
    // monitor's budgets.
    let metrics = MonitorMetrics::new();
    let gates = RegistryGates::default();
    let mut client_options = ClientOptions::builder()
        .max_attempts(1)
        .request_timeout(Duration::from_secs(10))
        .build();
    prepare_client_options(&mut client_options, &gates, Some(&metrics));
    let client = Client::new(client_options).unwrap();
    let budget = Budget {
        requests: 2,
        per: Duration::from_secs(3600),
    };
    let monitor_options = MonitorOptions {
        budgets: HashMap::from([(proxy.addr(), budget)]),
        ..MonitorOptions::default()
    };
    let _monitor = Monitor::new(client.clone(), monitor_options, metrics, gates.clone());
    let webhook = Webhook::new(client, options(false)).with_registry_gate(gates);
    let served = Served::start(webhook).await;

    // The first lookup may run to its end (the budget is not used up when it starts).
    let pod = hook_pod(&proxy.addr(), "team-a");
    let answer = served.call("/mutate", &review(&pod, "first")).await;
    assert!(image_of(&patched(&pod, &answer)).ends_with("/clastix/kubectl:v1.31"));
    let spent = proxy.requests().len();
    assert!(spent >= 2, "{:?}", proxy.request_lines());

    // Now it is: another image of that registry is not asked, the Pod goes in unchanged.
    let mut other = hook_pod(&proxy.addr(), "team-b");
    other["spec"]["containers"][0]["image"] =
        json!(format!("{}/bitnami/kubectl:1.32", proxy.addr()));
    let answer = served.call("/mutate", &review(&other, "closed")).await;
    assert_unchanged(&answer, "closed");
    assert_eq!(served.decisions("undetermined"), 1);
    assert_eq!(proxy.requests().len(), spent, "{:?}", proxy.request_lines());

    // Whatever the credentials: the budget is the registry's. The first image asked with
    // a Pod's pull secret (remembered apart from the anonymous answer) is not asked either.
    let mut with_secret = pod.clone();
    with_secret["spec"]["imagePullSecrets"] = json!([{ "name": "regcred" }]);
    let answer = served
        .call("/mutate", &review(&with_secret, "other-credentials"))
        .await;
    assert_unchanged(&answer, "other-credentials");
    assert_eq!(served.decisions("undetermined"), 2);
    assert_eq!(proxy.requests().len(), spent, "{:?}", proxy.request_lines());

    // What was decided before is still answered, from memory.
    let answer = served.call("/mutate", &review(&pod, "remembered")).await;
    assert!(image_of(&patched(&pod, &answer)).ends_with("/clastix/kubectl:v1.31"));
    assert_eq!(proxy.requests().len(), spent, "{:?}", proxy.request_lines());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_servers_shorter_timeout_shortens_the_budget() {
    let (registry, _seeded) = seeded_registry();
    let proxy = FaultProxy::in_front_of(&registry);
    let latency = Duration::from_secs(3);
    proxy.set_latency(latency);
    let mut options = options(false);
    options.budget = Duration::from_secs(30); // misconfigured: above timeoutSeconds
    let served = Served::start(Webhook::new(registry_client(), options)).await;
    let pod = hook_pod(&proxy.addr(), "team-a");

    // The API server appends its timeoutSeconds to the URL: ?timeout=1s.
    let started = Instant::now();
    let answer = served.call("/mutate?timeout=1s", &review(&pod, "t")).await;
    let took = started.elapsed();
    assert_unchanged(&answer, "t");
    assert!(took < latency, "answered after {took:?}");
    assert!(warnings(&answer)[0].contains("within 750ms"), "{answer}");
    assert_eq!(served.decisions("timeout"), 1);
}

// ---------------------------------------------------------------------------------------
// /validate
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_denies_a_missing_image_without_fallback_and_names_it() {
    let (registry, _seeded) = seeded_registry();
    let mut options = options(false);
    options.validate = true;
    let served = Served::start(Webhook::new(registry_client(), options)).await;

    // Far outside the skew policy: no fallback.
    let mut pod = hook_pod(registry.addr(), "team-a");
    let gone = format!("{}/clastix/kubectl:v1.20", registry.addr());
    pod["spec"]["containers"][0]["image"] = json!(gone);
    let answer = served.call("/validate", &review(&pod, "deny")).await;
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    let message = answer["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains(&gone) && message.contains("crds-hook"),
        "{message}"
    );
    assert_eq!(served.decisions("denied"), 1);

    // A missing image that has a fallback is /mutate's business: allowed.
    let fixable = hook_pod(registry.addr(), "team-a");
    let answer = served.call("/validate", &review(&fixable, "ok")).await;
    assert_unchanged(&answer, "ok");
    // The registry down: allowed.
    let answer = served
        .call(
            "/validate",
            &review(&hook_pod(&dead_addr(), "team-a"), "down"),
        )
        .await;
    assert_unchanged(&answer, "down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_is_not_served_unless_enabled() {
    let served = Served::start(Webhook::new(registry_client(), options(false))).await;
    let resp = https_client(&served.ca)
        .post(format!("{}/validate", served.url))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

// ---------------------------------------------------------------------------------------
// TLS: rotation without a restart
// ---------------------------------------------------------------------------------------

/// Whether a new TLS connection to `url` verifies with `ca` (and gets an HTTP answer).
async fn trusted_by(url: &str, ca: &str) -> bool {
    https_client(ca)
        .post(format!("{url}/mutate"))
        .body("{")
        .send()
        .await
        .is_ok()
}

// The certificate files' warnings: a TLS handshake asks [`CertificateFiles`] for its pair
// on the task of its connection, so on a current-thread runtime the test's own
// `Warnings` subscriber (tagwarden_testbed::Warnings) sees what the files said.

// One thread: the handshakes, and so the certificate files' warnings, happen on this one.
#[tokio::test]
async fn a_rotated_certificate_is_served_to_new_connections() {
    let warnings = Warnings::default();
    let _logging = tracing::subscriber::set_default(warnings.clone());
    let dir = tempfile::tempdir().unwrap();
    let first = Pki::generate("first");
    let (cert, key) = first.write_to(dir.path());
    let files = CertificateFiles::load(&cert, &key).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let webhook = Webhook::new(registry_client(), options(false));
    let (_stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve_https(
        listener,
        files.server_config().unwrap(),
        webhook.router(),
        async move {
            let _ = stopped.await;
        },
    ));
    assert!(trusted_by(&url, &first.ca).await);

    // cert-manager renews: new files, a new CA even.
    let second = Pki::generate("second");
    second.write_to(dir.path());
    let deadline = Instant::now() + Duration::from_secs(15);
    while !trusted_by(&url, &second.ca).await {
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !trusted_by(&url, &first.ca).await,
        "the old certificate is still served"
    );

    // Mid-rotation, the certificate is new but the key is not: the current pair stays,
    // before and after the files were looked at again and the new pair refused.
    let third = Pki::generate("third");
    std::fs::write(&cert, &third.cert).unwrap();
    let refused = |lines: &[String]| {
        lines.iter().any(|line| {
            line.contains("keeping the current one") && line.contains(&*cert.to_string_lossy())
        })
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        assert!(
            trusted_by(&url, &second.ca).await,
            "the half-written pair was served"
        );
        if refused(&warnings.lines()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the half-written pair was never looked at (no warning refusing it): {:?}",
            warnings.lines()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(trusted_by(&url, &second.ca).await);
    // …until the key arrives.
    std::fs::write(&key, &third.key).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !trusted_by(&url, &third.ca).await {
        assert!(
            Instant::now() < deadline,
            "the third certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn bind_says_which_file_or_address_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = Pki::generate("one").write_to(dir.path());
    let webhook = Webhook::new(registry_client(), options(false));
    let missing = HttpsEndpoint {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert: dir.path().join("absent.crt"),
        key: key.clone(),
    };
    let err = webhook.bind(&missing).await.err().unwrap().to_string();
    assert!(err.contains("absent.crt"), "{err}");
    let busy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let taken = HttpsEndpoint {
        listen: busy.local_addr().unwrap(),
        cert,
        key,
    };
    let err = webhook.bind(&taken).await.err().unwrap().to_string();
    assert!(err.contains("cannot listen on 127.0.0.1:"), "{err}");
}

#[test]
fn certificate_files_that_do_not_belong_together_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let one = Pki::generate("one");
    let other = Pki::generate("other");
    let (cert, key) = one.write_to(dir.path());
    std::fs::write(&key, &other.key).unwrap();
    let err = CertificateFiles::load(&cert, &key).unwrap_err();
    assert!(err.to_string().contains("does not belong"), "{err}");
    // rustls' error is the cause.
    let rustls_error = std::error::Error::source(&err)
        .and_then(|cause| cause.downcast_ref::<rustls::Error>())
        .unwrap_or_else(|| panic!("no rustls::Error source: {err:?}"));
    assert!(err.to_string().contains(&rustls_error.to_string()), "{err}");
    let err = CertificateFiles::load(dir.path().join("nope.crt"), &key).unwrap_err();
    assert!(err.to_string().contains("nope.crt"), "{err}");
    // The PEM reader's error is the cause; the file system's is inside it.
    let pem = std::error::Error::source(&err)
        .and_then(|cause| cause.downcast_ref::<rustls::pki_types::pem::Error>())
        .unwrap_or_else(|| panic!("no PEM error source: {err:?}"));
    assert!(
        matches!(pem, rustls::pki_types::pem::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound),
        "{pem:?}"
    );
}

// ---------------------------------------------------------------------------------------
// kubectl through the test API server
// ---------------------------------------------------------------------------------------

/// `kubectl ARGS` against `api` in a private HOME and cache dir (kubectl's own request
/// timeout bounds it).
async fn kubectl(api: &ApiServer, args: &[&str]) -> std::process::Output {
    let kubeconfig = api.kubeconfig_path().to_path_buf();
    let args: Vec<String> = args.iter().map(ToString::to_string).collect();
    tokio::task::spawn_blocking(move || {
        let home = tempfile::tempdir().unwrap();
        std::process::Command::new(&tagwarden_testbed::kubectl_binary().path)
            .env("HOME", home.path())
            .env("KUBECONFIG", kubeconfig)
            .arg(format!(
                "--cache-dir={}",
                home.path().join("cache").display()
            ))
            .arg("--request-timeout=20s")
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"))
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_of_the_hook_pod_comes_out_rewritten_with_an_event_on_its_job() {
    let (registry, _seeded) = seeded_registry();
    // The API server must know the webhook's address before it starts, and the webhook's
    // Event recorder needs the API server: bind first, serve once both exist.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/mutate", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate("webhook");
    let (cert, key) = pki.write_to(dir.path());
    let mut hook = PodWebhook::new("tagwarden.io", url.clone());
    hook.ca_pem = Some(pki.ca.clone());
    hook.fail_closed = true; // a broken webhook must show here, not be ignored
    let api = ApiServer::builder().pod_webhook(hook).start();
    // The webhook's client has the rights of the chart's ServiceAccount, rendered by Helm's
    // library and enforced by the test API server's RBAC.
    let login = install_the_charts_service_account(&api, dir.path());

    let kubeconfig = kube::config::Kubeconfig::read_from(&login.kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let recorder = kube::runtime::events::Recorder::new(
        kube::Client::try_from(config).unwrap(),
        kube::runtime::events::Reporter {
            controller: "tagwarden".into(),
            instance: Some("tagwarden-0".into()),
        },
    );
    let webhook = Webhook::new(registry_client(), options(false)).with_recorder(recorder);
    let tls = CertificateFiles::load(cert, key)
        .unwrap()
        .server_config()
        .unwrap();
    let (_stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve_https(listener, tls, webhook.router(), async move {
        let _ = stopped.await;
    }));

    // A dry run (kubectl create --dry-run=server) is answered the same, with no Event:
    // the configuration says sideEffects: NoneOnDryRun.
    let mut dry = hook_pod(registry.addr(), "capsule-system");
    dry["metadata"]["ownerReferences"][0]["name"] = json!("dry-run-job");
    let mut dry_review = review(&dry, "dry");
    dry_review["request"]["dryRun"] = json!(true);
    let answer: Value = https_client(&pki.ca)
        .post(&url)
        .json(&dry_review)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(image_of(&patched(&dry, &answer)).ends_with("/clastix/kubectl:v1.31"));

    let job_uid = api
        .get("batch/v1", "Job", Some("capsule-system"), "capsule-crds")
        .unwrap()["metadata"]["uid"]
        .clone();
    let mut pod = hook_pod(registry.addr(), "capsule-system");
    pod["metadata"]["ownerReferences"][0]["uid"] = job_uid.clone();
    let file = dir.path().join("hook-pod.json");
    std::fs::write(&file, pod.to_string()).unwrap();

    let out = kubectl(&api, &["create", "-f", file.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let name = text(&out.stdout)
        .trim()
        .strip_prefix("pod/")
        .and_then(|s| s.strip_suffix(" created"))
        .unwrap_or_else(|| panic!("kubectl said {}", text(&out.stdout)))
        .to_string();
    let wanted = format!("{}/clastix/kubectl:v1.32", registry.addr());
    let repaired = format!("{}/clastix/kubectl:v1.31", registry.addr());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "Warning: tagwarden: container crds-hook: {wanted} -> {repaired}"
        )),
        "{stderr}"
    );

    let out = kubectl(
        &api,
        &["get", "pod", &name, "-n", "capsule-system", "-o", "json"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stored: Pod = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(image_of(&stored), repaired);
    let originals: Value = serde_json::from_str(
        &stored.metadata.annotations.as_ref().unwrap()[ORIGINAL_IMAGES_ANNOTATION],
    )
    .unwrap();
    assert_eq!(originals, json!({ "crds-hook": wanted }));

    // The Event on the Job (published in the background through events.k8s.io/v1; the
    // test API server stores Events in the core shape, as `kubectl get events` shows them).
    let deadline = Instant::now() + Duration::from_secs(20);
    let event = loop {
        let found = api
            .list("v1", "Event")
            .into_iter()
            .find(|e| e["reason"] == "ImageRewritten");
        if let Some(event) = found {
            break event;
        }
        assert!(Instant::now() < deadline, "no ImageRewritten event");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(event["involvedObject"]["kind"], "Job");
    assert_eq!(event["involvedObject"]["name"], "capsule-crds");
    assert_eq!(event["involvedObject"]["uid"], job_uid);
    assert_eq!(event["type"], "Warning");
    let note = event["message"].as_str().unwrap();
    assert!(note.contains(&wanted) && note.contains(&repaired), "{note}");
    // The dry run's Event would have been sent long before this one.
    let rewritten: Vec<Value> = api
        .list("v1", "Event")
        .into_iter()
        .filter(|e| e["reason"] == "ImageRewritten")
        .collect();
    assert_eq!(rewritten.len(), 1, "{rewritten:?}");
    let denied: Vec<_> = api
        .denials()
        .into_iter()
        .filter(|d| d.user == login.user)
        .collect();
    assert!(
        denied.is_empty(),
        "refused under the chart's RBAC: {denied:#?}"
    );
}

/// The chart (`deploy/helm/tagwarden`, default values) rendered with Helm's library, its
/// ServiceAccount and RBAC applied to `api`: a kubeconfig with only those rights.
fn install_the_charts_service_account(
    api: &ApiServer,
    dir: &std::path::Path,
) -> tagwarden_testbed::helm::ServiceAccountLogin {
    let chart_dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/helm/tagwarden");
    let release = tagwarden_testbed::helm::Release::new("tagwarden", "monitoring", "v1.32.0");
    let chart = tagwarden_testbed::helm::render(&chart_dir, &json!({}), &release)
        .unwrap_or_else(|e| panic!("the chart did not render: {e}"));
    tagwarden_testbed::helm::install_service_account(api, &chart.objects(), dir)
}
