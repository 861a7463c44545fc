//! `tagwarden serve` as a process, against the test API server's fixture cluster and the
//! real registries: readiness, metrics, Events, workloads coming and going, pull failures,
//! leader election between two processes, and SIGTERM.
//!
//! serve runs as the chart's ServiceAccount, with the RBAC of the chart rendered by Helm's
//! library (`crate::installed`), in the release namespace `monitoring` (its Lease and the
//! ConfigMap of what it announced live there); a test fails on any request RBAC refused
//! it. Tests about other rights pass their own `KUBECONFIG`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tagwarden_testbed::ApiServer;

use crate::scan::{deployment, fixture_api_server, private};

/// The release namespace serve's chart is installed into.
const RELEASE_NAMESPACE: &str = "monitoring";

/// A running `tagwarden serve`, killed on drop; run as the chart's ServiceAccount, it
/// fails the test on drop if RBAC refused it anything.
struct Serve<'a> {
    child: Child,
    addr: SocketAddr,
    _home: tempfile::TempDir,
    as_chart: Option<(&'a ApiServer, crate::installed::Installed)>,
}

impl Drop for Serve<'_> {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some((api, installed)) = &self.as_chart
            && !std::thread::panicking()
        {
            installed.assert_never_forbidden(api, &self.log());
        }
    }
}

/// The chart rendered once by Helm's library: with its default values, or with
/// `rbac.readPullSecrets` for a serve that reads pull secrets (as its operator would
/// install it).
fn chart(read_pull_secrets: bool) -> &'static crate::chart::Rendered {
    type Chart = std::sync::OnceLock<crate::chart::Rendered>;
    static DEFAULT: Chart = Chart::new();
    static READING_SECRETS: Chart = Chart::new();
    let (cell, values) = match read_pull_secrets {
        false => (&DEFAULT, serde_json::json!({})),
        true => (
            &READING_SECRETS,
            serde_json::json!({"rbac": {"readPullSecrets": true}}),
        ),
    };
    cell.get_or_init(|| crate::chart::render(&values, crate::chart::KUBE_VERSIONS[0]))
}

impl Serve<'_> {
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
fn serve<'a>(api: &'a ApiServer, extra: &[&str]) -> Serve<'a> {
    serve_env(api, extra, &[])
}

/// [`serve`] with more environment variables; without a `KUBECONFIG` among them, as the
/// chart's ServiceAccount (and in its release namespace, unless `extra` says otherwise).
fn serve_env<'a>(api: &'a ApiServer, extra: &[&str], envs: &[(&str, &str)]) -> Serve<'a> {
    let home = tempfile::tempdir().expect("temp home");
    let as_chart = (!envs.iter().any(|(name, _)| *name == "KUBECONFIG")).then(|| {
        let read_pull_secrets = extra.contains(&"--read-pull-secrets");
        crate::installed::install(api, chart(read_pull_secrets), home.path())
    });
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
    if as_chart.is_some()
        && !extra.contains(&"--lease-namespace")
        && !extra.contains(&"--no-leader-election")
    {
        args.extend(["--lease-namespace", RELEASE_NAMESPACE]);
    }
    args.extend_from_slice(extra);
    let kubeconfig = match &as_chart {
        Some(installed) => installed.kubeconfig.clone(),
        None => api.kubeconfig_path().to_path_buf(),
    };
    let mut env = vec![("KUBECONFIG", kubeconfig.to_str().expect("UTF-8 path"))];
    env.extend_from_slice(envs);
    let child = crate::common::clean_command(&args, home.path(), &env)
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
        as_chart: as_chart.map(|installed| (api, installed)),
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

/// The metric names of the table in docs/operator.md's "Metrics" section, the one place
/// the metrics are documented (the README, ARCHITECTURE.md and the chart link to it).
fn documented_metrics() -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operator.md");
    let guide = std::fs::read_to_string(&path).expect("docs/operator.md");
    let (_, section) = guide
        .split_once("\n## Metrics\n")
        .expect("docs/operator.md has a \"## Metrics\" section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let names: Vec<String> = section
        .lines()
        .filter_map(|line| line.strip_prefix("| `")?.split_once('`'))
        .map(|(name, _)| name.to_string())
        .filter(|name| name.starts_with("tagwarden_"))
        .collect();
    assert!(
        names.len() > 10,
        "the metrics table of {}: {names:?}",
        path.display()
    );
    names
}

/// A family's name as the table writes it, from either spelling of a counter (`# HELP`
/// of the text format 0.0.4 says `…_total`, OpenMetrics' does not).
fn family_name(name: &str) -> &str {
    name.strip_suffix("_total").unwrap_or(name)
}

