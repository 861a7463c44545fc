//! Webhook admission in the test API server, driven by the real `kubectl`:
//! `MutatingWebhookConfiguration`s and `ValidatingWebhookConfiguration`s
//! stored like any object, called as kube-apiserver calls them, through a
//! Service routed to a small HTTPS webhook made here with the test bed's
//! own PKI (the certificate is for `tagwarden.tagwarden.svc`, the name the
//! server must verify).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use tagwarden_testbed::apiserver::DEFAULT_USER;
use tagwarden_testbed::{ApiServer, ServerPki, WebhookCall, WebhookOutcome};

// ---------------------------------------------------------------- webhook

/// The Service the configurations name, and the name its certificate holds.
const SERVICE_NAMESPACE: &str = "tagwarden";
const SERVICE_NAME: &str = "tagwarden";
const SERVER_NAME: &str = "tagwarden.tagwarden.svc";

/// One review a webhook got.
struct Seen {
    /// The TLS server name the API server asked for (SNI).
    server_name: Option<String>,
    /// The request target: `/mutate?timeout=5s`.
    target: String,
    review: Value,
}

/// An HTTPS admission webhook on loopback: a certificate for `names` from
/// its own CA, each review answered by `answer(target, review)` (which may
/// take its time) on a thread of its own.
struct Webhook {
    addr: SocketAddr,
    ca_pem: String,
    seen: mpsc::Receiver<Seen>,
}

impl Webhook {
    fn start(
        names: &[&str],
        answer: impl Fn(&str, &Value) -> Value + Send + Sync + 'static,
    ) -> Webhook {
        let pki = ServerPki::generate_for(names);
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(pki.server_cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).unwrap();
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, seen) = mpsc::channel();
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let (config, answer, tx) = (Arc::clone(&config), Arc::clone(&answer), tx.clone());
                std::thread::spawn(move || serve_one(stream, config, &*answer, &tx));
            }
        });
        Webhook {
            addr,
            ca_pem: pki.ca_cert_pem,
            seen,
        }
    }

    /// The next review (waiting up to 10 s).
    fn next(&self) -> Seen {
        self.seen
            .recv_timeout(Duration::from_secs(10))
            .expect("the webhook was called")
    }

    fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.ca_pem)
    }
}

fn serve_one(
    stream: TcpStream,
    config: Arc<rustls::ServerConfig>,
    answer: &(dyn Fn(&str, &Value) -> Value + Send + Sync),
    tx: &mpsc::Sender<Seen>,
) {
    let conn = rustls::ServerConnection::new(config).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, stream);
    // A client that rejects our certificate ends the handshake here.
    let Some((target, body)) = read_request(&mut tls) else {
        return;
    };
    let review: Value = serde_json::from_slice(&body).expect("the review is JSON");
    let out = answer(&target, &review).to_string();
    let _ = tx.send(Seen {
        server_name: tls.conn.server_name().map(str::to_string),
        target,
        review,
    });
    let _ = write!(
        tls,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{out}",
        out.len()
    );
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

/// The request target and body of one HTTP/1.1 request.
fn read_request(stream: &mut impl Read) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let target = head.split_whitespace().nth(1)?.to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((target, buf[head_end..head_end + length].to_vec()))
}

/// `allowed: true`, with `patch` (JSON Patch operations) and `warnings` if given.
fn allow(review: &Value, patch: Option<Value>, warnings: &[&str]) -> Value {
    let mut response = json!({ "uid": review["request"]["uid"], "allowed": true });
    if let Some(ops) = patch {
        response["patchType"] = json!("JSONPatch");
        response["patch"] =
            json!(base64::engine::general_purpose::STANDARD.encode(ops.to_string()));
    }
    if !warnings.is_empty() {
        response["warnings"] = json!(warnings);
    }
    json!({ "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response })
}

fn set_image(image: &str) -> Option<Value> {
    Some(json!([{ "op": "replace", "path": "/spec/containers/0/image", "value": image }]))
}

// ---------------------------------------------------------------- objects

/// Add the Namespace `name` with `labels` (and the name label every real
/// Namespace has) unless the fixtures already hold it.
fn ensure_namespace(api: &ApiServer, name: &str, labels: Value) {
    if api.get("v1", "Namespace", None, name).is_none() {
        let mut labels = labels;
        labels["kubernetes.io/metadata.name"] = json!(name);
        api.apply(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": { "name": name, "labels": labels },
        }));
    }
}

