//! `tagwarden serve` as a process, against the test API server's fixture cluster and the
//! real registries: readiness, metrics, Events, workloads coming and going, pull failures,
//! leader election between two processes, and SIGTERM.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tagwarden_testbed::ApiServer;

use crate::scan::{deployment, fixture_api_server, private};

/// A running `tagwarden serve`, killed on drop.
struct Serve {
    child: Child,
    addr: SocketAddr,
    _home: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// What the process wrote on stderr so far (for failure messages).
    fn log(&self) -> String {
        std::fs::read_to_string(self._home.path().join("serve.log")).unwrap_or_default()
    }
}

/// A free loopback port (bound, then released for the child to bind).
fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr")
}

/// Starts `tagwarden serve` against `api` with `extra` flags, checking every second unless
/// they say otherwise.
fn serve(api: &ApiServer, extra: &[&str]) -> Serve {
    let home = tempfile::tempdir().expect("temp home");
    let addr = free_addr();
    let ca = private()
        .ca_cert_path()
        .expect("CA")
        .to_str()
        .expect("UTF-8")
        .to_string();
    let listen = addr.to_string();
    let mut args = vec![
        "serve",
        "--listen",
        listen.as_str(),
        "--ca-file",
        ca.as_str(),
    ];
    for interval in ["--present-interval", "--failing-interval"] {
        if !extra.contains(&interval) {
            args.extend([interval, "1"]);
        }
    }
    args.extend_from_slice(extra);
    let child = crate::common::clean_command(
        &args,
        home.path(),
        &[(
            "KUBECONFIG",
            api.kubeconfig_path().to_str().expect("UTF-8 path"),
        )],
    )
    .env_remove("POD_NAMESPACE")
    .env_remove("POD_NAME")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(home.path().join("serve.log")).expect("log file"))
    .spawn()
    .expect("start tagwarden serve");
    Serve {
        child,
        addr,
        _home: home,
    }
}

/// `GET path` on `addr`: (status, body); `None` when nothing listens yet.
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    Some((
        status,
        if chunked {
            dechunk(body)?
        } else {
            body.to_string()
        },
    ))
}

/// The body of a chunked HTTP/1.1 answer.
fn dechunk(mut rest: &str) -> Option<String> {
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.push_str(after.get(..size)?);
        rest = after.get(size + 2..)?;
    }
}

/// Polls `what` every 100 ms until it returns `Some`, or fails after `limit` with the
/// logs of `serving`.
fn wait_for<T>(
    serving: &[&Serve],
    limit: Duration,
    what: &str,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        if Instant::now() >= deadline {
            let logs: Vec<String> = serving.iter().map(|s| s.log()).collect();
            panic!(
                "timed out waiting for {what}; serve said:\n{}",
                logs.join("\n---\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of the sample `name{labels…}` whose labels include every `(key, value)`.
fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let (label_text, value) = match rest.strip_prefix('{') {
            Some(rest) => {
                let (labels, value) = rest.split_once("} ")?;
                (labels, value)
            }
            None => ("", rest.strip_prefix(' ')?),
        };
        let all = labels
            .iter()
            .all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\"")));
        all.then(|| value.split(' ').next()?.parse().ok())?
    })
}

/// The sum of every sample of `name` whose labels include every `(key, value)`.
fn total(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .lines()
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .filter_map(|line| sample(line, name, labels))
        .sum()
}

fn metrics_of(serve: &Serve) -> String {
    get(serve.addr, "/metrics")
        .map(|(_, b)| b)
        .unwrap_or_default()
}