/// Every family a scrape has (its `# HELP` lines) is a row of docs/operator.md's metrics
/// table, and every row is served: all of them with the webhook, all but the webhook's
/// without it (and the shared cache's only with one).
fn assert_metrics_match_the_docs(metrics: &str, with_webhook: bool) {
    use std::collections::BTreeSet;
    let documented: BTreeSet<String> = documented_metrics()
        .iter()
        .map(|name| family_name(name).to_string())
        .collect();
    let served: BTreeSet<String> = metrics
        .lines()
        .filter_map(|line| line.strip_prefix("# HELP ")?.split(' ').next())
        .map(|name| family_name(name).to_string())
        .collect();
    assert!(!served.is_empty(), "no # HELP line in /metrics:\n{metrics}");
    let undocumented: Vec<&String> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "/metrics serves {undocumented:?}, which docs/operator.md's metrics table lacks"
    );
    // The shared cache's families come all together, and only with --shared-cache.
    let shared_cache = served
        .iter()
        .any(|name| name.starts_with("tagwarden_shared_cache_"));
    let expected: BTreeSet<String> = documented
        .into_iter()
        .filter(|name| with_webhook || !name.starts_with("tagwarden_webhook_"))
        .filter(|name| shared_cache || !name.starts_with("tagwarden_shared_cache_"))
        .collect();
    let unserved: Vec<&String> = expected.difference(&served).collect();
    assert!(
        unserved.is_empty(),
        "docs/operator.md's metrics table has {unserved:?}, which /metrics does not serve \
         (webhook: {with_webhook}):\n{metrics}"
    );
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
/// The one tagwarden Event `reason` on `on` (`Kind/name`), as stored.
fn the_event(api: &ApiServer, on: &str, reason: &str) -> Value {
    let (kind, name) = on.split_once('/').expect("Kind/name");
    let found: Vec<Value> = api
        .list("v1", "Event")
        .into_iter()
        .filter(|e| {
            e["reportingComponent"] == "tagwarden"
                && e["involvedObject"]["kind"] == kind
                && e["involvedObject"]["name"] == name
                && e["reason"] == reason
        })
        .collect();
    assert_eq!(found.len(), 1, "{reason} on {on}: {found:#?}");
    found.into_iter().next().unwrap()
}

/// How many checks of `image` serve's `--debug` log reports so far.
fn checks_logged(serve: &Serve, image: &str) -> usize {
    serve
        .log()
        .matches(&format!("checked image={image} "))
        .count()
}

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
    // The first scrape already has every family, and zeros for what is known in advance.
    let first = metrics_of(&serve);
    tagwarden_testbed::promtool::check_metrics(&first);
    // Each family is documented once, in docs/operator.md's table, and the table is exact.
    assert_metrics_match_the_docs(&first, false);
    for family in [
        "tagwarden_images",
        "tagwarden_image_unavailable",
        "tagwarden_image_fallback_info",
        "tagwarden_image_tag_changes_total",
        "tagwarden_registry_requests_total",
        "tagwarden_registry_request_duration_seconds",
        "tagwarden_registry_rate_limit_remaining",
        "tagwarden_check_cycle_duration_seconds",
        "tagwarden_last_full_check_timestamp_seconds",
        "tagwarden_is_leader",
        "tagwarden_build_info",
        "tagwarden_cluster_info",
        "tagwarden_watch_restarts_total",
    ] {
        assert!(
            first.contains(&format!("# TYPE {family} ")),
            "{family} is missing from the first scrape:\n{first}"
        );
    }
    for kind in [
        "Pod",
        "Deployment",
        "Job",
        "CronJob",
        "Node",
        "ServiceAccount",
    ] {
        assert_eq!(
            sample(&first, "tagwarden_watch_restarts_total", &[("kind", kind)]),
            Some(0.0),
            "{first}"
        );
    }
    assert_eq!(
        sample(
            &first,
            "tagwarden_cluster_info",
            &[("git_version", "v1.32.1-eks-5e0fdde"), ("minor", "32")]
        ),
        Some(1.0),
        "{first}"
    );
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
    // A registry in use has its tag-change counters at 0, before any change.
    let public = crate::charts::shared().addr().to_string();
    for kind in ["deleted", "retagged"] {
        assert_eq!(
            sample(
                &metrics,
                "tagwarden_image_tag_changes_total",
                &[("registry", public.as_str()), ("kind", kind)]
            ),
            Some(0.0),
            "{metrics}"
        );
    }

    // The Event, on the Job, says why and what would stand in.
    let written = wait_for_event(&[&serve], &api, "Job/capsule-crds", "ImageMissing");
    let (_, _, note) = written
        .iter()
        .find(|(on, reason, _)| on == "Job/capsule-crds" && reason == "ImageMissing")
        .unwrap();
    assert!(note.contains("clastix/kubectl:v1.32"), "{note}");
    assert!(note.contains("clastix/kubectl:v1.31"), "{note}");
    // It names the Job by uid too, which is how `kubectl describe job` finds it.
    let job = api
        .list("batch/v1", "Job")
        .into_iter()
        .find(|j| j["metadata"]["name"] == "capsule-crds")
        .expect("the fixture Job");
    let event = api
        .list("v1", "Event")
        .into_iter()
        .find(|e| e["reportingComponent"] == "tagwarden" && e["reason"] == "ImageMissing")
        .expect("the Event");
    assert!(job["metadata"]["uid"].is_string(), "{job}");
    assert_eq!(
        event["involvedObject"]["uid"], job["metadata"]["uid"],
        "{event}"
    );

    // Repeated checks of a stuck image do not repeat its Event: after two more checks of
    // it (serve's --debug log says each), the Event is as it was written, not repeated
    // and not folded into a series (kube-runtime's Recorder would patch it).
    let stuck = format!("{public}/clastix/kubectl:v1.32");
    let first_said = the_event(&api, "Job/capsule-crds", "ImageMissing");
    let checked = checks_logged(&serve, &stuck);
    wait_for(
        &[&serve],
        Duration::from_secs(30),
        "two more checks of the stuck image",
        || (checks_logged(&serve, &stuck) >= checked + 2).then_some(()),
    );

    // A workload added with a missing image shows up, and its Event is written: after
    // anything those checks sent (Events are published in order). Deleted, its series
    // goes away.
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
    wait_for_event(&[&serve], &api, "Deployment/late", "ImageMissing");
    assert_eq!(count_events(&api, "Job/capsule-crds", "ImageMissing"), 1);
    assert_eq!(
        the_event(&api, "Job/capsule-crds", "ImageMissing"),
        first_said,
        "the stuck image's Event was said again"
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
}