/// A webhook entry for Pod creates through the `tagwarden` Service, with
/// `extra` fields over the defaults (`failurePolicy: Fail`,
/// `sideEffects: None`, `timeoutSeconds: 5`).
fn webhook_entry(name: &str, path: &str, ca_bundle: &str, extra: Value) -> Value {
    let mut hook = json!({
        "name": name,
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "failurePolicy": "Fail",
        "timeoutSeconds": 5,
        "rules": [{
            "operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
            "resources": ["pods"], "scope": "Namespaced",
        }],
        "clientConfig": {
            "service": { "namespace": SERVICE_NAMESPACE, "name": SERVICE_NAME, "path": path, "port": 443 },
            "caBundle": ca_bundle,
        },
    });
    for (k, v) in extra.as_object().unwrap() {
        hook[k] = v.clone();
    }
    hook
}

fn configuration(kind: &str, name: &str, webhooks: Vec<Value>) -> Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
        "metadata": { "name": name },
        "webhooks": webhooks,
    })
}

fn mutating(name: &str, webhooks: Vec<Value>) -> Value {
    configuration("MutatingWebhookConfiguration", name, webhooks)
}

fn pod_yaml(namespace: &str, name: &str, labels: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  labels: {{{labels}}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: app\n    image: acme/app:v1.32\n"
    )
}