/// Events tagwarden wrote, as (regarding kind/name, reason, note). The test API server
/// stores Events in the core shape whichever API wrote them (`reportingComponent`,
/// `involvedObject`, `message`), as the real one does.
fn events(api: &ApiServer) -> Vec<(String, String, String)> {
    api.list("v1", "Event")
        .into_iter()
        .filter(|e| e["reportingComponent"] == "tagwarden")
        .map(|e: Value| {
            (
                format!(
                    "{}/{}",
                    e["involvedObject"]["kind"].as_str().unwrap_or_default(),
                    e["involvedObject"]["name"].as_str().unwrap_or_default()
                ),
                e["reason"].as_str().unwrap_or_default().to_string(),
                e["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Waits until `api` holds a tagwarden Event `reason` on `on` (`Kind/name`); every Event
/// tagwarden wrote so far.
fn wait_for_event(
    serving: &[&Serve],
    api: &ApiServer,
    on: &str,
    reason: &str,
) -> Vec<(String, String, String)> {
    wait_for(
        serving,
        Duration::from_secs(30),
        &format!("the {reason} Event on {on}"),
        || {
            let written = events(api);
            written
                .iter()
                .any(|(o, r, _)| o == on && r == reason)
                .then_some(written)
        },
    )
}

/// How many tagwarden Events `reason` are on `on`.
fn count_events(api: &ApiServer, on: &str, reason: &str) -> usize {
    events(api)
        .into_iter()
        .filter(|(o, r, _)| o == on && r == reason)
        .count()
}

/// Waits until `serve` says its caches are synced.
fn wait_ready(serving: &[&Serve], serve: &Serve) {
    wait_for(serving, Duration::from_secs(20), "/readyz", || {
        get(serve.addr, "/readyz").filter(|(s, _)| *s == 200)
    });
}

#[test]
fn serve_checks_the_cluster_exports_metrics_and_writes_events() {
    let api = fixture_api_server();
    let serve = serve(&api, &["--debug"]);

    // Alive at once, ready once the caches are synced.
    wait_for(&[&serve], Duration::from_secs(20), "/healthz", || {
        get(serve.addr, "/healthz").filter(|(s, _)| *s == 200)
    });
    wait_ready(&[&serve], &serve);

    // The Capsule hook's image is missing: a series naming its workload, and a fallback.
    let metrics = wait_for(
        &[&serve],
        Duration::from_secs(30),
        "the hook image's series",
        || {
            let m = metrics_of(&serve);
            sample(
                &m,
                "tagwarden_image_unavailable",
                &[
                    ("kind", "Job"),
                    ("workload", "capsule-crds"),
                    ("reason", "missing"),
                ],
            )
            .map(|_| m)
        },
    );
    assert_eq!(
        sample(
            &metrics,
            "tagwarden_image_unavailable",
            &[("workload", "capsule-crds")]
        ),
        Some(1.0)
    );
    assert!(
        sample(
            &metrics,
            "tagwarden_image_fallback_info",
            &[(
                "fallback",
                &format!("{}/clastix/kubectl:v1.31", crate::charts::shared().addr())
            )]
        )
        .is_some(),
        "{metrics}"
    );
    // No series for healthy images.
    assert!(
        sample(
            &metrics,
            "tagwarden_image_unavailable",
            &[("workload", "web"), ("container", "web")]
        )
        .is_none(),
        "{metrics}"
    );
    assert_eq!(sample(&metrics, "tagwarden_is_leader", &[]), Some(1.0));

    // The Event, on the Job, says why and what would stand in.
    let written = wait_for_event(&[&serve], &api, "Job/capsule-crds", "ImageMissing");
    let (_, _, note) = written
        .iter()
        .find(|(on, reason, _)| on == "Job/capsule-crds" && reason == "ImageMissing")
        .unwrap();
    assert!(note.contains("clastix/kubectl:v1.32"), "{note}");
    assert!(note.contains("clastix/kubectl:v1.31"), "{note}");

    // A workload added with a missing image shows up; deleted, its series goes away.
    let public = crate::charts::shared().addr().to_string();
    api.apply(deployment(
        "late",
        &format!("{public}/clastix/kubectl:v1.99"),
    ));
    wait_for(
        &[&serve],
        Duration::from_secs(30),
        "the new workload's series",
        || {
            sample(
                &metrics_of(&serve),
                "tagwarden_image_unavailable",
                &[("workload", "late")],
            )
        },
    );
    api.delete("apps/v1", "Deployment", Some("shop"), "late");
    wait_for(
        &[&serve],
        Duration::from_secs(30),
        "the deleted workload's series to go",
        || {
            sample(
                &metrics_of(&serve),
                "tagwarden_image_unavailable",
                &[("workload", "late")],
            )
            .is_none()
            .then_some(())
        },
    );

    // Repeated checks of a stuck image do not repeat its Event.
    std::thread::sleep(Duration::from_secs(3));
    let missing = count_events(&api, "Job/capsule-crds", "ImageMissing");
    assert_eq!(missing, 1);
}

/// SIGKILL: the process gets no chance to release its Lease.
fn kill_hard(serve: &mut Serve) {
    serve.child.kill().expect("kill");
    serve.child.wait().expect("reap");
}

#[test]
fn one_leader_checks_and_the_other_takes_over_when_it_dies() {
    let api = fixture_api_server();
    let lease = ["--lease-namespace", "default", "--lease-duration", "3"];
    let mut first = serve(&api, &[&lease[..], &["--identity", "replica-a"]].concat());
    let wait_leading =
        |serve: &Serve| sample(&metrics_of(serve), "tagwarden_is_leader", &[]) == Some(1.0);
    wait_for(
        &[&first],
        Duration::from_secs(30),
        "replica-a to lead",
        || wait_leading(&first).then_some(()),
    );
    let mut second = serve(&api, &[&lease[..], &["--identity", "replica-b"]].concat());
    wait_ready(&[&first, &second], &second);
    // Both serve metrics; only one leads.
    assert_eq!(
        sample(&metrics_of(&second), "tagwarden_is_leader", &[]),
        Some(0.0)
    );
    wait_for_event(&[&first, &second], &api, "Job/capsule-crds", "ImageMissing");
    let holder = api
        .get(
            "coordination.k8s.io/v1",
            "Lease",
            Some("default"),
            "tagwarden",
        )
        .expect("the Lease");
    assert_eq!(holder["spec"]["holderIdentity"], "replica-a");

    // The leader dies without a word; the other takes over within the lease duration.
    let died = Instant::now();
    kill_hard(&mut first);
    wait_for(
        &[&second],
        Duration::from_secs(20),
        "replica-b to lead",
        || wait_leading(&second).then_some(()),
    );
    assert!(
        died.elapsed() < Duration::from_secs(15),
        "{:?}",
        died.elapsed()
    );
    let holder = api
        .get(
            "coordination.k8s.io/v1",
            "Lease",
            Some("default"),
            "tagwarden",
        )
        .expect("the Lease");
    assert_eq!(holder["spec"]["holderIdentity"], "replica-b");
    // It checks (its own metrics fill) but does not announce again what was said.
    wait_for(
        &[&second],
        Duration::from_secs(30),
        "replica-b's series",
        || {
            sample(
                &metrics_of(&second),
                "tagwarden_image_unavailable",
                &[("workload", "capsule-crds")],
            )
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    let missing = count_events(&api, "Job/capsule-crds", "ImageMissing");
    assert_eq!(missing, 1, "{:?}", events(&api));

    // SIGTERM: a graceful stop that releases the Lease.
    let sent = Command::new("kill")
        .args(["-TERM", &second.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let status = wait_for(
        &[],
        Duration::from_secs(15),
        "serve to stop on SIGTERM",
        || second.child.try_wait().ok().flatten(),
    );
    assert!(status.success(), "{status:?}");
}

/// A bare Pod running `image`, as the API server returns it; `waiting` puts its container
/// in that waiting state (`ErrImagePull`) instead of running.
fn pod(name: &str, image: &str, waiting: Option<&str>) -> Value {
    let state = match waiting {
        Some(reason) => {
            serde_json::json!({"waiting": {"reason": reason, "message": format!("failed to pull image {image}")}})
        }
        None => serde_json::json!({"running": {"startedAt": "2026-11-30T08:00:00Z"}}),
    };
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "uid": format!("5f1e2d3c-{name}"),
                     "creationTimestamp": "2026-11-30T08:00:00Z"},
        "spec": {"containers": [{"name": "app", "image": image}], "nodeName": "ip-10-0-1-23.eu-west-1.compute.internal"},
        "status": {"phase": if waiting.is_some() { "Pending" } else { "Running" },
                   "containerStatuses": [{"name": "app", "image": image, "imageID": "", "ready": waiting.is_none(),
                                          "restartCount": 0, "started": waiting.is_none(), "state": state}]},
    })
}

#[test]
fn a_pull_failure_triggers_a_check_at_once_and_a_deleted_tag_is_drift() {
    let public = crate::charts::shared();
    let seeder = public.registry.seeder();
    let digest = seeder.push_image(
        "drift/app",
        "1.0",
        tagwarden_testbed::ManifestKind::Oci,
        &[tagwarden_testbed::Platform::linux_amd64()],
    );
    let image = format!("{}/drift/app:1.0", public.addr());
    let api = fixture_api_server();
    api.apply(pod("drifter", &image, None));
    // Checks of present and missing images an hour apart: only the trigger can explain a
    // quick second check.
    let serve = serve(
        &api,
        &[
            "--present-interval",
            "3600",
            "--failing-interval",
            "3600",
            "--debug",
        ],
    );
    wait_for(
        &[&serve],
        Duration::from_secs(30),
        "the first check",
        || {
            let m = metrics_of(&serve);
            // Summed over registries: the drifting image's registry has at least it.
            (total(&m, "tagwarden_images", &[("status", "present")]) > 0.0).then_some(m)
        },
    );

    // Upstream deletes the tag; the kubelet fails to pull it.
    seeder.delete_manifest("drift/app", &digest);
    api.apply(pod("drifter", &image, Some("ErrImagePull")));
    wait_for(
        &[&serve],
        Duration::from_secs(20),
        "the triggered check",
        || {
            sample(
                &metrics_of(&serve),
                "tagwarden_image_unavailable",
                &[("workload", "drifter"), ("reason", "missing")],
            )
        },
    );
    let metrics = metrics_of(&serve);
    assert_eq!(
        sample(
            &metrics,
            "tagwarden_image_tag_changes_total",
            &[("kind", "deleted")]
        ),
        Some(1.0),
        "{metrics}"
    );
    let written = wait_for_event(&[&serve], &api, "Pod/drifter", "ImageTagChanged");
    assert!(
        written
            .iter()
            .any(|(on, reason, _)| on == "Pod/drifter" && reason == "ImageMissing"),
        "{written:?}"
    );
}

#[test]
fn watches_come_back_after_a_dropped_connection_and_after_410_gone() {
    // No bookmarks during the test: they would carry the watchers past the compaction.
    let api = ApiServer::builder()
        .git_version("v1.32.1-eks-5e0fdde")
        .fixtures(crate::scan::fixtures())
        .bookmark_interval(Duration::from_secs(3600))
        .start();
    let serve = serve(&api, &[]);
    wait_ready(&[&serve], &serve);
    let public = crate::charts::shared().addr().to_string();

    // The API server drops every watch connection: the watchers reconnect from where they were.
    api.drop_watches();
    api.apply(deployment(
        "after-drop",
        &format!("{public}/clastix/kubectl:v1.98"),
    ));
    wait_for(
        &[&serve],
        Duration::from_secs(30),
        "a workload added after the drop",
        || {
            sample(
                &metrics_of(&serve),
                "tagwarden_image_unavailable",
                &[("workload", "after-drop")],
            )
        },
    );

    let lists_before = api
        .requests()
        .iter()
        .filter(|r| r.path == "/apis/apps/v1/deployments" && !r.query.contains("watch=true"))
        .count();
    assert_eq!(
        lists_before, 1,
        "a dropped watch resumes without listing again"
    );

    // History compacted, then dropped again: resuming is `410 Gone`, and the watchers relist.
    // The watchers must hold a resourceVersion older than the compaction: they see the
    // Deployment, then an object they do not watch moves the store's version past theirs.
    api.apply(deployment(
        "before-compaction",
        &format!("{public}/clastix/kubectl:v1.97"),
    ));
    wait_for(
        &[&serve],
        Duration::from_secs(30),
        "the Deployment before compaction",
        || {
            sample(
                &metrics_of(&serve),
                "tagwarden_image_unavailable",
                &[("workload", "before-compaction")],
            )
        },
    );
    api.apply(serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "unwatched", "namespace": "shop"},
        "data": {"moves": "the resourceVersion"},
    }));
    api.compact();
    api.drop_watches();
    api.delete("apps/v1", "Deployment", Some("shop"), "after-drop");
    api.apply(deployment(
        "after-410",
        &format!("{public}/clastix/kubectl:v1.96"),
    ));
    wait_for(
        &[&serve],
        Duration::from_secs(40),
        "the relist after 410 Gone",
        || {
            let m = metrics_of(&serve);
            let added = sample(
                &m,
                "tagwarden_image_unavailable",
                &[("workload", "after-410")],
            )
            .is_some();
            let gone = sample(
                &m,
                "tagwarden_image_unavailable",
                &[("workload", "after-drop")],
            )
            .is_none();
            (added && gone).then_some(())
        },
    );
    // A dropped watch resumes (another watch, no new list); a resourceVersion that was
    // compacted away is answered with a `410 Gone` ERROR event, and only then do the
    // watchers list again: two lists of Deployments in all, the first and the relist.
    let lists = api
        .requests()
        .iter()
        .filter(|r| r.path == "/apis/apps/v1/deployments" && !r.query.contains("watch=true"))
        .count();
    assert_eq!(
        lists,
        2,
        "{:?}",
        api.requests()
            .iter()
            .filter(|r| r.path == "/apis/apps/v1/deployments")
            .map(|r| (r.query.clone(), r.status))
            .collect::<Vec<_>>()
    );
}

#[test]
fn with_read_pull_secrets_the_workloads_secrets_open_private_images() {
    let api = fixture_api_server();
    // Without: the private image is denied (tagwarden has no credentials of its own).
    let without = serve(&api, &[]);
    wait_for(
        &[&without],
        Duration::from_secs(30),
        "ledger denied",
        || {
            sample(
                &metrics_of(&without),
                "tagwarden_image_unavailable",
                &[("workload", "ledger"), ("reason", "denied")],
            )
        },
    );
    drop(without);

    let with = serve(&api, &["--read-pull-secrets"]);
    wait_for(
        &[&with],
        Duration::from_secs(30),
        "every image decided",
        || {
            let m = metrics_of(&with);
            (total(&m, "tagwarden_images", &[("status", "present")]) >= 5.0).then_some(())
        },
    );
    let metrics = metrics_of(&with);
    assert!(
        sample(
            &metrics,
            "tagwarden_image_unavailable",
            &[("workload", "ledger")]
        )
        .is_none(),
        "{metrics}"
    );
    // The Secret was read with GET.
    assert!(
        api.requests()
            .iter()
            .any(|r| r.method == "GET" && r.path == "/api/v1/namespaces/payments/secrets/regcred"),
        "{:?}",
        api.requests()
    );
}

#[test]
fn the_webhook_gives_a_hook_pod_created_with_kubectl_the_nearest_published_tag() {
    let api = fixture_api_server();
    let dir = tempfile::tempdir().unwrap();
    let pki = tagwarden_testbed::ServerPki::generate();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, &pki.server_cert_pem).unwrap();
    std::fs::write(&key, &pki.server_key_pem).unwrap();
    let webhook_addr = free_addr().to_string();
    let serve = serve(
        &api,
        &[
            "--webhook-listen",
            &webhook_addr,
            "--webhook-tls-cert",
            cert.to_str().unwrap(),
            "--webhook-tls-key",
            key.to_str().unwrap(),
        ],
    );
    wait_ready(&[&serve], &serve);
    let mut hook = tagwarden_testbed::PodWebhook::new(
        "tagwarden.io",
        format!("https://{webhook_addr}/mutate"),
    );
    hook.ca_pem = Some(pki.ca_cert_pem.clone());
    api.set_pod_webhook(Some(hook));

    // A Capsule-like hook Pod, created with the real kubectl.
    let public = crate::charts::shared().addr().to_string();
    let manifest = dir.path().join("hook-pod.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: capsule-crds-manual\n  namespace: shop\nspec:\n  restartPolicy: Never\n  containers:\n  - name: crds-hook\n    image: {public}/clastix/kubectl:v1.32\n"
        ),
    )
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let created = Command::new("kubectl")
        .args(["create", "-f", manifest.to_str().unwrap()])
        .arg(format!(
            "--cache-dir={}",
            home.path().join("cache").display()
        ))
        .env("HOME", home.path())
        .env("KUBECONFIG", api.kubeconfig_path())
        .output()
        .unwrap_or_else(|e| panic!("these tests need kubectl on PATH: {e}"));
    let stderr = String::from_utf8_lossy(&created.stderr);
    assert!(created.status.success(), "{stderr}\n{}", serve.log());
    assert!(
        stderr.contains("Warning:") && stderr.contains("v1.31"),
        "{stderr}"
    );

    let pod = api
        .get("v1", "Pod", Some("shop"), "capsule-crds-manual")
        .expect("the Pod was created");
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        format!("{public}/clastix/kubectl:v1.31")
    );
    let original: Value = serde_json::from_str(
        pod["metadata"]["annotations"]["tagwarden.io/original-images"]
            .as_str()
            .expect("the annotation"),
    )
    .unwrap();
    assert_eq!(
        original["crds-hook"],
        format!("{public}/clastix/kubectl:v1.32")
    );
    // Its decisions are in the same /metrics.
    let metrics = metrics_of(&serve);
    assert_eq!(
        sample(
            &metrics,
            "tagwarden_webhook_decisions_total",
            &[("decision", "rewritten")]
        ),
        Some(1.0),
        "{metrics}"
    );
}