/// SIGKILL: the process gets no chance to release its Lease.
fn kill_hard(serve: &mut Serve) {
    serve.child.kill().expect("kill");
    serve.child.wait().expect("reap");
}

/// Requests that list Events (a GET of a collection of either Events API).
fn event_lists(api: &ApiServer) -> Vec<String> {
    api.requests()
        .into_iter()
        .filter(|r| r.method == "GET" && (r.path.ends_with("/events")))
        .map(|r| format!("{} {}?{}", r.method, r.path, r.query))
        .collect()
}

/// A rule of a Role or ClusterRole.
fn rule(group: &str, resources: &[&str], names: &[&str], verbs: &[&str]) -> Value {
    let mut rule =
        serde_json::json!({"apiGroups": [group], "resources": resources, "verbs": verbs});
    if !names.is_empty() {
        rule["resourceNames"] = serde_json::json!(names);
    }
    rule
}

/// Stores `kind` (`Role` in `namespace`, or `ClusterRole` when `None`) `name` with
/// `rules`, bound to the ServiceAccount tagwarden/tagwarden.
fn grant(api: &ApiServer, namespace: Option<&str>, name: &str, rules: Vec<Value>) {
    let (kind, binding) = match namespace {
        Some(_) => ("Role", "RoleBinding"),
        None => ("ClusterRole", "ClusterRoleBinding"),
    };
    let meta = |name: &str| match namespace {
        Some(ns) => serde_json::json!({"name": name, "namespace": ns}),
        None => serde_json::json!({"name": name}),
    };
    api.apply(serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
        "metadata": meta(name), "rules": rules,
    }));
    api.apply(serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": binding,
        "metadata": meta(name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": "tagwarden", "namespace": "tagwarden"}],
    }));
}

/// A kubeconfig (in `dir`) for the ServiceAccount tagwarden/tagwarden.
fn service_account_kubeconfig(api: &ApiServer, dir: &std::path::Path) -> String {
    let path = dir.join("kubeconfig-tagwarden");
    api.write_kubeconfig_with_token(&path, &api.service_account_token("tagwarden", "tagwarden"));
    path.to_str().unwrap().to_string()
}