/// The image of the stored Pod.
fn stored_image(api: &ApiServer, namespace: &str, name: &str) -> String {
    let pod = api
        .get("v1", "Pod", Some(namespace), name)
        .unwrap_or_else(|| panic!("no Pod {namespace}/{name}"));
    pod["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

fn outcomes(calls: &[WebhookCall]) -> Vec<(String, WebhookOutcome)> {
    calls
        .iter()
        .map(|c| (c.webhook.clone(), c.outcome.clone()))
        .collect()
}

// ---------------------------------------------------------------- kubectl

/// A scratch directory for manifests, and `kubectl` against one server.
struct Kubectl<'a> {
    api: &'a ApiServer,
    dir: tempfile::TempDir,
}

impl<'a> Kubectl<'a> {
    fn new(api: &'a ApiServer) -> Kubectl<'a> {
        Kubectl {
            api,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Write `text` to `name` in the scratch directory.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `kubectl ARGS`, in a private HOME, killed after 60 s.
    fn run(&self, args: &[&str]) -> Output {
        let home = self.dir.path().join("home");
        let child = Command::new(&tagwarden_testbed::kubectl_binary().path)
            .env("HOME", &home)
            .env("KUBECONFIG", self.api.kubeconfig_path())
            .arg(format!("--cache-dir={}", home.join("cache").display()))
            .arg("--request-timeout=20s")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("these tests need kubectl on PATH: {e}"));
        finish_bounded(child, Duration::from_secs(60))
    }

    /// `kubectl create -f` a file with `text`.
    fn create(&self, name: &str, text: &str, extra: &[&str]) -> (Output, PathBuf) {
        let file = self.file(name, text);
        let mut args = vec!["create", "-f", file.to_str().unwrap()];
        args.extend(extra);
        (self.run(&args), file)
    }
}

fn finish_bounded(mut child: std::process::Child, timeout: Duration) -> Output {
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "kubectl failed: {}{}",
        text(&out.stderr),
        text(&out.stdout)
    );
    text(&out.stdout)
}

/// kubectl's stderr of a failed create.
fn failed(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "kubectl succeeded: {}",
        text(&out.stdout)
    );
    text(&out.stderr)
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

// ---------------------------------------------------------------- tests

/// The chart's `MutatingWebhookConfiguration` (as `templates/webhook.yaml`
/// renders it), created with `kubectl create -f`, sends Pod creates to the
/// routed Service: the review as kube sends it, its patch applied, its
/// warning printed by kubectl; the release's and kube-system's namespaces
/// are left alone.
#[test]
fn the_charts_configuration_sends_pod_creates_to_the_routed_service() {
    let hook = Webhook::start(&[SERVER_NAME], |_, review| {
        allow(
            review,
            set_image("acme/app:v1.31"),
            &["tagwarden: acme/app:v1.32 is not published; using acme/app:v1.31"],
        )
    });
    let api = ApiServer::builder()
        .route_service(SERVICE_NAMESPACE, SERVICE_NAME, 443, hook.addr)
        .start();
    ensure_namespace(&api, SERVICE_NAMESPACE, json!({}));
    let kubectl = Kubectl::new(&api);
    let chart = format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: tagwarden
  labels:
    app.kubernetes.io/name: tagwarden
webhooks:
  - name: pods.tagwarden.io
    admissionReviewVersions: ["v1"]
    sideEffects: NoneOnDryRun
    failurePolicy: Ignore
    reinvocationPolicy: IfNeeded
    timeoutSeconds: 5
    matchPolicy: Equivalent
    rules:
      - operations: ["CREATE"]
        apiGroups: [""]
        apiVersions: ["v1"]
        resources: ["pods"]
        scope: Namespaced
    namespaceSelector:
      matchExpressions:
      - key: kubernetes.io/metadata.name
        operator: NotIn
        values:
        - kube-system
        - tagwarden
    clientConfig:
      service:
        name: tagwarden
        namespace: tagwarden
        path: /mutate
        port: 443
      caBundle: {}
"#,
        hook.ca_bundle()
    );
    let (out, _) = kubectl.create("webhook.yaml", &chart, &[]);
    assert_eq!(
        succeeded(&out).trim(),
        "mutatingwebhookconfiguration.admissionregistration.k8s.io/tagwarden created"
    );
    let listed = succeeded(&kubectl.run(&["get", "mutatingwebhookconfigurations", "-o", "name"]));
    assert_eq!(
        listed.trim(),
        "mutatingwebhookconfiguration.admissionregistration.k8s.io/tagwarden"
    );

    let (out, _) = kubectl.create("pod.yaml", &pod_yaml("shop", "app", "app: web"), &[]);
    assert_eq!(succeeded(&out).trim(), "pod/app created");
    assert!(
        text(&out.stderr)
            .contains("Warning: tagwarden: acme/app:v1.32 is not published; using acme/app:v1.31"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(stored_image(&api, "shop", "app"), "acme/app:v1.31");

    let seen = hook.next();
    assert_eq!(seen.server_name.as_deref(), Some(SERVER_NAME));
    assert_eq!(seen.target, "/mutate?timeout=5s");
    let review = &seen.review;
    assert_eq!(
        (review["apiVersion"].as_str(), review["kind"].as_str()),
        (Some("admission.k8s.io/v1"), Some("AdmissionReview"))
    );
    let request = &review["request"];
    let gvk = json!({ "group": "", "version": "v1", "kind": "Pod" });
    let gvr = json!({ "group": "", "version": "v1", "resource": "pods" });
    assert_eq!((&request["kind"], &request["requestKind"]), (&gvk, &gvk));
    assert_eq!(
        (&request["resource"], &request["requestResource"]),
        (&gvr, &gvr)
    );
    assert_eq!(request["operation"], "CREATE");
    assert_eq!(
        (request["name"].as_str(), request["namespace"].as_str()),
        (Some("app"), Some("shop"))
    );
    assert_eq!(request["userInfo"]["username"], DEFAULT_USER);
    assert_eq!(request["dryRun"], false);
    assert_eq!(request["oldObject"], Value::Null);
    assert_eq!(request["options"]["kind"], "CreateOptions");
    assert_eq!(request["options"]["fieldManager"], "kubectl-create");
    assert_eq!(
        request["object"]["spec"]["containers"][0]["image"],
        "acme/app:v1.32"
    );
    assert_eq!(request["uid"].as_str().map(str::len), Some(36));

    // Outside the namespaceSelector: kube-system, and the release's own namespace.
    for namespace in ["kube-system", SERVICE_NAMESPACE] {
        let (out, _) = kubectl.create("skipped.yaml", &pod_yaml(namespace, "skipped", ""), &[]);
        succeeded(&out);
        assert_eq!(stored_image(&api, namespace, "skipped"), "acme/app:v1.32");
    }
    let calls = api.webhook_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    assert_eq!(
        (
            call.webhook.as_str(),
            call.configuration.as_str(),
            call.mutating,
            call.operation.as_str(),
            call.resource.as_str(),
            call.namespace.as_deref(),
            call.dry_run,
            &call.outcome,
        ),
        (
            "pods.tagwarden.io",
            "tagwarden",
            true,
            "CREATE",
            "pods",
            Some("shop"),
            false,
            &WebhookOutcome::Patched
        )
    );
}

/// `namespaceSelector` is matched against the Namespace object's labels;
/// `objectSelector` against the Pod's.
#[test]
fn namespace_and_object_selectors_choose_the_pods() {
    let hook = Webhook::start(&[SERVER_NAME], |_, review| {
        allow(review, set_image("acme/app:v1.31"), &[])
    });
    let api = ApiServer::builder()
        .route_service(SERVICE_NAMESPACE, SERVICE_NAME, 443, hook.addr)
        .start();
    ensure_namespace(
        &api,
        "opted-in",
        json!({ "tagwarden.io/mutate": "enabled" }),
    );
    api.apply(mutating(
        "tagwarden",
        vec![webhook_entry(
            "pods.tagwarden.io",
            "/mutate",
            &hook.ca_bundle(),
            json!({
                "namespaceSelector": { "matchLabels": { "tagwarden.io/mutate": "enabled" } },
                "objectSelector": { "matchExpressions": [
                    { "key": "tagwarden.io/skip", "operator": "DoesNotExist" },
                ] },
            }),
        )],
    ));
    let kubectl = Kubectl::new(&api);
    for (namespace, name, labels) in [
        ("opted-in", "chosen", "app: web"),
        ("opted-in", "skipped", "tagwarden.io/skip: \"true\""),
        ("shop", "elsewhere", "app: web"),
    ] {
        let (out, _) = kubectl.create("pod.yaml", &pod_yaml(namespace, name, labels), &[]);
        succeeded(&out);
    }
    assert_eq!(stored_image(&api, "opted-in", "chosen"), "acme/app:v1.31");
    assert_eq!(stored_image(&api, "opted-in", "skipped"), "acme/app:v1.32");
    assert_eq!(stored_image(&api, "shop", "elsewhere"), "acme/app:v1.32");
    let calls = api.webhook_calls();
    assert_eq!(
        outcomes(&calls),
        vec![("pods.tagwarden.io".to_string(), WebhookOutcome::Patched)]
    );
    assert_eq!(calls[0].namespace.as_deref(), Some("opted-in"));
    assert_eq!(
        hook.next().review["request"]["object"]["metadata"]["name"],
        "chosen"
    );
}

/// A webhook that is down: `failurePolicy: Ignore` creates the Pod
/// unchanged at once; `Fail` refuses it with kube's message, as kubectl
/// prints it.
#[test]
fn failure_policy_decides_when_the_service_is_down() {
    let api = ApiServer::start(); // no route: the Service refuses connections
    let ca = base64::engine::general_purpose::STANDARD.encode(ServerPki::generate().ca_cert_pem);
    let kubectl = Kubectl::new(&api);

    api.apply(mutating(
        "tagwarden",
        vec![webhook_entry(
            "pods.tagwarden.io",
            "/mutate",
            &ca,
            json!({ "failurePolicy": "Ignore" }),
        )],
    ));
    let (out, _) = kubectl.create("pod.yaml", &pod_yaml("shop", "ignored", ""), &[]);
    assert_eq!(succeeded(&out).trim(), "pod/ignored created");
    assert_eq!(stored_image(&api, "shop", "ignored"), "acme/app:v1.32");
    let calls = api.webhook_calls();
    assert_eq!(calls.len(), 1);
    match &calls[0].outcome {
        WebhookOutcome::FailedOpen(why) => assert!(
            why.ends_with(
                "Post \"https://tagwarden.tagwarden.svc:443/mutate?timeout=5s\": \
                 dial tcp tagwarden.tagwarden.svc:443: connect: connection refused"
            ),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(calls[0].duration < Duration::from_secs(5), "{calls:?}");

    api.apply(mutating(
        "tagwarden",
        vec![webhook_entry(
            "pods.tagwarden.io",
            "/mutate",
            &ca,
            json!({ "failurePolicy": "Fail" }),
        )],
    ));
    let (out, file) = kubectl.create("pod.yaml", &pod_yaml("shop", "refused", ""), &[]);
    assert_eq!(
        failed(&out).trim(),
        format!(
            "Error from server (InternalError): error when creating \"{}\": Internal error \
             occurred: failed calling webhook \"pods.tagwarden.io\": failed to call webhook: \
             Post \"https://tagwarden.tagwarden.svc:443/mutate?timeout=5s\": dial tcp \
             tagwarden.tagwarden.svc:443: connect: connection refused",
            display(&file)
        )
    );
    assert!(api.get("v1", "Pod", Some("shop"), "refused").is_none());
    assert!(matches!(
        api.webhook_calls()[1].outcome,
        WebhookOutcome::Rejected(_)
    ));
}

/// A webhook slower than `timeoutSeconds`: the call is cut after the
/// timeout; `Fail` says `context deadline exceeded`, `Ignore` goes on.
#[test]
fn a_slow_webhook_is_cut_at_its_timeout() {
    let hook = Webhook::start(&[SERVER_NAME], |_, review| {
        std::thread::sleep(Duration::from_secs(4));
        allow(review, set_image("acme/app:too-late"), &[])
    });
    let api = ApiServer::builder()
        .route_service(SERVICE_NAMESPACE, SERVICE_NAME, 443, hook.addr)
        .start();
    let kubectl = Kubectl::new(&api);
    let entry = |policy: &str| {
        webhook_entry(
            "pods.tagwarden.io",
            "/mutate",
            &hook.ca_bundle(),
            json!({ "failurePolicy": policy, "timeoutSeconds": 1 }),
        )
    };
    api.apply(mutating("tagwarden", vec![entry("Fail")]));
    let (out, _) = kubectl.create("pod.yaml", &pod_yaml("shop", "slow", ""), &[]);
    let said = failed(&out);
    assert!(
        said.contains(
            "failed calling webhook \"pods.tagwarden.io\": failed to call webhook: Post \
             \"https://tagwarden.tagwarden.svc:443/mutate?timeout=1s\": context deadline exceeded"
        ),
        "{said}"
    );
    assert_eq!(hook.next().target, "/mutate?timeout=1s");

    api.apply(mutating("tagwarden", vec![entry("Ignore")]));
    let (out, _) = kubectl.create("pod.yaml", &pod_yaml("shop", "slow", ""), &[]);
    succeeded(&out);
    assert_eq!(stored_image(&api, "shop", "slow"), "acme/app:v1.32");
    let calls = api.webhook_calls();
    assert_eq!(calls.len(), 2);
    for call in &calls {
        assert!(
            call.duration >= Duration::from_secs(1) && call.duration < Duration::from_millis(3500),
            "{call:?}"
        );
    }
    assert!(
        matches!(&calls[1].outcome, WebhookOutcome::FailedOpen(why) if why.ends_with("context deadline exceeded"))
    );
}

/// `kubectl create --dry-run=server`: webhooks without side effects are
/// called with `dryRun: true` and nothing is stored; a webhook with side
/// effects makes the dry run a 400 and is not called.
#[test]
fn server_dry_runs_call_only_webhooks_without_side_effects() {
    let hook = Webhook::start(&[SERVER_NAME], |_, review| {
        allow(review, set_image("acme/app:v1.31"), &[])
    });
    let api = ApiServer::builder()
        .route_service(SERVICE_NAMESPACE, SERVICE_NAME, 443, hook.addr)
        .start();
    let kubectl = Kubectl::new(&api);
    let entry = |side_effects: &str| {
        webhook_entry(
            "pods.tagwarden.io",
            "/mutate",
            &hook.ca_bundle(),
            json!({ "sideEffects": side_effects }),
        )
    };
    api.apply(mutating("tagwarden", vec![entry("None")]));
    let (out, _) = kubectl.create(
        "pod.yaml",
        &pod_yaml("shop", "dry", ""),
        &["--dry-run=server", "-o", "json"],
    );
    let shown: Value = serde_json::from_str(&succeeded(&out)).unwrap();
    assert_eq!(shown["spec"]["containers"][0]["image"], "acme/app:v1.31");
    assert!(shown["metadata"]["uid"].is_string());
    assert!(api.get("v1", "Pod", Some("shop"), "dry").is_none());
    let request = hook.next().review["request"].clone();
    assert_eq!(request["dryRun"], true);
    assert_eq!(request["options"]["dryRun"], json!(["All"]));
    let (out, _) = kubectl.create(
        "pod.yaml",
        &pod_yaml("shop", "dry", ""),
        &["--dry-run=server"],
    );
    assert_eq!(succeeded(&out).trim(), "pod/dry created (server dry run)");

    api.apply(mutating("tagwarden", vec![entry("Some")]));
    let (out, file) = kubectl.create(
        "pod.yaml",
        &pod_yaml("shop", "dry", ""),
        &["--dry-run=server"],
    );
    assert_eq!(
        failed(&out).trim(),
        format!(
            "Error from server (BadRequest): error when creating \"{}\": admission webhook \
             \"pods.tagwarden.io\" does not support dry run",
            display(&file)
        )
    );
    let calls = api.webhook_calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls.iter().all(|c| c.dry_run));
    // Without a dry run, the webhook with side effects is called.
    let (out, _) = kubectl.create("pod.yaml", &pod_yaml("shop", "dry", ""), &[]);
    succeeded(&out);
    assert_eq!(stored_image(&api, "shop", "dry"), "acme/app:v1.31");
}

/// The certificate is verified against `caBundle`, for the name
/// `NAME.NAMESPACE.svc`: another CA, or a certificate for another name, is
/// a failed call.
#[test]
fn the_webhooks_certificate_is_verified_against_the_ca_bundle() {
    let hook = Webhook::start(&[SERVER_NAME], |_, review| {
        allow(review, set_image("acme/app:v1.31"), &[])
    });
    let misnamed = Webhook::start(&["other.tagwarden.svc"], |_, review| {
        allow(review, set_image("acme/app:v1.31"), &[])
    });
    let api = ApiServer::builder()
        .route_service(SERVICE_NAMESPACE, SERVICE_NAME, 443, hook.addr)
        .route_service(SERVICE_NAMESPACE, "misnamed", 443, misnamed.addr)
        .start();
    let kubectl = Kubectl::new(&api);
    let wrong_ca =
        base64::engine::general_purpose::STANDARD.encode(ServerPki::generate().ca_cert_pem);
    api.apply(mutating(
        "tagwarden",
        vec![webhook_entry(
            "pods.tagwarden.io",
            "/mutate",
            &wrong_ca,
            json!({}),
        )],
    ));
    let (out, _) = kubectl.create("pod.yaml", &pod_yaml("shop", "untrusted", ""), &[]);
    let said = failed(&out);
    assert!(
        said.contains(
            "Post \"https://tagwarden.tagwarden.svc:443/mutate?timeout=5s\": tls: failed to \
             verify certificate: x509: certificate signed by unknown authority"
        ),
        "{said}"
    );

    let mut entry = webhook_entry(
        "pods.tagwarden.io",
        "/mutate",
        &misnamed.ca_bundle(),
        json!({}),
    );
    entry["clientConfig"]["service"]["name"] = json!("misnamed");
    api.apply(mutating("tagwarden", vec![entry]));
    let (out, _) = kubectl.create("pod.yaml", &pod_yaml("shop", "misnamed", ""), &[]);
    let said = failed(&out);
    assert!(
        said.contains("x509: certificate is valid for other.tagwarden.svc")
            && said.contains("not misnamed.tagwarden.svc"),
        "{said}"
    );

    api.apply(mutating(
        "tagwarden",
        vec![webhook_entry(
            "pods.tagwarden.io",
            "/mutate",
            &wrong_ca,
            json!({ "failurePolicy": "Ignore" }),
        )],
    ));
    let (out, _) = kubectl.create("pod.yaml", &pod_yaml("shop", "untrusted", ""), &[]);
    succeeded(&out);
    assert_eq!(stored_image(&api, "shop", "untrusted"), "acme/app:v1.32");
    let calls = api.webhook_calls();
    assert_eq!(calls.len(), 3);
    assert!(
        matches!(&calls[2].outcome, WebhookOutcome::FailedOpen(why) if why.contains("unknown authority"))
    );
    // Neither webhook ever got a review: every handshake failed.
    assert!(hook.seen.try_recv().is_err() && misnamed.seen.try_recv().is_err());
}

/// Mutating first, then validating: the validating webhook sees the
/// patched Pod, and its denial is kube's, with its code and reason.
#[test]
fn a_validating_webhook_denies_after_the_mutating_one() {
    let hook = Webhook::start(&[SERVER_NAME], |target, review| {
        if target.starts_with("/mutate") {
            return allow(review, set_image("acme/app:v1.31"), &[]);
        }
        let image = review["request"]["object"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {
                "uid": review["request"]["uid"], "allowed": false,
                "status": { "code": 403, "reason": "Forbidden", "message": format!("image {image} is missing") },
            },
        })
    });
    let api = ApiServer::builder()
        .route_service(SERVICE_NAMESPACE, SERVICE_NAME, 443, hook.addr)
        .start();
    let ca = hook.ca_bundle();
    api.apply(mutating(
        "tagwarden",
        vec![webhook_entry(
            "pods.tagwarden.io",
            "/mutate",
            &ca,
            json!({}),
        )],
    ));
    api.apply(configuration(
        "ValidatingWebhookConfiguration",
        "tagwarden",
        vec![webhook_entry(
            "pods.tagwarden.io",
            "/validate",
            &ca,
            json!({}),
        )],
    ));
    let kubectl = Kubectl::new(&api);
    let listed = succeeded(&kubectl.run(&["get", "validatingwebhookconfigurations", "-o", "name"]));
    assert_eq!(
        listed.trim(),
        "validatingwebhookconfiguration.admissionregistration.k8s.io/tagwarden"
    );
    let (out, file) = kubectl.create("pod.yaml", &pod_yaml("shop", "denied", ""), &[]);
    assert_eq!(
        failed(&out).trim(),
        format!(
            "Error from server (Forbidden): error when creating \"{}\": admission webhook \
             \"pods.tagwarden.io\" denied the request: image acme/app:v1.31 is missing",
            display(&file)
        )
    );
    assert!(api.get("v1", "Pod", Some("shop"), "denied").is_none());
    let calls = api.webhook_calls();
    assert_eq!(
        calls.iter().map(|c| c.mutating).collect::<Vec<_>>(),
        [true, false]
    );
    assert_eq!(calls[0].outcome, WebhookOutcome::Patched);
    assert!(
        matches!(&calls[1].outcome, WebhookOutcome::Rejected(m) if m.ends_with("image acme/app:v1.31 is missing"))
    );
}

/// `reinvocationPolicy: IfNeeded`: a webhook is called once more when a
/// later one changed the Pod after it.
#[test]
fn if_needed_webhooks_are_reinvoked_after_a_later_change() {
    let hook = Webhook::start(&[SERVER_NAME], |target, review| {
        if target.starts_with("/rewrite") {
            allow(review, set_image("acme/app:v1.31"), &[])
        } else {
            allow(review, None, &[])
        }
    });
    let api = ApiServer::builder()
        .route_service(SERVICE_NAMESPACE, SERVICE_NAME, 443, hook.addr)
        .start();
    let ca = hook.ca_bundle();
    // By name: "a-observe" runs before "b-rewrite".
    api.apply(mutating(
        "a-observe",
        vec![webhook_entry(
            "observe.tagwarden.io",
            "/observe",
            &ca,
            json!({ "reinvocationPolicy": "IfNeeded" }),
        )],
    ));
    api.apply(mutating(
        "b-rewrite",
        vec![webhook_entry(
            "rewrite.tagwarden.io",
            "/rewrite",
            &ca,
            json!({ "reinvocationPolicy": "IfNeeded" }),
        )],
    ));
    let kubectl = Kubectl::new(&api);
    let (out, _) = kubectl.create("pod.yaml", &pod_yaml("shop", "twice", ""), &[]);
    succeeded(&out);
    let calls = api.webhook_calls();
    assert_eq!(
        calls
            .iter()
            .map(|c| (c.webhook.as_str(), c.reinvocation, c.outcome.clone()))
            .collect::<Vec<_>>(),
        vec![
            ("observe.tagwarden.io", false, WebhookOutcome::Unchanged),
            ("rewrite.tagwarden.io", false, WebhookOutcome::Patched),
            ("observe.tagwarden.io", true, WebhookOutcome::Unchanged),
        ]
    );
    let images: Vec<Value> = (0..3)
        .map(|_| hook.next().review["request"]["object"]["spec"]["containers"][0]["image"].clone())
        .collect();
    assert_eq!(
        images,
        [
            json!("acme/app:v1.32"),
            json!("acme/app:v1.32"),
            json!("acme/app:v1.31")
        ]
    );
}

/// An update (`kubectl replace`) is admitted as `UPDATE`, with the stored
/// object as `oldObject` and `UpdateOptions`.
#[test]
fn updates_are_admitted_with_the_old_object() {
    let hook = Webhook::start(&[SERVER_NAME], |_, review| allow(review, None, &["seen"]));
    let api = ApiServer::builder()
        .route_service(SERVICE_NAMESPACE, SERVICE_NAME, 443, hook.addr)
        .start();
    let mut entry = webhook_entry("pods.tagwarden.io", "/mutate", &hook.ca_bundle(), json!({}));
    entry["rules"][0]["operations"] = json!(["UPDATE"]);
    api.apply(mutating("tagwarden", vec![entry]));
    let kubectl = Kubectl::new(&api);
    let (out, _) = kubectl.create("pod.yaml", &pod_yaml("shop", "changing", "v: \"1\""), &[]);
    succeeded(&out);
    let file = kubectl.file("pod.yaml", &pod_yaml("shop", "changing", "v: \"2\""));
    let out = kubectl.run(&["replace", "-f", file.to_str().unwrap()]);
    assert_eq!(succeeded(&out).trim(), "pod/changing replaced");
    assert!(
        text(&out.stderr).contains("Warning: seen"),
        "{}",
        text(&out.stderr)
    );
    let request = hook.next().review["request"].clone();
    assert_eq!(request["operation"], "UPDATE");
    assert_eq!(request["oldObject"]["metadata"]["labels"]["v"], "1");
    assert_eq!(request["object"]["metadata"]["labels"]["v"], "2");
    assert_eq!(request["options"]["kind"], "UpdateOptions");
    assert_eq!(api.webhook_calls().len(), 1);
}