#[test]
fn one_leader_checks_and_the_other_takes_over_when_it_dies() {
    let api = fixture_api_server();
    // As the chart's ServiceAccount, with the chart's rights: Events may not be listed.
    let env: [(&str, &str); 0] = [];
    let lease = [
        "--lease-namespace",
        RELEASE_NAMESPACE,
        "--lease-duration",
        "3",
    ];
    let mut first = serve_env(
        &api,
        &[&lease[..], &["--identity", "replica-a"]].concat(),
        &env,
    );
    let wait_leading =
        |serve: &Serve| sample(&metrics_of(serve), "tagwarden_is_leader", &[]) == Some(1.0);
    wait_for(
        &[&first],
        Duration::from_secs(30),
        "replica-a to lead",
        || wait_leading(&first).then_some(()),
    );
    let mut second = serve_env(
        &api,
        &[&lease[..], &["--identity", "replica-b"]].concat(),
        &env,
    );
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
            Some(RELEASE_NAMESPACE),
            "tagwarden",
        )
        .expect("the Lease");
    assert_eq!(holder["spec"]["holderIdentity"], "replica-a");
    // What it announced is kept next to the Lease, one entry per image and workload.
    wait_for(
        &[&first],
        Duration::from_secs(20),
        "the announced ConfigMap",
        || {
            let map = api.get(
                "v1",
                "ConfigMap",
                Some(RELEASE_NAMESPACE),
                "tagwarden-announced",
            )?;
            let entries = map["data"].as_object().map_or(0, |d| d.len());
            // One entry per (workload, image) said so far: all of them written.
            let said: std::collections::BTreeSet<(String, String)> = events(&api)
                .into_iter()
                .filter_map(|(on, _, note)| {
                    let image = note.split_once("image ")?.1.split_whitespace().next()?;
                    Some((on, image.to_string()))
                })
                .collect();
            (entries > 0 && entries >= said.len()).then_some(())
        },
    );
    let before = events(&api);

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
            Some(RELEASE_NAMESPACE),
            "tagwarden",
        )
        .expect("the Lease");
    assert_eq!(holder["spec"]["holderIdentity"], "replica-b");
    // It checks (its own metrics fill) but does not announce again what was said: a
    // workload added now gets its Event from it, published after whatever its first
    // checks sent (Events are published in order).
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
    let public = crate::charts::shared().addr().to_string();
    api.apply(deployment(
        "after-takeover",
        &format!("{public}/clastix/kubectl:v1.98"),
    ));
    wait_for_event(
        &[&second],
        &api,
        "Deployment/after-takeover",
        "ImageMissing",
    );
    let missing = count_events(&api, "Job/capsule-crds", "ImageMissing");
    assert_eq!(missing, 1, "{:?}", events(&api));
    // No Event at all was said twice, and none was listed to know that.
    let after = events(&api);
    for (on, reason, _) in &before {
        let said = after
            .iter()
            .filter(|(o, r, _)| o == on && r == reason)
            .count();
        assert_eq!(said, 1, "{on} {reason}: {after:?}");
    }
    assert_eq!(event_lists(&api), Vec::<String>::new());
    let denied: Vec<String> = api
        .denials()
        .into_iter()
        .map(|d| format!("{} {}", d.verb, d.path))
        .collect();
    assert_eq!(
        denied,
        Vec::<String>::new(),
        "the chart's rights are enough"
    );

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
    // Summed over registries: every registry in use has its series, at 0 until a change.
    assert_eq!(
        total(
            &metrics,
            "tagwarden_image_tag_changes_total",
            &[("kind", "deleted")]
        ),
        1.0,
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

/// A request that reads every object of its kind: a list, or a streaming list (a watch
/// with `sendInitialEvents=true`); not a watch that resumes.
fn reads_everything(request: &tagwarden_testbed::ApiRequest) -> bool {
    !request.query.contains("watch=true") || request.query.contains("sendInitialEvents=true")
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
        .filter(|r| r.path == "/apis/apps/v1/deployments" && reads_everything(r))
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
        .filter(|r| r.path == "/apis/apps/v1/deployments" && reads_everything(r))
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
    let (created, stderr, _) = crate::installed::kubectl_create_pod(
        &api,
        dir.path(),
        "shop",
        "capsule-crds-manual",
        &format!("{public}/clastix/kubectl:v1.32"),
    );
    assert!(created, "{stderr}\n{}", serve.log());
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
    // With the webhook, its families too, and still none the table lacks.
    assert_metrics_match_the_docs(&metrics, true);
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

/// Writes `cert`/`key` of a fresh PKI into `dir`: (cert, key, CA PEM).
fn webhook_pki(dir: &std::path::Path) -> (String, String, String) {
    let pki = tagwarden_testbed::ServerPki::generate();
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert, &pki.server_cert_pem).unwrap();
    std::fs::write(&key, &pki.server_key_pem).unwrap();
    (
        cert.to_str().unwrap().to_string(),
        key.to_str().unwrap().to_string(),
        pki.ca_cert_pem.clone(),
    )
}

/// `kubectl create -f` of a Pod running `image` in `shop`, through `api`'s webhook:
/// kubectl's stderr (its `Warning:` lines).
fn kubectl_create_pod(api: &ApiServer, dir: &std::path::Path, name: &str, image: &str) -> String {
    let (created, stderr, _) = crate::installed::kubectl_create_pod(api, dir, "shop", name, image);
    assert!(created, "{stderr}");
    stderr
}

/// How many times `/version` was asked.
fn version_reads(api: &ApiServer) -> usize {
    api.requests()
        .iter()
        .filter(|r| r.path == "/version")
        .count()
}

#[test]
fn an_upgrade_is_followed_without_a_restart_and_alternating_versions_do_not_flap() {
    // A cluster at 1.30: the Capsule hook's kubectl:v1.32 is missing, but it does not
    // track the cluster's version, so nothing may stand in for it.
    let api = ApiServer::builder()
        .git_version("v1.30.5")
        .fixtures(crate::scan::fixtures())
        .start();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, ca) = webhook_pki(dir.path());
    let webhook_addr = free_addr().to_string();
    let serve = serve(
        &api,
        &[
            "--version-interval",
            "1",
            "--lease-namespace",
            RELEASE_NAMESPACE,
            "--webhook-listen",
            &webhook_addr,
            "--webhook-tls-cert",
            &cert,
            "--webhook-tls-key",
            &key,
        ],
    );
    let public = crate::charts::shared().addr().to_string();
    let hook_image = format!("{public}/clastix/kubectl:v1.32");
    wait_for(
        &[&serve],
        Duration::from_secs(30),
        "the hook image missing at 1.30",
        || {
            sample(
                &metrics_of(&serve),
                "tagwarden_image_unavailable",
                &[("workload", "capsule-crds"), ("reason", "missing")],
            )
        },
    );
    let metrics = metrics_of(&serve);
    assert!(
        sample(
            &metrics,
            "tagwarden_image_fallback_info",
            &[("image", &hook_image)]
        )
        .is_none(),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "tagwarden_cluster_info", &[("minor", "30")]),
        Some(1.0)
    );

    // The control plane is upgraded to 1.32: the image tracks it now, with a fallback.
    api.set_git_version("v1.32.1");
    let metrics = wait_for(
        &[&serve],
        Duration::from_secs(30),
        "the fallback after the upgrade",
        || {
            let m = metrics_of(&serve);
            sample(
                &m,
                "tagwarden_image_fallback_info",
                &[
                    ("image", &hook_image),
                    ("fallback", &format!("{public}/clastix/kubectl:v1.31")),
                ],
            )
            .map(|_| m)
        },
    );
    assert_eq!(
        sample(
            &metrics,
            "tagwarden_cluster_info",
            &[("git_version", "v1.32.1"), ("minor", "32")]
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        metrics
            .lines()
            .filter(|l| l.starts_with("tagwarden_cluster_info{"))
            .count(),
        1,
        "one series: {metrics}"
    );
    assert!(
        serve.log().contains("changed from v1.30.5 to v1.32.1"),
        "{}",
        serve.log()
    );
    // The leader says so on the Lease, the object that stands for serve as a whole.
    let written = wait_for_event(&[&serve], &api, "Lease/tagwarden", "ClusterVersionChanged");
    let (_, _, note) = written
        .iter()
        .find(|(_, reason, _)| reason == "ClusterVersionChanged")
        .unwrap();
    assert!(
        note.contains("v1.30.5") && note.contains("v1.32.1"),
        "{note}"
    );
    // The webhook follows too: a hook Pod created now gets the published v1.31.
    let mut hook = tagwarden_testbed::PodWebhook::new(
        "tagwarden.io",
        format!("https://{webhook_addr}/mutate"),
    );
    hook.ca_pem = Some(ca);
    api.set_pod_webhook(Some(hook));
    let warned = kubectl_create_pod(&api, dir.path(), "after-upgrade", &hook_image);
    assert!(warned.contains("v1.31"), "{warned}\n{}", serve.log());
    let pod = api.get("v1", "Pod", Some("shop"), "after-upgrade").unwrap();
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        format!("{public}/clastix/kubectl:v1.31")
    );

    // A rolling upgrade answering 1.32 and 1.31 in turn: the lower one never wins.
    api.set_git_versions(&["v1.31.4", "v1.32.1"]);
    let reads = version_reads(&api);
    wait_for(&[&serve], Duration::from_secs(30), "12 more reads", || {
        (version_reads(&api) >= reads + 12).then_some(())
    });
    let metrics = metrics_of(&serve);
    assert_eq!(
        sample(&metrics, "tagwarden_cluster_info", &[("minor", "32")]),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        sample(&metrics, "tagwarden_cluster_info", &[("minor", "31")]).is_none(),
        "{metrics}"
    );
    // Only the lower version, read after read: it is followed after 5 reads.
    api.set_git_version("v1.31.4");
    wait_for(&[&serve], Duration::from_secs(30), "the downgrade", || {
        sample(
            &metrics_of(&serve),
            "tagwarden_cluster_info",
            &[("minor", "31")],
        )
    });
    assert_eq!(
        serve
            .log()
            .matches("the cluster's Kubernetes version changed")
            .count(),
        2,
        "{}",
        serve.log()
    );
}

#[test]
fn watches_that_end_at_once_back_off_say_so_once_and_are_counted() {
    let api = fixture_api_server();
    api.end_watches_at_once(true);
    let serve = serve(&api, &[]);
    // The lists work: serve gets ready and checks.
    wait_ready(&[&serve], &serve);
    wait_for(
        &[&serve],
        Duration::from_secs(20),
        "a few restarts of the Deployment watch",
        || {
            let m = metrics_of(&serve);
            (sample(
                &m,
                "tagwarden_watch_restarts_total",
                &[("kind", "Deployment")],
            )? >= 3.0)
                .then_some(())
        },
    );
    // Bounded: ten watch loops backing off, not thousands of requests a second (20 at
    // most), over 3 s at least in which they went on failing (3 more restarts in all).
    let restarts = || total(&metrics_of(&serve), "tagwarden_watch_restarts_total", &[]);
    let (start, restarted, started) = (api.requests().len(), restarts(), Instant::now());
    wait_for(
        &[&serve],
        Duration::from_secs(60),
        "3 more watch restarts, over 3 s at least",
        || {
            (started.elapsed() >= Duration::from_secs(3) && restarts() >= restarted + 3.0)
                .then_some(())
        },
    );
    let (sent, took) = (api.requests().len() - start, started.elapsed());
    assert!(
        sent as f64 <= 20.0 * took.as_secs_f64(),
        "{sent} API requests in {took:?}"
    );
    let log = serve.log();
    assert_eq!(
        log.matches("watching Deployments failed").count(),
        1,
        "{log}"
    );
    assert!(log.contains("the watch ended at once"), "{log}");

    // Watches work again: said once, and the counter stays.
    api.end_watches_at_once(false);
    wait_for(
        &[&serve],
        Duration::from_secs(60),
        "the watch to work again",
        || {
            serve
                .log()
                .contains("watching Deployments works again")
                .then_some(())
        },
    );
    let public = crate::charts::shared().addr().to_string();
    api.apply(deployment(
        "after-recovery",
        &format!("{public}/clastix/kubectl:v1.95"),
    ));
    wait_for(
        &[&serve],
        Duration::from_secs(30),
        "a workload added after the recovery",
        || {
            sample(
                &metrics_of(&serve),
                "tagwarden_image_unavailable",
                &[("workload", "after-recovery")],
            )
        },
    );
}

#[test]
fn one_namespace_without_nodes_or_service_accounts_is_ready_and_checks() {
    let api = fixture_api_server();
    // Rights that stop at the namespace shop: its workloads and Pods, Events written there;
    // no ServiceAccounts, nothing cluster-scoped.
    let read = ["get", "list", "watch"];
    let write = ["create", "patch"];
    grant(
        &api,
        Some("shop"),
        "shop-only",
        vec![
            rule("", &["pods", "replicationcontrollers"], &[], &read),
            rule(
                "apps",
                &["deployments", "statefulsets", "daemonsets", "replicasets"],
                &[],
                &read,
            ),
            rule("batch", &["jobs", "cronjobs"], &[], &read),
            rule("", &["events"], &[], &write),
            rule("events.k8s.io", &["events"], &[], &write),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = service_account_kubeconfig(&api, dir.path());
    let serve = serve_env(
        &api,
        &["--namespace", "shop"],
        &[("KUBECONFIG", kubeconfig.as_str())],
    );
    wait_ready(&[&serve], &serve);
    wait_for(
        &[&serve],
        Duration::from_secs(30),
        "the images of shop checked",
        || {
            let m = metrics_of(&serve);
            (total(&m, "tagwarden_images", &[("status", "present")]) > 0.0).then_some(())
        },
    );
    let log = serve.log();
    for what in ["cannot list Nodes (", "cannot list ServiceAccounts ("] {
        assert_eq!(log.matches(what).count(), 1, "{log}");
    }
    assert!(log.contains("forbidden"), "{log}");
    // Refused: Nodes and ServiceAccounts only (tried once each so far, then every 5 min).
    let denied: std::collections::BTreeSet<String> = api
        .denials()
        .into_iter()
        .map(|d| format!("{} {}", d.verb, d.resource))
        .collect();
    // (The streaming list, a watch, is refused first; then the paged list.)
    assert_eq!(
        denied.into_iter().collect::<Vec<_>>(),
        [
            "list nodes",
            "list serviceaccounts",
            "watch nodes",
            "watch serviceaccounts"
        ]
    );
    // Nothing but Nodes (refused) was asked cluster-wide.
    let wide: Vec<String> = api
        .requests()
        .into_iter()
        .filter(|r| {
            (r.path.starts_with("/api/v1/") || r.path.starts_with("/apis/"))
                && !r.path.contains("/namespaces/")
                && !r.path.ends_with("/nodes")
                && r.path.matches('/').count() > 3
        })
        .map(|r| r.path)
        .collect();
    assert_eq!(wide, Vec::<String>::new());
}

#[test]
fn two_replicas_on_one_host_name_never_both_lead() {
    let api = fixture_api_server();
    let lease = [
        "--lease-namespace",
        RELEASE_NAMESPACE,
        "--lease-duration",
        "3",
    ];
    let env = [("HOSTNAME", "tagwarden-7d9f")];
    let first = serve_env(&api, &lease, &env);
    let second = serve_env(&api, &lease, &env);
    let leaders = || {
        [&first, &second]
            .iter()
            .map(|s| sample(&metrics_of(s), "tagwarden_is_leader", &[]).unwrap_or(-1.0))
            .collect::<Vec<f64>>()
    };
    wait_for(
        &[&first, &second],
        Duration::from_secs(30),
        "one leader",
        || {
            let now = leaders();
            (now.iter().all(|l| *l >= 0.0) && now.contains(&1.0)).then_some(())
        },
    );
    // Over more than a lease duration (the Lease renewed 4 times: the holder went on, the
    // other had its chances to take it), never two.
    let renewed = || {
        api.get(
            "coordination.k8s.io/v1",
            "Lease",
            Some(RELEASE_NAMESPACE),
            "tagwarden",
        )
        .map(|lease| lease["spec"]["renewTime"].clone())
    };
    let (mut last, mut renewals) = (renewed(), 0);
    wait_for(
        &[&first, &second],
        Duration::from_secs(30),
        "4 renewals of the Lease",
        || {
            let now = leaders();
            assert_eq!(now.iter().filter(|l| **l == 1.0).count(), 1, "{now:?}");
            let current = renewed();
            if current != last {
                renewals += 1;
                last = current;
            }
            (renewals >= 4).then_some(())
        },
    );
    let holder = api
        .get(
            "coordination.k8s.io/v1",
            "Lease",
            Some(RELEASE_NAMESPACE),
            "tagwarden",
        )
        .expect("the Lease");
    let identity = holder["spec"]["holderIdentity"].as_str().unwrap();
    assert!(identity.starts_with("tagwarden-7d9f-"), "{identity}");
}

/// `tagwarden serve ARGS` that must stop at once with exit 2 and one line.
fn refused(args: &[&str], config: Option<&str>) -> String {
    let home = tempfile::tempdir().unwrap();
    let mut all = vec!["serve"];
    let path = home.path().join("config.yaml");
    let path_text = path.to_str().unwrap().to_string();
    if let Some(config) = config {
        std::fs::write(&path, config).unwrap();
        all.extend(["--config", path_text.as_str()]);
    }
    all.extend_from_slice(args);
    let output = crate::common::clean_command(&all, home.path(), &[])
        .stdin(Stdio::null())
        .output()
        .expect("run tagwarden serve");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    stderr
}

#[test]
fn bad_settings_are_one_line_and_exit_2_before_the_cluster_is_asked() {
    let zero = refused(&["--present-interval", "0"], None);
    assert!(zero.contains("--present-interval"), "{zero}");
    let budget = refused(
        &[],
        Some("serve:\n  budgets:\n    docker.io: {requests: 0, window: 0}\n"),
    );
    assert!(budget.contains("serve.budgets.docker.io"), "{budget}");
    let interval = refused(&[], Some("serve:\n  failing_interval: 0\n"));
    assert!(interval.contains("serve.failing_interval"), "{interval}");
    let both = refused(&["--namespace", "ops", "--skip-namespace", "ops"], None);
    assert!(
        both.contains("\"ops\"") && both.contains("--skip-namespace"),
        "{both}"
    ); // Names that would go into request paths are checked as kubectl checks them.
    let path = refused(&["--namespace", "kube-system/secrets/db-password#"], None);
    assert!(
        path.contains("--namespace") && path.contains("RFC 1123"),
        "{path}"
    );
    let lease = refused(&["--lease-name", "Bad_Name"], None);
    assert!(lease.contains("--lease-name"), "{lease}");
    let home = tempfile::tempdir().unwrap();
    let output = crate::common::clean_command(
        &["serve"],
        home.path(),
        &[("TAGWARDEN_NAMESPACES", "shop,../payments")],
    )
    .stdin(Stdio::null())
    .output()
    .expect("run tagwarden serve");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("../payments") && stderr.trim_end().lines().count() == 1,
        "{stderr}"
    );
}

#[test]
fn help_shows_the_defaults() {
    let home = tempfile::tempdir().unwrap();
    let output = crate::common::clean_command(&["serve", "--help"], home.path(), &[])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for default in [
        "[default: 0.0.0.0:8080]",
        "[default: 3600]",
        "[default: 300]",
        "[default: 1800]",
        "[default: 60]",
        "--version-interval",
    ] {
        assert!(help.contains(default), "{default}: {help}");
    }
}

#[test]
fn the_start_line_comes_after_every_bind_and_names_the_webhook() {
    let api = fixture_api_server();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = webhook_pki(dir.path());
    // The webhook's address is taken: no start line, one error that says why once.
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = busy.local_addr().unwrap().to_string();
    let mut failed = serve(
        &api,
        &[
            "--webhook-listen",
            &taken,
            "--webhook-tls-cert",
            &cert,
            "--webhook-tls-key",
            &key,
        ],
    );
    let status = wait_for(&[], Duration::from_secs(20), "serve to stop", || {
        failed.child.try_wait().ok().flatten()
    });
    assert_eq!(status.code(), Some(2), "{}", failed.log());
    let log = failed.log();
    assert!(!log.contains("tagwarden serve: watching"), "{log}");
    let error = log.lines().find(|l| l.starts_with("error:")).expect(&log);
    assert!(
        error.contains(&format!("cannot listen on {taken}")),
        "{error}"
    );
    let cause = error.rsplit(": ").next().unwrap();
    assert_eq!(error.matches(cause).count(), 1, "{error}");

    let webhook_addr = free_addr().to_string();
    let serving = serve(
        &api,
        &[
            "--webhook-listen",
            &webhook_addr,
            "--webhook-tls-cert",
            &cert,
            "--webhook-tls-key",
            &key,
        ],
    );
    wait_ready(&[&serving], &serving);
    let log = serving.log();
    let line = log
        .lines()
        .find(|l| l.starts_with("tagwarden serve: watching"))
        .expect(&log);
    assert!(line.contains(&serving.addr.to_string()), "{line}");
    assert!(
        line.contains(&format!("https://{webhook_addr}/mutate")),
        "{line}"
    );
}

/// Registry requests that got an answer (200 or 404) for a question a shared cache can
/// share: HEAD and GET manifests, tag lists (not token requests, not 401s).
fn decided_requests(metrics: &str) -> f64 {
    let mut sum = 0.0;
    for operation in ["head_manifest", "get_manifest", "list_tags"] {
        for code in ["200", "404"] {
            let labels = [("operation", operation), ("code", code)];
            sum += total(metrics, "tagwarden_registry_requests_total", &labels);
        }
    }
    sum
}

/// `n` serves, each on its own cluster (test API server) with the same workloads, run
/// until each has answered every image once; with `redis`, they share it. Each serve's
/// metrics at that point.
fn clusters(n: usize, redis: Option<&tagwarden_testbed::RedisServer>) -> Vec<String> {
    let apis: Vec<ApiServer> = (0..n).map(|_| fixture_api_server()).collect();
    let url = redis.map(|r| r.url()).unwrap_or_default();
    let mut extra = vec!["--present-interval", "3600", "--failing-interval", "3600"];
    if redis.is_some() {
        extra.extend(["--shared-cache", url.as_str()]);
    }
    let serves: Vec<Serve> = apis.iter().map(|api| serve(api, &extra)).collect();
    let all: Vec<&Serve> = serves.iter().collect();
    let full_pass = |s: &Serve| {
        let m = metrics_of(s);
        (sample(&m, "tagwarden_last_full_check_timestamp_seconds", &[])? > 0.0).then_some(m)
    };
    let timeout = Duration::from_secs(120);
    let metrics = serves
        .iter()
        .map(|s| wait_for(&all, timeout, "a full pass", || full_pass(s)))
        .collect();
    if redis.is_some() {
        assert!(
            serves[0]
                .log()
                .contains("sharing answers and registry budgets through redis://")
        );
    }
    metrics
}

/// The registry requests of `n` serves on `n` clusters alone, then sharing one Redis, and
/// the shared cache's hits, misses and fallbacks; asserts what holds for any `n`.
fn fleet(n: usize) -> (f64, f64) {
    let alone = clusters(n, None);
    let counts: Vec<f64> = alone.iter().map(|m| decided_requests(m)).collect();
    // The same workloads, so about the same questions (a check asked again at once
    // after a pull failure may add one, and an image checked before its pull secrets
    // are read asks once more with them): how much one serve's count varies from run to
    // run is the spread between the serves alone.
    let per_cluster = counts.iter().copied().fold(0.0, f64::max);
    let spread = per_cluster - counts.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(counts.iter().all(|c| *c > 5.0), "{counts:?}");
    assert!(
        !alone[0].contains("tagwarden_shared_cache_"),
        "{}",
        alone[0]
    );
    let redis = tagwarden_testbed::RedisServer::start();
    let shared = clusters(n, Some(&redis));
    assert_metrics_match_the_docs(&shared[0], false);
    let sum = |name: &str, labels: &[(&str, &str)]| -> f64 {
        shared.iter().map(|m| total(m, name, labels)).sum()
    };
    let requests: f64 = shared.iter().map(|m| decided_requests(m)).sum();
    let hits = sum(
        "tagwarden_shared_cache_requests_total",
        &[("result", "hit")],
    );
    let misses = sum(
        "tagwarden_shared_cache_requests_total",
        &[("result", "miss")],
    );
    let fallbacks = sum("tagwarden_shared_cache_fallbacks_total", &[]);
    let alone_total: f64 = counts.iter().sum();
    println!(
        "{n} serves on {n} clusters: {alone_total} registry requests alone, {requests} sharing \
         one Redis ({hits} answers from Redis, {misses} asked and shared, {fallbacks} fallbacks)"
    );
    assert!(hits > 0.0);
    assert_eq!(
        sample(&shared[0], "tagwarden_shared_cache_up", &[]),
        Some(1.0)
    );
    // At most one request per question (and credential) for all of them, as one serve
    // makes, within that serve's own run-to-run spread; a fallback (Redis slow on a
    // loaded machine) may cost one more.
    assert!(
        requests > 0.0 && requests <= per_cluster + spread + fallbacks,
        "{requests} vs {per_cluster} (spread {spread}, counts alone {counts:?})"
    );
    (alone_total, requests)
}

#[test]
fn two_serves_sharing_one_redis_ask_the_registry_once_per_question() {
    fleet(2);
}

/// Ten serves on ten clusters: the number for the closing note (ten test API
/// servers and ten serve processes; about a minute on a loaded machine).
#[test]
fn ten_serves_sharing_one_redis_ask_the_registry_once_per_question() {
    fleet(10);
}

/// `tagwarden_images` by status, summed over registries.
fn images_by_status(metrics: &str) -> Vec<(String, f64)> {
    [
        "present",
        "missing",
        "denied",
        "unreachable",
        "rate_limited",
        "invalid",
    ]
    .iter()
    .map(|status| {
        let count = total(metrics, "tagwarden_images", &[("status", status)]);
        (status.to_string(), count)
    })
    .collect()
}

#[test]
fn when_the_shared_redis_dies_serves_go_on_checking_alone_and_nothing_turns_missing() {
    let redis = tagwarden_testbed::RedisServer::start();
    let (api_a, api_b) = (fixture_api_server(), fixture_api_server());
    let url = redis.url();
    // Present images are checked every second (the helper's default): checks go on.
    let (a, b) = (
        serve(&api_a, &["--shared-cache", &url]),
        serve(&api_b, &["--shared-cache", &url]),
    );
    let both = [&a, &b];
    let full_pass = |s: &Serve| {
        let m = metrics_of(s);
        (sample(&m, "tagwarden_last_full_check_timestamp_seconds", &[])? > 0.0).then_some(m)
    };
    let before: Vec<String> = both
        .iter()
        .map(|s| {
            wait_for(&both, Duration::from_secs(60), "a full pass", || {
                full_pass(s)
            })
        })
        .collect();
    assert!(total(&before[0], "tagwarden_shared_cache_requests_total", &[]) > 0.0);
    redis.kill();
    for (serve, before) in both.iter().zip(&before) {
        let asked_before = decided_requests(before);
        let after = wait_for(
            &both,
            Duration::from_secs(60),
            "checks without Redis",
            || {
                let m = metrics_of(serve);
                let alone = total(&m, "tagwarden_shared_cache_fallbacks_total", &[]) > 0.0
                    && sample(&m, "tagwarden_shared_cache_up", &[]) == Some(0.0)
                    && decided_requests(&m) > asked_before + 3.0;
                alone.then_some(m)
            },
        );
        assert!(
            total(
                &after,
                "tagwarden_shared_cache_requests_total",
                &[("result", "error")]
            ) > 0.0
        );
        assert_eq!(
            images_by_status(&after),
            images_by_status(before),
            "{after}"
        );
        let said = serve
            .log()
            .matches("the shared cache is unavailable")
            .count();
        assert_eq!(said, 1, "once in the log:\n{}", serve.log());
    }
}

#[test]
fn two_serves_sharing_one_redis_keep_one_budget_together() {
    let redis = tagwarden_testbed::RedisServer::start();
    let (api_a, api_b) = (fixture_api_server(), fixture_api_server());
    let public = crate::charts::shared().addr().to_string();
    let (url, budget) = (redis.url(), format!("{public}=5/60"));
    let flags = ["--shared-cache", url.as_str(), "--budget", budget.as_str()];
    let (a, b) = (serve(&api_a, &flags), serve(&api_b, &flags));
    let both = [&a, &b];
    let requests = |m: &str| {
        total(
            m,
            "tagwarden_registry_requests_total",
            &[("registry", &public)],
        )
    };
    // Each cluster alone would ask the public registry more than 5 times: the fleet's
    // budget holds some requests back (counted), and the two together send at most 5.
    let spent = wait_for(&both, Duration::from_secs(60), "the budget spent", || {
        let metrics = [metrics_of(&a), metrics_of(&b)];
        let spent: f64 = metrics
            .iter()
            .map(|m| total(m, "tagwarden_shared_cache_budget_spent_total", &[]))
            .sum();
        (spent > 0.0).then_some(metrics)
    });
    let sent = requests(&spent[0]) + requests(&spent[1]);
    assert!(sent > 0.0 && sent <= 5.0, "{sent} requests to {public}");
    // Nothing held back by the budget is missing: it waits, rate-limited. Only the two
    // images the fixture cluster uses without a published tag may be missing (whether
    // either was asked before the budget ran out depends on the order of the checks).
    let truly_missing = ["/clastix/kubectl:v1.32\"", "/bitnami/kubectl:1.27.3\""];
    for m in &spent {
        for line in m.lines().filter(|l| {
            l.starts_with("tagwarden_image_unavailable{") && l.contains("reason=\"missing\"")
        }) {
            assert!(
                truly_missing.iter().any(|image| line.contains(image)),
                "only images the registry lacks are missing: {line}\n{m}"
            );
        }
    }
}
