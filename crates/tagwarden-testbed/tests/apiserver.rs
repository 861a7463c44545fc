//! The test API server against the real `kubectl` (conformance: the server
//! speaks the protocol, not just what our own client expects) and, with
//! plain reqwest, the protocol details kube-rs relies on: paging, selectors,
//! watch from a resourceVersion, bookmarks, `410 Gone`, writes.
//!
//! kubectl is the one [`tagwarden_testbed::kubectl()`] finds: `kubectl` on PATH
//! (on CI the Google Cloud SDK's dispatcher, which asks the server's `/version`
//! and runs the matching `kubectl.1.NN` next to it), and the `kubectl.1.NN`
//! binaries next to it (1.27 … 1.33 there), which are also run directly. A
//! missing or too old kubectl is a failure with advice, never a skip.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};
use tagwarden_testbed::{ApiServer, Fixtures, KubectlBinary, PodWebhook, kubectl_binary};

// ---------------------------------------------------------------- helpers

/// A client that trusts only the server's CA, with its token unless `anonymous`.
fn client(api: &ApiServer) -> Client {
    Client::builder()
        .tls_certs_only(
            reqwest::Certificate::from_pem_bundle(api.ca_cert_pem().as_bytes()).unwrap(),
        )
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

fn get(api: &ApiServer, path: &str) -> Response {
    client(api)
        .get(format!("{}{path}", api.url()))
        .bearer_auth(api.token())
        .send()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn get_json(api: &ApiServer, path: &str) -> Value {
    let resp = get(api, path);
    assert_eq!(resp.status(), 200, "GET {path}");
    resp.json().unwrap()
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {list}"))
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// The JSON lines of a watch answer, until it ends or `stop` says so.
fn watch_events(resp: Response, mut stop: impl FnMut(&Value) -> bool) -> Vec<Value> {
    assert_eq!(resp.status(), 200);
    let mut events = Vec::new();
    for line in BufReader::new(resp).lines() {
        let Ok(line) = line else { break };
        let event: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let done = stop(&event);
        events.push(event);
        if done {
            break;
        }
    }
    events
}

fn pod(namespace: &str, name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": name, "namespace": namespace, "labels": labels },
        "spec": { "containers": [{ "name": "c", "image": "library/busybox:1.36.1" }] },
    })
}

fn deployment(namespace: &str, name: &str, replicas: u32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": name, "namespace": namespace, "labels": { "app": name } },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": name, "image": "library/busybox:1.36.1" }] },
            },
        },
        "status": { "replicas": 0 },
    })
}

/// Wait (bounded) until `cond` holds.
fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `kubectl ARGS` (or that `version` of it) against `api`, in a private HOME and
/// cache dir, killed after `timeout`.
fn kubectl(
    api: &ApiServer,
    version: Option<&KubectlBinary>,
    args: &[&str],
    timeout: Duration,
) -> Output {
    let home = tempfile::tempdir().unwrap();
    let bin = version.unwrap_or_else(|| kubectl_binary()).path.clone();
    let child = kubectl_command(&bin, api, home.path())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    finish_bounded(child, timeout)
}

fn kubectl_command(bin: &Path, api: &ApiServer, home: &Path) -> Command {
    kubeconfig_command(bin, api.kubeconfig_path(), home)
}

fn kubeconfig_command(bin: &Path, kubeconfig: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env("HOME", home)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("KUBECTL_EXTERNAL_DIFF")
        .arg(format!("--cache-dir={}", home.join("cache").display()))
        .arg("--request-timeout=20s");
    cmd
}

/// Wait for `child`, killing it after `timeout`; its output either way.
fn finish_bounded(mut child: std::process::Child, timeout: Duration) -> Output {
    let out = reader(child.stdout.take().unwrap());
    let err = reader(child.stderr.take().unwrap());
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

fn reader(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "kubectl failed: {}\n{}",
        text(&out.stderr),
        text(&out.stdout)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("kubectl printed no JSON ({e}): {}", text(&out.stdout)))
}

const KUBECTL_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------- kubectl

#[test]
fn kubectl_version_shows_the_server_version() {
    let api = ApiServer::start();
    let v = ok_json(&kubectl(
        &api,
        None,
        &["version", "-o", "json"],
        KUBECTL_TIMEOUT,
    ));
    assert_eq!(v["serverVersion"]["gitVersion"], "v1.32.1-eks-5e0fdde");
    assert_eq!(v["serverVersion"]["minor"], "32+");
    // The dispatcher asked /version to choose its kubectl.
    assert!(api.requests().iter().any(|r| r.path == "/version"));
}

#[test]
fn kubectl_lists_the_fixture_pods_in_all_namespaces() {
    let api = ApiServer::start();
    let list = ok_json(&kubectl(
        &api,
        None,
        &["get", "pods", "-A", "-o", "json"],
        KUBECTL_TIMEOUT,
    ));
    let got = names(&list);
    for want in [
        "capsule-crds-8x7kq",
        "capsule-controller-manager-7d9f8b6c5d-x2k9p",
        "web-6c9d7f4b8c-k7w2m",
        "web-6c9d7f4b8c-p9t4x",
        "toolbox",
        "ledger-0",
    ] {
        assert!(got.contains(&want.to_string()), "{want} not in {got:?}");
    }
    let hook = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["metadata"]["name"] == "capsule-crds-8x7kq")
        .unwrap();
    assert_eq!(
        hook["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "ImagePullBackOff"
    );
    assert_eq!(
        hook["spec"]["containers"][0]["image"],
        "clastix/kubectl:v1.32"
    );
    assert_eq!(hook["metadata"]["ownerReferences"][0]["kind"], "Job");
}

#[test]
fn kubectl_prints_the_server_side_table() {
    let api = ApiServer::start();
    let out = kubectl(&api, None, &["get", "pods", "-A"], KUBECTL_TIMEOUT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let header = table.lines().next().unwrap_or_default();
    for col in ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"] {
        assert!(header.contains(col), "no {col} in {header:?}");
    }
    let hook = table
        .lines()
        .find(|l| l.contains("capsule-crds-8x7kq"))
        .unwrap_or_else(|| panic!("no hook pod in\n{table}"));
    assert!(
        hook.contains("0/1") && hook.contains("ImagePullBackOff"),
        "{hook}"
    );
    assert!(
        api.requests()
            .iter()
            .any(|r| r.accept.as_deref().unwrap_or("").contains("as=Table")),
        "kubectl did not ask for a Table"
    );
}

#[test]
fn kubectl_watch_sees_a_deployment_added_while_it_watches() {
    let api = ApiServer::start();
    let home = tempfile::tempdir().unwrap();
    let mut child = kubectl_command(&kubectl_binary().path, &api, home.path())
        .args(["get", "deploy", "-A", "-w", "--output-watch-events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl");
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_line = |what: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line.contains(what) => return line,
                Ok(_) => continue,
                Err(_) => panic!("kubectl -w printed no line with {what:?}"),
            }
        }
    };
    wait_line("cluster-janitor");
    wait_for("kubectl's watch request", Duration::from_secs(30), || {
        api.requests()
            .iter()
            .any(|r| r.path.ends_with("/deployments") && r.query.contains("watch=true"))
    });
    api.apply(deployment("shop", "checkout", 3));
    let added = wait_line("checkout");
    assert!(added.contains("ADDED") && added.contains("shop"), "{added}");
    api.modify("apps/v1", "Deployment", Some("shop"), "checkout", |d| {
        d["status"]["readyReplicas"] = json!(3);
        d["status"]["replicas"] = json!(3);
    });
    let modified = wait_line("checkout");
    assert!(
        modified.contains("MODIFIED") && modified.contains("3/3"),
        "{modified}"
    );
    assert!(api.delete("apps/v1", "Deployment", Some("shop"), "checkout"));
    assert!(wait_line("checkout").contains("DELETED"));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn kubectl_gets_secrets_until_rbac_forbids_them() {
    let api = ApiServer::start();
    let args = ["get", "secret", "regcred", "-n", "payments", "-o", "json"];
    let secret = ok_json(&kubectl(&api, None, &args, KUBECTL_TIMEOUT));
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");

    api.forbid("secrets");
    let out = kubectl(&api, None, &args, KUBECTL_TIMEOUT);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "secrets \"regcred\" is forbidden: User \"kubernetes-admin\" \
             cannot get resource \"secrets\" in API group \"\" in the namespace \"payments\""
        ),
        "{err}"
    );
    let sa = ok_json(&kubectl(
        &api,
        None,
        &["get", "sa", "ledger", "-n", "payments", "-o", "json"],
        KUBECTL_TIMEOUT,
    ));
    assert_eq!(sa["imagePullSecrets"][0]["name"], "regcred");
}

#[test]
fn kubectl_with_a_wrong_token_is_unauthorized() {
    let api = ApiServer::builder().token("another-token").start();
    let kubeconfig = api.kubeconfig().replace("another-token", "wrong-token");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(&path, kubeconfig).unwrap();
    let newest = tagwarden_testbed::kubectl().newest();
    let out = newest
        .command()
        .env("HOME", dir.path())
        .args([
            "--kubeconfig",
            path.to_str().unwrap(),
            "get",
            "pods",
            "--request-timeout=20s",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    // What kubectl says to a real cluster's 401 (the discovery client does
    // not read the Status body).
    assert!(
        text(&out.stderr).contains("error: You must be logged in to the server"),
        "{}: {}",
        newest.describe(),
        text(&out.stderr)
    );
}

/// The oldest and newest kubectl this machine has (1.27 and 1.33 on CI:
/// aggregated discovery v2beta1 and v2): both list and print.
#[test]
fn the_oldest_and_newest_kubectl_list_deployments() {
    let api = ApiServer::start();
    let found = tagwarden_testbed::kubectl();
    for version in [found.oldest(), found.newest()] {
        let what = format!(
            "{} (of the kubectl versions present: {})",
            version.describe(),
            found.describe_versions()
        );
        let list = ok_json(&kubectl(
            &api,
            Some(version),
            &["get", "deploy", "-n", "shop", "-o", "json"],
            KUBECTL_TIMEOUT,
        ));
        assert_eq!(names(&list), ["web"], "{what}");
        let out = kubectl(&api, Some(version), &["get", "cj", "-A"], KUBECTL_TIMEOUT);
        assert!(
            text(&out.stdout).contains("nightly-export"),
            "{what}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn an_unauthenticated_request_is_401_with_a_status() {
    let api = ApiServer::start();
    for token in [None, Some("wrong")] {
        let mut req = client(&api).get(format!("{}/api/v1/pods", api.url()));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().unwrap();
        assert_eq!(resp.status(), 401);
        let status: Value = resp.json().unwrap();
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["reason"], "Unauthorized");
        assert_eq!(status["code"], 401);
    }
}

// ---------------------------------------------------------------- protocol

#[test]
fn discovery_has_the_real_shapes_and_negotiates_aggregation() {
    let api = ApiServer::start();
    let apps = get_json(&api, "/apis/apps/v1");
    assert_eq!(
        (apps["kind"].as_str(), apps["groupVersion"].as_str()),
        (Some("APIResourceList"), Some("apps/v1"))
    );
    let deploy = apps["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "deployments")
        .unwrap();
    assert_eq!(deploy["shortNames"], json!(["deploy"]));
    assert_eq!(deploy["namespaced"], true);
    assert!(
        deploy["verbs"]
            .as_array()
            .unwrap()
            .contains(&json!("watch"))
    );
    for gv in [
        "/api/v1",
        "/apis/batch/v1",
        "/apis/events.k8s.io/v1",
        "/apis/coordination.k8s.io/v1",
    ] {
        assert_eq!(get_json(&api, gv)["kind"], "APIResourceList", "{gv}");
    }
    assert_eq!(get_json(&api, "/api")["versions"], json!(["v1"]));
    assert_eq!(get_json(&api, "/apis")["kind"], "APIGroupList");

    let aggregated =
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    let resp = client(&api)
        .get(format!("{}/apis", api.url()))
        .bearer_auth(api.token())
        .header("Accept", aggregated)
        .send()
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let list: Value = resp.json().unwrap();
    assert_eq!(list["kind"], "APIGroupDiscoveryList");
    let groups: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["metadata"]["name"].as_str().unwrap())
        .collect();
    assert!(
        groups.contains(&"apps") && groups.contains(&"coordination.k8s.io"),
        "{groups:?}"
    );
    // Without the aggregated type acceptable: the legacy document.
    let resp = client(&api)
        .get(format!("{}/apis", api.url()))
        .bearer_auth(api.token())
        .header("Accept", "application/json")
        .send()
        .unwrap();
    assert_eq!(resp.json::<Value>().unwrap()["kind"], "APIGroupList");
}

#[test]
fn lists_page_with_limit_and_continue_over_one_snapshot() {
    let api = ApiServer::builder().empty().start();
    for (ns, name) in [
        ("a", "p1"),
        ("a", "p2"),
        ("b", "p3"),
        ("b", "p4"),
        ("c", "p5"),
        ("c", "p6"),
        ("c", "p7"),
    ] {
        api.apply(pod(ns, name, json!({})));
    }
    let first = get_json(&api, "/api/v1/pods?limit=3");
    assert_eq!(names(&first), ["p1", "p2", "p3"]);
    assert_eq!(first["metadata"]["remainingItemCount"], 4);
    let rv = first["metadata"]["resourceVersion"].clone();
    // Changes after the first page do not show in the later pages.
    api.apply(pod("a", "p0-late", json!({})));
    api.delete("v1", "Pod", Some("c"), "p7");
    let mut all = names(&first);
    let mut token = first["metadata"]["continue"].as_str().unwrap().to_string();
    let mut pages = 1;
    loop {
        let page = get_json(&api, &format!("/api/v1/pods?limit=3&continue={token}"));
        assert_eq!(page["metadata"]["resourceVersion"], rv);
        all.extend(names(&page));
        pages += 1;
        match page["metadata"]["continue"].as_str() {
            Some(t) if !t.is_empty() => token = t.to_string(),
            _ => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(all, ["p1", "p2", "p3", "p4", "p5", "p6", "p7"]);
    assert_eq!(pages, 3);
    // A namespaced list, and a fresh list sees the changes.
    assert_eq!(
        names(&get_json(&api, "/api/v1/namespaces/c/pods")),
        ["p5", "p6"]
    );
    // Once compacted, the old continue token is 410 Expired.
    api.compact();
    let resp = get(&api, &format!("/api/v1/pods?limit=3&continue={token}"));
    assert_eq!(resp.status(), 410);
    assert_eq!(resp.json::<Value>().unwrap()["reason"], "Expired");
}

#[test]
fn label_selectors_select() {
    let api = ApiServer::start();
    let sel = |s: &str| {
        let mut n = names(&get_json(
            &api,
            &format!("/api/v1/pods?labelSelector={}", urlencode(s)),
        ));
        n.sort();
        n
    };
    assert_eq!(
        sel("app.kubernetes.io/name in (web,ledger)"),
        ["ledger-0", "web-6c9d7f4b8c-k7w2m", "web-6c9d7f4b8c-p9t4x"]
    );
    assert_eq!(sel("app.kubernetes.io/name=web,tier==frontend").len(), 2);
    assert_eq!(sel("job-name"), ["capsule-crds-8x7kq"]);
    assert!(!sel("!job-name").contains(&"capsule-crds-8x7kq".to_string()));
    assert!(!sel("tier!=frontend").iter().any(|n| n.starts_with("web-")));
    assert!(sel("app.kubernetes.io/name notin (web)").contains(&"toolbox".to_string()));
    let resp = get(&api, "/api/v1/pods?labelSelector=a%20in%20(b");
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().unwrap()["reason"], "BadRequest");
    // Field selectors, as kube-rs uses for one object.
    let one = get_json(
        &api,
        "/api/v1/namespaces/debug/pods?fieldSelector=metadata.name%3Dtoolbox",
    );
    assert_eq!(names(&one), ["toolbox"]);
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn a_watch_from_a_resource_version_replays_every_later_change() {
    let api = ApiServer::start();
    let rv = get_json(&api, "/apis/apps/v1/deployments")["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    api.apply(deployment("shop", "cart", 1));
    api.modify("apps/v1", "Deployment", Some("shop"), "cart", |d| {
        d["spec"]["replicas"] = json!(2)
    });
    api.delete("apps/v1", "Deployment", Some("shop"), "cart");
    api.apply(pod("shop", "not-a-deployment", json!({})));
    let resp = get(
        &api,
        &format!("/apis/apps/v1/deployments?watch=1&resourceVersion={rv}&timeoutSeconds=1"),
    );
    let events = watch_events(resp, |_| false);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);
    let rvs: Vec<u64> = events
        .iter()
        .map(|e| {
            e["object"]["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(rvs.windows(2).all(|w| w[0] < w[1]), "{rvs:?}");
    assert_eq!(events[1]["object"]["spec"]["replicas"], 2);
    assert_eq!(events[0]["object"]["kind"], "Deployment");
    assert_eq!(events[1]["object"]["metadata"]["generation"], 2);
}

#[test]
fn an_open_watch_sees_changes_as_they_happen_through_its_selector() {
    let api = ApiServer::builder().empty().start();
    let rv = api.resource_version();
    let url = format!(
        "{}/api/v1/namespaces/shop/pods?watch=true&resourceVersion={rv}&labelSelector=app%3Dweb&timeoutSeconds=10",
        api.url()
    );
    let resp = client(&api)
        .get(url)
        .bearer_auth(api.token())
        .send()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        watch_events(resp, |e| {
            tx.send(e.clone()).unwrap();
            e["type"] == "DELETED"
        })
    });
    let next = || {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("a watch event")
    };
    api.apply(pod("other", "elsewhere", json!({ "app": "web" })));
    api.apply(pod("shop", "web-1", json!({ "app": "web" })));
    let added = next();
    assert_eq!(
        (
            added["type"].as_str(),
            added["object"]["metadata"]["name"].as_str()
        ),
        (Some("ADDED"), Some("web-1"))
    );
    api.modify("v1", "Pod", Some("shop"), "web-1", |p| {
        p["status"] = json!({ "phase": "Running" })
    });
    assert_eq!(next()["type"], "MODIFIED");
    // Leaving the selector is a DELETED for this watch.
    api.modify("v1", "Pod", Some("shop"), "web-1", |p| {
        p["metadata"]["labels"] = json!({ "app": "db" })
    });
    let left = next();
    assert_eq!(left["type"], "DELETED");
    assert_eq!(left["object"]["metadata"]["labels"]["app"], "db");
    assert_eq!(reader.join().unwrap().len(), 3);
}

#[test]
fn bookmarks_come_when_allowed() {
    let api = ApiServer::builder()
        .bookmark_interval(Duration::from_millis(50))
        .start();
    let rv = api.resource_version();
    let resp = get(
        &api,
        &format!(
            "/api/v1/pods?watch=1&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=5"
        ),
    );
    let events = watch_events(resp, |e| e["type"] == "BOOKMARK");
    let bookmark = events.last().unwrap();
    assert_eq!(bookmark["type"], "BOOKMARK");
    assert_eq!(bookmark["object"]["kind"], "Pod");
    let at: u64 = bookmark["object"]["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(at >= rv);
    // Without allowWatchBookmarks there are none: the watch just times out.
    let resp = get(
        &api,
        &format!("/api/v1/pods?watch=1&resourceVersion={rv}&timeoutSeconds=1"),
    );
    assert!(watch_events(resp, |_| false).is_empty());
}

#[test]
fn the_streaming_list_ends_its_initial_events_with_a_bookmark() {
    let api = ApiServer::start();
    let resp = get(
        &api,
        "/apis/apps/v1/deployments?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=5",
    );
    let events = watch_events(resp, |e| e["type"] == "BOOKMARK");
    let (last, initial) = events.split_last().unwrap();
    assert_eq!(
        last["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(initial.len(), api.list("apps/v1", "Deployment").len());
    assert!(initial.iter().all(|e| e["type"] == "ADDED"));
}

#[test]
fn without_watch_list_the_streaming_list_is_422_and_plain_watches_work() {
    let api = ApiServer::builder().streaming_lists(false).start();
    let resp = get(
        &api,
        "/apis/apps/v1/deployments?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=5",
    );
    assert_eq!(resp.status(), 422);
    let status: Value = resp.json().unwrap();
    assert_eq!(status["reason"], "Invalid");
    assert!(
        status["message"].as_str().unwrap().contains(
            "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled"
        ),
        "{status}"
    );
    let resp = get(&api, "/apis/apps/v1/deployments?watch=1&timeoutSeconds=1");
    assert_eq!(resp.status(), 200);
    let events = watch_events(resp, |_| false);
    assert_eq!(events.len(), api.list("apps/v1", "Deployment").len());
}

#[test]
fn a_too_old_resource_version_is_410_gone_in_the_stream() {
    let api = ApiServer::start();
    let old = api.resource_version();
    api.apply(deployment("shop", "cart", 1));
    let compacted = api.compact();
    let resp = get(
        &api,
        &format!("/apis/apps/v1/deployments?watch=1&resourceVersion={old}"),
    );
    let events = watch_events(resp, |_| false);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "ERROR");
    let status = &events[0]["object"];
    assert_eq!(
        (status["kind"].as_str(), status["code"].as_u64()),
        (Some("Status"), Some(410))
    );
    assert_eq!(status["reason"], "Expired");
    assert_eq!(
        status["message"],
        format!("too old resource version: {old} ({compacted})")
    );
    // From the compacted version on, watching works again.
    let resp = get(
        &api,
        &format!("/apis/apps/v1/deployments?watch=1&resourceVersion={compacted}&timeoutSeconds=1"),
    );
    assert!(watch_events(resp, |_| false).is_empty());
}

/// What `serve` must survive: the connection is lost mid-watch, and on the
/// reconnect from its last resourceVersion the history is gone.
#[test]
fn a_dropped_watch_connection_then_410_on_the_reconnect() {
    let api = ApiServer::start();
    let rv = api.resource_version();
    let resp = get(
        &api,
        &format!("/apis/apps/v1/deployments?watch=1&resourceVersion={rv}"),
    );
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(resp).lines();
        let _ = tx.send(lines.next().map(|l| l.is_ok()));
        let _ = tx.send(lines.next().map(|l| l.is_err()));
    });
    api.apply(deployment("shop", "cart", 1));
    let first = rx.recv_timeout(Duration::from_secs(10)).expect("an event");
    assert_eq!(first, Some(true), "the ADDED event came first");
    api.compact();
    api.drop_watches();
    let after = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the watch ends");
    assert_eq!(
        after,
        Some(true),
        "the connection broke mid-body instead of ending cleanly"
    );
    // The reconnect from the last version seen: 410 in the stream.
    let resp = get(
        &api,
        &format!("/apis/apps/v1/deployments?watch=1&resourceVersion={rv}"),
    );
    let events = watch_events(resp, |_| false);
    assert_eq!(events[0]["object"]["code"], 410);
}

#[test]
fn watches_end_when_the_server_is_dropped() {
    let api = ApiServer::start();
    let resp = get(&api, "/api/v1/pods?watch=1&allowWatchBookmarks=true");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let n = watch_events(resp, |_| false).len();
        let _ = tx.send(n);
    });
    drop(api);
    let initial = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the watch ends with the server");
    assert!(
        initial >= 6,
        "the initial ADDED events came first ({initial})"
    );
}

#[test]
fn events_leases_and_pods_are_written_as_the_real_server_writes_them() {
    let api = ApiServer::start();
    let http = client(&api);
    let post = |path: &str, body: Value| {
        http.post(format!("{}{path}", api.url()))
            .bearer_auth(api.token())
            .json(&body)
            .send()
            .unwrap()
    };
    // An events.k8s.io/v1 Event, as kube-runtime's Recorder creates it.
    let resp = post(
        "/apis/events.k8s.io/v1/namespaces/capsule-system/events",
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": { "generateName": "capsule-crds." },
            "eventTime": "2026-11-30T09:00:00.000000Z", "action": "Check",
            "reason": "ImageMissing", "note": "clastix/kubectl:v1.32 is missing; v1.31 is published",
            "type": "Warning", "reportingController": "tagwarden", "reportingInstance": "tagwarden-0",
            "regarding": { "kind": "Job", "namespace": "capsule-system", "name": "capsule-crds" },
        }),
    );
    assert_eq!(resp.status(), 201);
    let event: Value = resp.json().unwrap();
    assert!(
        event["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("capsule-crds.")
    );
    assert!(
        event["metadata"]["uid"].is_string() && event["metadata"]["resourceVersion"].is_string()
    );
    let name = event["metadata"]["name"].as_str().unwrap();
    let resp = http
        .patch(format!(
            "{}/apis/events.k8s.io/v1/namespaces/capsule-system/events/{name}",
            api.url()
        ))
        .bearer_auth(api.token())
        .header("Content-Type", "application/merge-patch+json")
        .body(
            json!({ "series": { "count": 2, "lastObservedTime": "2026-11-30T09:05:00.000000Z" } })
                .to_string(),
        )
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().unwrap()["series"]["count"], 2);
    // One store, two APIs: the core view of it, as `kubectl get events` reads it …
    let core = get_json(
        &api,
        &format!("/api/v1/namespaces/capsule-system/events/{name}"),
    );
    assert_eq!(core["apiVersion"], "v1");
    assert_eq!(
        core["message"],
        "clastix/kubectl:v1.32 is missing; v1.31 is published"
    );
    assert_eq!(core["involvedObject"]["name"], "capsule-crds");
    assert_eq!(core["reportingComponent"], "tagwarden");
    let listed = ok_json(&kubectl(
        &api,
        None,
        &["get", "events", "-n", "capsule-system", "-o", "json"],
        KUBECTL_TIMEOUT,
    ));
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "ImageMissing"),
        "kubectl get events does not show the Event"
    );
    // … and the kubelet's core Events through events.k8s.io/v1.
    let kubelet = get_json(
        &api,
        "/apis/events.k8s.io/v1/namespaces/capsule-system/events?fieldSelector=regarding.name%3Dcapsule-crds-8x7kq",
    );
    assert_eq!(kubelet["items"].as_array().unwrap().len(), 5);
    assert!(kubelet["items"][0]["note"].is_string());
    assert_eq!(
        kubelet["items"][0]["deprecatedSource"]["component"],
        "kubelet"
    );

    // A Lease: create, then an update with a stale resourceVersion conflicts.
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": { "name": "tagwarden", "namespace": "default" },
        "spec": { "holderIdentity": "a", "leaseDurationSeconds": 15 },
    });
    let created: Value = post(
        "/apis/coordination.k8s.io/v1/namespaces/default/leases",
        lease.clone(),
    )
    .json()
    .unwrap();
    assert_eq!(
        post(
            "/apis/coordination.k8s.io/v1/namespaces/default/leases",
            lease
        )
        .status(),
        409
    );
    let put = |body: &Value| {
        http.put(format!(
            "{}/apis/coordination.k8s.io/v1/namespaces/default/leases/tagwarden",
            api.url()
        ))
        .bearer_auth(api.token())
        .json(body)
        .send()
        .unwrap()
    };
    let mut renewed = created.clone();
    renewed["spec"]["holderIdentity"] = json!("b");
    assert_eq!(put(&renewed).status(), 200);
    let stale = put(&renewed);
    assert_eq!(stale.status(), 409);
    assert_eq!(stale.json::<Value>().unwrap()["reason"], "Conflict");

    // A Pod with generateName, as a Job controller creates it.
    let mut p = pod("capsule-system", "x", json!({ "job-name": "capsule-crds" }));
    p["metadata"].as_object_mut().unwrap().remove("name");
    p["metadata"]["generateName"] = json!("capsule-crds-");
    let resp = post("/api/v1/namespaces/capsule-system/pods", p);
    assert_eq!(resp.status(), 201);
    let made: Value = resp.json().unwrap();
    let name = made["metadata"]["name"].as_str().unwrap();
    assert_eq!(name.len(), "capsule-crds-".len() + 5);
    assert!(api.get("v1", "Pod", Some("capsule-system"), name).is_some());
    let gone = http
        .delete(format!(
            "{}/api/v1/namespaces/capsule-system/pods/{name}",
            api.url()
        ))
        .bearer_auth(api.token())
        .send()
        .unwrap();
    assert_eq!(gone.status(), 200);
    assert!(api.get("v1", "Pod", Some("capsule-system"), name).is_none());
    assert_eq!(
        get(
            &api,
            &format!("/api/v1/namespaces/capsule-system/pods/{name}")
        )
        .status(),
        404
    );
}

/// kube-lease-manager takes an orphaned Lease with a server-side apply and
/// counts on the real server's conflict when another replica got there first.
#[test]
fn server_side_apply_conflicts_as_leader_election_needs() {
    let api = ApiServer::builder().empty().start();
    let http = client(&api);
    let url = format!(
        "{}/apis/coordination.k8s.io/v1/namespaces/default/leases/tagwarden",
        api.url()
    );
    let patch = |manager: &str, content_type: &str, extra: &str, body: Value| {
        http.patch(format!("{url}?fieldManager={manager}{extra}"))
            .bearer_auth(api.token())
            .header("Content-Type", content_type)
            .body(body.to_string())
            .send()
            .unwrap()
    };
    let apply = |manager: &str, holder: &str, extra: &str| {
        let body = json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "spec": { "holderIdentity": holder, "leaseDurationSeconds": 15 },
        });
        patch(manager, "application/apply-patch+yaml", extra, body)
    };
    let holder = || {
        api.get(
            "coordination.k8s.io/v1",
            "Lease",
            Some("default"),
            "tagwarden",
        )
        .unwrap()["spec"]["holderIdentity"]
            .clone()
    };

    assert_eq!(apply("lease-a", "a", "").status(), 201);
    let lost = apply("lease-b", "b", "");
    assert_eq!(lost.status(), 409);
    let status: Value = lost.json().unwrap();
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(
        status["details"]["causes"][0]["reason"],
        "FieldManagerConflict"
    );
    assert_eq!(
        status["details"]["causes"][0]["field"],
        ".spec.holderIdentity"
    );
    assert_eq!(holder(), "a");
    // Re-applying the same values is no conflict.
    assert_eq!(apply("lease-b", "a", "").status(), 200);
    // The holder releases with a strategic merge patch of nulls: the field is free.
    let release = json!({ "spec": { "holderIdentity": null, "leaseDurationSeconds": null } });
    assert_eq!(
        patch(
            "lease-a",
            "application/strategic-merge-patch+json",
            "",
            release
        )
        .status(),
        200
    );
    assert_eq!(apply("lease-b", "b", "").status(), 200);
    assert_eq!(holder(), "b");
    // force=true takes a field over.
    assert_eq!(apply("lease-a", "a", "&force=true").status(), 200);
    assert_eq!(holder(), "a");
    let lease = api
        .get(
            "coordination.k8s.io/v1",
            "Lease",
            Some("default"),
            "tagwarden",
        )
        .unwrap();
    let owners: Vec<&str> = lease["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["fieldsV1"]["f:spec"].get("f:holderIdentity").is_some())
        .map(|e| e["manager"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["lease-a"]);
}

#[test]
fn fixtures_follow_the_registry_hosts() {
    let api = ApiServer::builder()
        .fixtures(Fixtures::standard().public_registry("127.0.0.1:5000"))
        .start();
    let pod = get_json(
        &api,
        "/api/v1/namespaces/capsule-system/pods/capsule-crds-8x7kq",
    );
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        "127.0.0.1:5000/clastix/kubectl:v1.32"
    );
    let events = get_json(
        &api,
        "/api/v1/namespaces/capsule-system/events?fieldSelector=reason%3DFailed",
    );
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["message"]
                .as_str()
                .unwrap()
                .contains("127.0.0.1:5000/clastix/kubectl:v1.32: not found")),
        "{events}"
    );
    let nodes = get_json(&api, "/api/v1/nodes");
    let arches: Vec<&str> = nodes["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["status"]["nodeInfo"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(arches, ["amd64", "arm64", "arm64"]);
    // Owner chain Pod → ReplicaSet → Deployment.
    let web_pod = get_json(&api, "/api/v1/namespaces/shop/pods/web-6c9d7f4b8c-k7w2m");
    let rs_ref = &web_pod["metadata"]["ownerReferences"][0];
    let rs = get_json(
        &api,
        &format!(
            "/apis/apps/v1/namespaces/shop/replicasets/{}",
            rs_ref["name"].as_str().unwrap()
        ),
    );
    assert_eq!(rs["metadata"]["uid"], rs_ref["uid"]);
    let dep_ref = &rs["metadata"]["ownerReferences"][0];
    let dep = get_json(&api, "/apis/apps/v1/namespaces/shop/deployments/web");
    assert_eq!(dep["metadata"]["uid"], dep_ref["uid"]);
}

#[test]
fn kubectl_patches_and_applies_server_side() {
    let api = ApiServer::start();
    let janitor = || {
        api.get("apps/v1", "Deployment", Some("reports"), "cluster-janitor")
            .unwrap()
    };
    let generation = janitor()["metadata"]["generation"].as_i64().unwrap();
    let out = kubectl(
        &api,
        None,
        &[
            "patch",
            "deploy",
            "cluster-janitor",
            "-n",
            "reports",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/replicas","value":1}]"#,
        ],
        KUBECTL_TIMEOUT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(janitor()["spec"]["replicas"], 1);
    assert_eq!(janitor()["metadata"]["generation"], generation + 1);
    let out = kubectl(
        &api,
        None,
        &[
            "patch",
            "deploy",
            "web",
            "-n",
            "shop",
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"team":"shop"}}}"#,
        ],
        KUBECTL_TIMEOUT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let web = api
        .get("apps/v1", "Deployment", Some("shop"), "web")
        .unwrap();
    assert_eq!(web["metadata"]["labels"]["team"], "shop");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lease.json");
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": { "name": "tagwarden", "namespace": "default" },
        "spec": { "holderIdentity": "kubectl", "leaseDurationSeconds": 15 },
    });
    std::fs::write(&file, lease.to_string()).unwrap();
    let out = kubectl(
        &api,
        None,
        &["apply", "--server-side", "-f", file.to_str().unwrap()],
        KUBECTL_TIMEOUT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("serverside-applied"),
        "{}",
        text(&out.stdout)
    );
    let stored = api
        .get(
            "coordination.k8s.io/v1",
            "Lease",
            Some("default"),
            "tagwarden",
        )
        .unwrap();
    assert_eq!(stored["spec"]["holderIdentity"], "kubectl");
    assert_eq!(stored["metadata"]["managedFields"][0]["operation"], "Apply");
}

/// A Pod as the Job controller creates it for the Capsule hook Job.
fn job_pod(job_uid: &Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "generateName": "capsule-crds-",
            "namespace": "capsule-system",
            "labels": { "job-name": "capsule-crds" },
            "ownerReferences": [{
                "apiVersion": "batch/v1", "kind": "Job", "name": "capsule-crds",
                "uid": job_uid, "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": {
            "restartPolicy": "Never",
            "containers": [{ "name": "crds-hook", "image": "clastix/kubectl:v1.32" }],
        },
    })
}

/// The name in kubectl's `pod/NAME created`.
fn created_name(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    said.trim()
        .strip_prefix("pod/")
        .and_then(|s| s.strip_suffix(" created"))
        .unwrap_or_else(|| panic!("kubectl said {said:?}"))
        .to_string()
}

/// A plain-HTTP admission webhook on loopback answering each review with
/// `answer`; the reviews it got come out of the receiver.
fn webhook_server(
    answer: impl Fn(&Value) -> Value + Send + 'static,
) -> (String, mpsc::Receiver<Value>) {
    use std::io::Write as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mutate", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim_end().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let review: Value = serde_json::from_slice(&body).unwrap();
            let out = answer(&review).to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{out}",
                out.len()
            );
            if tx.send(review).is_err() {
                break;
            }
        }
    });
    (url, rx)
}

/// The webhook issue's path end to end: `kubectl create -f` a hook Job's
/// Pod, the server asks the mutating webhook, applies its JSON Patch and
/// passes its warning to kubectl.
#[test]
fn pod_creates_go_through_the_mutating_webhook() {
    use base64::Engine as _;
    let (url, reviews) = webhook_server(|review| {
        let patch = json!([
            { "op": "replace", "path": "/spec/containers/0/image", "value": "clastix/kubectl:v1.31" },
            { "op": "add", "path": "/metadata/annotations", "value": {
                "tagwarden.io/original-images": "{\"crds-hook\":\"clastix/kubectl:v1.32\"}" } },
        ]);
        json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {
                "uid": review["request"]["uid"], "allowed": true, "patchType": "JSONPatch",
                "patch": base64::engine::general_purpose::STANDARD.encode(patch.to_string()),
                "warnings": ["tagwarden: clastix/kubectl:v1.32 is not published; using v1.31"],
            },
        })
    });
    let api = ApiServer::builder()
        .pod_webhook(PodWebhook::new("tagwarden.io", url))
        .start();
    let job_uid = api
        .get("batch/v1", "Job", Some("capsule-system"), "capsule-crds")
        .unwrap()["metadata"]["uid"]
        .clone();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("job-pod.json");
    std::fs::write(&file, job_pod(&job_uid).to_string()).unwrap();
    let out = kubectl(
        &api,
        None,
        &["create", "-f", file.to_str().unwrap()],
        KUBECTL_TIMEOUT,
    );
    let name = created_name(&out);
    assert!(
        text(&out.stderr)
            .contains("Warning: tagwarden: clastix/kubectl:v1.32 is not published; using v1.31"),
        "{}",
        text(&out.stderr)
    );
    let review = reviews
        .recv_timeout(Duration::from_secs(10))
        .expect("the webhook was called");
    let request = &review["request"];
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
    // No name yet (generateName): kube omits the empty `name`.
    assert_eq!(
        (request["operation"].as_str(), request.get("name")),
        (Some("CREATE"), None)
    );
    assert_eq!(request["namespace"], "capsule-system");
    assert_eq!(
        request["kind"],
        json!({ "group": "", "version": "v1", "kind": "Pod" })
    );
    assert_eq!(
        request["object"]["metadata"]["generateName"],
        "capsule-crds-"
    );
    let pod = ok_json(&kubectl(
        &api,
        None,
        &["get", "pod", &name, "-n", "capsule-system", "-o", "json"],
        KUBECTL_TIMEOUT,
    ));
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        "clastix/kubectl:v1.31"
    );
    assert!(pod["metadata"]["annotations"]["tagwarden.io/original-images"].is_string());

    // failurePolicy: Ignore (the default): a webhook that is down changes nothing.
    let dead = format!("http://{}/mutate", tagwarden_testbed::dead_addr());
    api.set_pod_webhook(Some(PodWebhook::new("tagwarden.io", dead.clone())));
    let post = || {
        client(&api)
            .post(format!(
                "{}/api/v1/namespaces/capsule-system/pods",
                api.url()
            ))
            .bearer_auth(api.token())
            .json(&job_pod(&job_uid))
            .send()
            .unwrap()
    };
    let resp = post();
    assert_eq!(resp.status(), 201);
    assert_eq!(
        resp.json::<Value>().unwrap()["spec"]["containers"][0]["image"],
        "clastix/kubectl:v1.32"
    );
    // failurePolicy: Fail: the create fails.
    let mut closed = PodWebhook::new("tagwarden.io", dead);
    closed.fail_closed = true;
    api.set_pod_webhook(Some(closed));
    let resp = post();
    assert_eq!(resp.status(), 500);
    let status: Value = resp.json().unwrap();
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("failed calling webhook \"tagwarden.io\""),
        "{status}"
    );
    // A namespaceSelector that does not match: no call at all.
    let mut unselected = PodWebhook::new("tagwarden.io", "http://127.0.0.1:1/never");
    unselected.fail_closed = true;
    unselected.namespace_selector = Some("tagwarden.io/mutate=enabled".into());
    api.set_pod_webhook(Some(unselected));
    assert_eq!(post().status(), 201);
}

/// The webhook issue's client path: `kubectl create -f` a hook Job's Pod as
/// the Job controller makes it (generateName, owner reference), then read
/// it back. kubectl asks `/openapi/v3` whether the server validates fields.
#[test]
fn kubectl_creates_a_pod_from_a_file() {
    let api = ApiServer::start();
    let job_uid = api
        .get("batch/v1", "Job", Some("capsule-system"), "capsule-crds")
        .unwrap()["metadata"]["uid"]
        .clone();
    let manifest = job_pod(&job_uid);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("job-pod.json");
    std::fs::write(&file, manifest.to_string()).unwrap();
    let out = kubectl(
        &api,
        None,
        &["create", "-f", file.to_str().unwrap()],
        KUBECTL_TIMEOUT,
    );
    let name = created_name(&out);
    assert!(
        name.starts_with("capsule-crds-") && name.len() == "capsule-crds-".len() + 5,
        "{name}"
    );
    let create = api
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("kubectl posted the Pod");
    assert!(
        create.query.contains("fieldManager=kubectl-create"),
        "{create:?}"
    );
    let pod = ok_json(&kubectl(
        &api,
        None,
        &["get", "pod", &name, "-n", "capsule-system", "-o", "json"],
        KUBECTL_TIMEOUT,
    ));
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        "clastix/kubectl:v1.32"
    );
    assert_eq!(pod["metadata"]["ownerReferences"][0]["uid"], job_uid);
    // (kubectl hides managedFields; the server has them.)
    let stored = api.get("v1", "Pod", Some("capsule-system"), &name).unwrap();
    assert_eq!(
        stored["metadata"]["managedFields"][0]["manager"],
        "kubectl-create"
    );
}

// ---------------------------------------------------------------- RBAC

/// The ServiceAccount the RBAC tests grant things to.
const SA: &str = "system:serviceaccount:tagwarden:tagwarden";

/// Its namespace and itself, a ClusterRole to list and watch Pods
/// everywhere, a Role to list Deployments in `shop`, and a ClusterRole
/// to get the Secret `regcred`, bound in `payments` only.
const GRANTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: { name: tagwarden }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: tagwarden, namespace: tagwarden }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: pod-watcher }
rules:
- { apiGroups: [""], resources: [pods], verbs: [list, watch] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: tagwarden-pod-watcher }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pod-watcher }
subjects:
- { kind: ServiceAccount, name: tagwarden, namespace: tagwarden }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: deployment-reader, namespace: shop }
rules:
- { apiGroups: [apps], resources: [deployments], verbs: [get, list] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: tagwarden-deployments, namespace: shop }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployment-reader }
subjects:
- { kind: ServiceAccount, name: tagwarden, namespace: tagwarden }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: regcred-reader }
rules:
- { apiGroups: [""], resources: [secrets], resourceNames: [regcred], verbs: [get] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: tagwarden-regcred, namespace: payments }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: regcred-reader }
subjects:
- { kind: ServiceAccount, name: tagwarden, namespace: tagwarden }
"#;

/// The kubectl versions present (`kubectl.1.27` … `kubectl.1.33` on CI), oldest
/// first; at least one, or the test fails with advice.
fn kubectl_versions() -> Vec<PathBuf> {
    tagwarden_testbed::kubectl()
        .versions
        .iter()
        .map(|v| v.path.clone())
        .collect()
}

/// `GRANTS` created by the admin through `kubectl apply -f`, and a
/// kubeconfig for the ServiceAccount's token (in `dir`).
fn grant_tagwarden(api: &ApiServer, dir: &Path) -> PathBuf {
    let file = dir.join("grants.yaml");
    std::fs::write(&file, GRANTS).unwrap();
    let out = kubectl(
        api,
        None,
        &["apply", "-f", file.to_str().unwrap()],
        KUBECTL_TIMEOUT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let created = text(&out.stdout);
    for line in [
        "clusterrole.rbac.authorization.k8s.io/pod-watcher created",
        "rolebinding.rbac.authorization.k8s.io/tagwarden-regcred created",
    ] {
        assert!(created.contains(line), "{created}");
    }
    let kubeconfig = dir.join("sa-kubeconfig");
    let token = api.service_account_token("tagwarden", "tagwarden");
    api.write_kubeconfig_with_token(&kubeconfig, &token);
    kubeconfig
}

/// `bin ARGS` with `kubeconfig`, in a private HOME.
fn kubectl_as(bin: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let child = kubeconfig_command(bin, kubeconfig, home.path())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    finish_bounded(child, KUBECTL_TIMEOUT)
}

/// kubectl failed with exactly this server error line.
fn assert_error_line(out: &Output, line: &str, what: &str) {
    assert!(!out.status.success(), "{what}: kubectl succeeded");
    let err = text(&out.stderr);
    assert!(
        err.lines().any(|l| l == line),
        "{what}: no line\n{line}\nin\n{err}"
    );
}

#[test]
fn a_service_account_can_do_exactly_what_rbac_grants_it() {
    let api = ApiServer::start();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = grant_tagwarden(&api, dir.path());
    let cluster_roles = kubectl(&api, None, &["get", "clusterroles"], KUBECTL_TIMEOUT);
    let listed = text(&cluster_roles.stdout);
    for role in ["cluster-admin", "system:discovery", "pod-watcher"] {
        assert!(listed.contains(role), "{role} not in\n{listed}");
    }
    for bin in kubectl_versions() {
        let v = bin.display().to_string();
        let pods = ok_json(&kubectl_as(
            &bin,
            &kubeconfig,
            &["get", "pods", "-A", "-o", "json"],
        ));
        assert!(names(&pods).contains(&"toolbox".to_string()), "{v}");
        let deployments = ok_json(&kubectl_as(
            &bin,
            &kubeconfig,
            &["get", "deploy", "-n", "shop", "-o", "json"],
        ));
        assert_eq!(names(&deployments), ["web"], "{v}");
        let secret = ok_json(&kubectl_as(
            &bin,
            &kubeconfig,
            &["get", "secret", "regcred", "-n", "payments", "-o", "json"],
        ));
        assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson", "{v}");

        // The Role is in shop only; the RoleBinding to a ClusterRole grants in payments only.
        let denied = [
            (
                vec!["get", "deploy", "-n", "reports"],
                format!(
                    "Error from server (Forbidden): deployments.apps is forbidden: User \"{SA}\" \
                     cannot list resource \"deployments\" in API group \"apps\" in the namespace \"reports\""
                ),
            ),
            (
                vec!["get", "secret", "regcred", "-n", "shop"],
                format!(
                    "Error from server (Forbidden): secrets \"regcred\" is forbidden: User \"{SA}\" \
                     cannot get resource \"secrets\" in API group \"\" in the namespace \"shop\""
                ),
            ),
            (
                vec!["get", "events.events.k8s.io", "-A"],
                format!(
                    "Error from server (Forbidden): events.events.k8s.io is forbidden: User \"{SA}\" \
                     cannot list resource \"events\" in API group \"events.k8s.io\" at the cluster scope"
                ),
            ),
            (
                vec!["delete", "pod", "toolbox", "-n", "debug"],
                format!(
                    "Error from server (Forbidden): pods \"toolbox\" is forbidden: User \"{SA}\" \
                     cannot delete resource \"pods\" in API group \"\" in the namespace \"debug\""
                ),
            ),
        ];
        for (args, line) in &denied {
            let out = kubectl_as(&bin, &kubeconfig, args);
            assert_error_line(&out, line, &format!("{v} {args:?}"));
        }
    }
    // The Pod is still there, and every decision was recorded.
    assert!(api.get("v1", "Pod", Some("debug"), "toolbox").is_some());
    let regcred = api
        .authorizations()
        .into_iter()
        .find(|a| a.user == SA && a.resource == "secrets" && a.allowed)
        .expect("the allowed get of regcred was recorded");
    let grant = regcred.granted_by.expect("a grant");
    assert_eq!(
        (grant.binding.as_str(), grant.role.as_str(), grant.rule),
        (
            "RoleBinding payments/tagwarden-regcred",
            "ClusterRole regcred-reader",
            0
        )
    );
    assert_eq!(
        regcred.reason,
        "RBAC: allowed by RoleBinding \"tagwarden-regcred/payments\" of ClusterRole \
         \"regcred-reader\" to ServiceAccount \"tagwarden/tagwarden\""
    );
    let denials = api.denials();
    assert!(denials.iter().all(|d| d.user == SA), "{denials:#?}");
    assert!(
        denials
            .iter()
            .any(|d| d.verb == "delete" && d.name == "toolbox" && d.namespace == "debug"),
        "{denials:#?}"
    );
    // Nobody watched Pods or got a Deployment by name: those grants were never used.
    assert_eq!(
        api.unused_grants("tagwarden", "tagwarden"),
        [
            "watch pods (ClusterRole pod-watcher)",
            "get deployments.apps in namespace shop (Role shop/deployment-reader)",
        ]
    );
}

#[test]
fn resource_names_match_only_requests_that_name_the_object() {
    let api = ApiServer::start();
    let dir = tempfile::tempdir().unwrap();
    grant_tagwarden(&api, dir.path());
    let token = api.service_account_token("tagwarden", "tagwarden");
    let status = |path: &str| {
        client(&api)
            .get(format!("{}{path}", api.url()))
            .bearer_auth(&token)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    let secrets = "/api/v1/namespaces/payments/secrets";
    assert_eq!(status(&format!("{secrets}/regcred")), 200);
    assert_eq!(status(secrets), 403);
    assert_eq!(status(&format!("{secrets}/other")), 403);
    // As kube-apiserver: a list or watch selecting one name is asked as that name
    // (the verb stays list/watch, which this ClusterRole does not grant).
    assert_eq!(
        status(&format!("{secrets}?fieldSelector=metadata.name%3Dregcred")),
        403
    );
    let last = api.denials().pop().unwrap();
    assert_eq!(
        (last.verb.as_str(), last.name.as_str()),
        ("list", "regcred")
    );
}

#[test]
fn kubectl_auth_can_i_answers_from_rbac() {
    let api = ApiServer::start();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = grant_tagwarden(&api, dir.path());
    let cases: &[(&[&str], bool)] = &[
        (&["list", "pods", "-A"], true),
        (&["watch", "pods", "-n", "debug"], true),
        (&["delete", "pods", "-n", "debug"], false),
        (&["list", "deployments.apps", "-n", "shop"], true),
        (&["list", "deployments.apps", "-n", "reports"], false),
        (&["get", "secret/regcred", "-n", "payments"], true),
        (&["get", "secret/other", "-n", "payments"], false),
        (&["list", "secrets", "-n", "payments"], false),
        (&["get", "secret/regcred", "-n", "shop"], false),
        (&["list", "events.events.k8s.io", "-A"], false),
        (&["get", "/version"], true),
        (&["get", "/metrics"], false),
    ];
    for bin in kubectl_versions() {
        for (args, yes) in cases {
            let what = format!("{} auth can-i {args:?}", bin.display());
            let mut full = vec!["auth", "can-i"];
            full.extend_from_slice(args);
            let out = kubectl_as(&bin, &kubeconfig, &full);
            let answer = if *yes { "yes" } else { "no" };
            assert_eq!(
                text(&out.stdout).trim(),
                answer,
                "{what}: {}",
                text(&out.stderr)
            );
            assert_eq!(out.status.success(), *yes, "{what}");
            // The admin, impersonating the ServiceAccount, hears the same.
            full.extend(["--as", SA]);
            let out = kubectl(&api, None, &full, KUBECTL_TIMEOUT);
            assert_eq!(
                text(&out.stdout).trim(),
                answer,
                "{what} --as: {}",
                text(&out.stderr)
            );
        }
    }
    // The admin itself may do anything (system:masters).
    let out = kubectl(
        &api,
        None,
        &["auth", "can-i", "delete", "nodes"],
        KUBECTL_TIMEOUT,
    );
    assert_eq!(text(&out.stdout).trim(), "yes", "{}", text(&out.stderr));
    // A user who may not impersonate gets kube's 403 (kubectl's discovery
    // reads it raw and says "unknown", as against a real server).
    let bob = api.user_token("bob", &["developers"]);
    let bob_config = dir.path().join("bob");
    api.write_kubeconfig_with_token(&bob_config, &bob);
    let newest = kubectl_versions().pop().unwrap();
    let out = kubectl_as(&newest, &bob_config, &["get", "pods", "--as", "alice"]);
    assert_error_line(
        &out,
        "Error from server (Forbidden): unknown",
        "bob --as alice",
    );
    let resp = client(&api)
        .get(format!("{}/api/v1/pods", api.url()))
        .bearer_auth(&bob)
        .header("Impersonate-User", "alice")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 403);
    let status: Value = resp.json().unwrap();
    assert_eq!(
        status["message"],
        "users \"alice\" is forbidden: User \"bob\" cannot impersonate resource \"users\" \
         in API group \"\" at the cluster scope"
    );
    let check = api
        .denials()
        .into_iter()
        .find(|d| d.user == "bob")
        .expect("the impersonation check was recorded");
    assert_eq!(
        (
            check.verb.as_str(),
            check.resource.as_str(),
            check.name.as_str()
        ),
        ("impersonate", "users", "alice")
    );
}

#[test]
fn non_resource_paths_need_non_resource_rules() {
    let api = ApiServer::start();
    let token = api.service_account_token("tagwarden", "tagwarden");
    let get_as = |token: &str, path: &str| {
        client(&api)
            .get(format!("{}{path}", api.url()))
            .bearer_auth(token)
            .send()
            .unwrap()
    };
    for path in [
        "/version",
        "/api",
        "/apis",
        "/apis/apps/v1",
        "/healthz",
        "/openapi/v3",
    ] {
        assert_eq!(get_as(&token, path).status(), 200, "{path}");
    }
    let resp = get_as(&token, "/foo");
    assert_eq!(resp.status(), 403);
    let status: Value = resp.json().unwrap();
    assert_eq!(
        status["message"],
        format!("forbidden: User \"{SA}\" cannot get path \"/foo\"")
    );
    assert_eq!(status["details"], json!({}));
    // The admin passes authorization and finds nothing there.
    assert_eq!(get_as(api.token(), "/foo").status(), 404);
    // A namespaced read without a grant.
    let resp = get_as(&token, "/api/v1/namespaces/payments/secrets/regcred");
    assert_eq!(resp.status(), 403);
    let status: Value = resp.json().unwrap();
    assert_eq!(status["reason"], "Forbidden");
    assert_eq!(
        status["details"],
        json!({ "name": "regcred", "kind": "secrets" })
    );
}

// ---------------------------------------------------------------- refusals

#[test]
fn field_selectors_are_refused_or_served_as_kube_serves_them() {
    let api = ApiServer::start();
    let resp = get(&api, "/api/v1/pods?fieldSelector=spec.foo%3Dx");
    assert_eq!(resp.status(), 400);
    let status: Value = resp.json().unwrap();
    assert_eq!(status["reason"], "BadRequest");
    assert_eq!(status["message"], "field label not supported: spec.foo");
    // Nodes have no namespace to select on; Namespaces select on their phase.
    assert_eq!(
        get(&api, "/api/v1/nodes?fieldSelector=metadata.namespace%3Dx").status(),
        400
    );
    let active = get_json(
        &api,
        "/api/v1/namespaces?fieldSelector=status.phase%3DActive",
    );
    assert!(names(&active).contains(&"shop".to_string()));
    let hook = get_json(
        &api,
        "/api/v1/pods?fieldSelector=spec.hostNetwork%3Dfalse,status.phase%3DPending",
    );
    assert_eq!(names(&hook), ["capsule-crds-8x7kq"]);

    let out = kubectl(
        &api,
        None,
        &["get", "pods", "-A", "--field-selector", "spec.foo=x"],
        KUBECTL_TIMEOUT,
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("(BadRequest)") && err.contains("field label not supported: spec.foo"),
        "{err}"
    );

    // kubectl describe finds a Pod's Events by its uid.
    let out = kubectl(
        &api,
        None,
        &[
            "describe",
            "pod",
            "capsule-crds-8x7kq",
            "-n",
            "capsule-system",
        ],
        KUBECTL_TIMEOUT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let described = text(&out.stdout);
    let events = described
        .split("\nEvents:")
        .nth(1)
        .unwrap_or_else(|| panic!("no Events in\n{described}"));
    for reason in ["Pulling", "Failed", "BackOff"] {
        assert!(events.contains(reason), "{reason} not in\n{events}");
    }
    assert!(
        api.requests().iter().any(|r| r.path.ends_with("/events")
            && r.query.contains("involvedObject.uid")
            && r.status == 200),
        "kubectl describe did not select Events by uid"
    );
}

#[test]
fn invalid_names_and_missing_namespaces_are_refused() {
    let api = ApiServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    std::fs::write(&file, pod("shop", "Bad_Name", json!({})).to_string()).unwrap();
    let out = kubectl(
        &api,
        None,
        &["create", "-f", file.to_str().unwrap()],
        KUBECTL_TIMEOUT,
    );
    assert_error_line(
        &out,
        "The Pod \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase \
         RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and \
         must start and end with an alphanumeric character (e.g. 'example.com', regex used for \
         validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        "create Bad_Name",
    );
    let out = kubectl(&api, None, &["create", "namespace", "a.b"], KUBECTL_TIMEOUT);
    assert_error_line(
        &out,
        "The Namespace \"a.b\" is invalid: metadata.name: Invalid value: \"a.b\": a lowercase \
         RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start \
         and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for \
         validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        "create namespace a.b",
    );
    assert!(api.get("v1", "Pod", Some("shop"), "Bad_Name").is_none());

    std::fs::write(&file, pod("nowhere", "fine", json!({})).to_string()).unwrap();
    let out = kubectl(
        &api,
        None,
        &["create", "-f", file.to_str().unwrap()],
        KUBECTL_TIMEOUT,
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.starts_with("Error from server (NotFound)")
            && err.trim_end().ends_with("namespaces \"nowhere\" not found"),
        "{err}"
    );
    // Reading there is no error: nothing is there.
    assert_eq!(
        names(&get_json(&api, "/api/v1/namespaces/nowhere/pods")),
        Vec::<String>::new()
    );
    assert_eq!(
        get(&api, "/api/v1/namespaces/shop/pods/Bad_Name").status(),
        404
    );
}

#[test]
fn bodies_it_cannot_read_are_415_or_400() {
    let api = ApiServer::start();
    let send = |method: reqwest::Method, path: &str, content_type: &str, body: String| {
        let resp = client(&api)
            .request(method, format!("{}{path}", api.url()))
            .bearer_auth(api.token())
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .unwrap();
        let code = resp.status().as_u16();
        (code, resp.json::<Value>().unwrap())
    };
    let pods = "/api/v1/namespaces/shop/pods";
    let body = pod("shop", "p", json!({})).to_string();
    let (code, status) = send(reqwest::Method::POST, pods, "text/plain", body.clone());
    assert_eq!(
        (code, status["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
    assert_eq!(
        status["message"],
        "the body of the request was in an unknown format - accepted media types include: \
         application/json, application/yaml"
    );
    let (code, status) = send(
        reqwest::Method::PATCH,
        &format!("{pods}/web-6c9d7f4b8c-k7w2m"),
        "application/json",
        "{}".into(),
    );
    assert_eq!(code, 415);
    assert_eq!(
        status["message"],
        "the body of the request was in an unknown format - accepted media types include: \
         application/json-patch+json, application/merge-patch+json, \
         application/strategic-merge-patch+json, application/apply-patch+yaml"
    );
    let (code, status) = send(
        reqwest::Method::POST,
        pods,
        "application/json",
        "{\"a\":".into(),
    );
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
    let (code, _) = send(
        reqwest::Method::POST,
        pods,
        "application/json; charset=utf-8",
        body,
    );
    assert_eq!(code, 201);
}

// ---------------------------------------------------------------- versions

#[test]
fn the_version_changes_while_clients_run() {
    let api = ApiServer::start();
    let bin = kubectl_versions().pop().unwrap();
    let version = |api: &ApiServer| {
        let out = kubectl_as(&bin, api.kubeconfig_path(), &["version", "-o", "json"]);
        ok_json(&out)["serverVersion"]["gitVersion"].clone()
    };
    assert_eq!(version(&api), "v1.32.1-eks-5e0fdde");
    api.set_git_version("v1.34.0");
    assert_eq!(version(&api), "v1.34.0");
    let v = get_json(&api, "/version");
    assert_eq!(
        (v["major"].as_str(), v["minor"].as_str()),
        (Some("1"), Some("34"))
    );

    // A rolling upgrade: the replicas behind the address answer in turn.
    api.set_git_versions(&["v1.32.0", "v1.34.0"]);
    let seen: Vec<Value> = (0..4)
        .map(|_| get_json(&api, "/version")["gitVersion"].clone())
        .collect();
    assert_eq!(seen, ["v1.32.0", "v1.34.0", "v1.32.0", "v1.34.0"]);

    let node = "ip-10-0-1-23.eu-west-1.compute.internal";
    api.set_kubelet_version(node, "v1.31.4-eks-aeac579");
    let out = kubectl_as(
        &bin,
        api.kubeconfig_path(),
        &["get", "node", node, "-o", "json"],
    );
    assert_eq!(
        ok_json(&out)["status"]["nodeInfo"]["kubeletVersion"],
        "v1.31.4-eks-aeac579"
    );
}

#[test]
fn grants_follow_the_rbac_objects_as_they_change() {
    let api = ApiServer::start();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = grant_tagwarden(&api, dir.path());
    let bin = kubectl_versions().pop().unwrap();
    let list_pods = ["get", "pods", "-n", "debug", "-o", "json"];
    assert_eq!(
        names(&ok_json(&kubectl_as(&bin, &kubeconfig, &list_pods))),
        ["toolbox"]
    );
    // The admin narrows the ClusterRole with kubectl apply: the next request is denied.
    let narrowed = GRANTS.replace("verbs: [list, watch]", "verbs: [watch]");
    let file = dir.path().join("narrowed.yaml");
    std::fs::write(&file, narrowed).unwrap();
    let out = kubectl(
        &api,
        None,
        &["apply", "-f", file.to_str().unwrap()],
        KUBECTL_TIMEOUT,
    );
    assert!(
        text(&out.stdout).contains("clusterrole.rbac.authorization.k8s.io/pod-watcher configured"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let line = format!(
        "Error from server (Forbidden): pods is forbidden: User \"{SA}\" cannot list resource \
         \"pods\" in API group \"\" in the namespace \"debug\""
    );
    assert_error_line(
        &kubectl_as(&bin, &kubeconfig, &list_pods),
        &line,
        "narrowed",
    );
    // A binding to a ClusterRole that does not exist: denied, and kube's reason says why.
    let out = kubectl(
        &api,
        None,
        &[
            "create",
            "clusterrolebinding",
            "dangling",
            "--clusterrole=not-there",
            "--serviceaccount=tagwarden:tagwarden",
        ],
        KUBECTL_TIMEOUT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = kubectl_as(&bin, &kubeconfig, &list_pods);
    assert_error_line(
        &out,
        &format!("{line}: RBAC: clusterrole.rbac.authorization.k8s.io \"not-there\" not found"),
        "dangling",
    );
    // Bound to cluster-admin, it may do anything.
    let out = kubectl(
        &api,
        None,
        &[
            "create",
            "clusterrolebinding",
            "tagwarden-admin",
            "--clusterrole=cluster-admin",
            "--serviceaccount=tagwarden:tagwarden",
        ],
        KUBECTL_TIMEOUT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        names(&ok_json(&kubectl_as(&bin, &kubeconfig, &list_pods))),
        ["toolbox"]
    );
}

#[test]
fn kubectl_auth_can_i_list_shows_the_rules_that_apply() {
    let api = ApiServer::start();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = grant_tagwarden(&api, dir.path());
    for bin in kubectl_versions() {
        let what = bin.display().to_string();
        let out = kubectl_as(
            &bin,
            &kubeconfig,
            &["auth", "can-i", "--list", "-n", "shop"],
        );
        assert!(out.status.success(), "{what}: {}", text(&out.stderr));
        let table = text(&out.stdout);
        let row = |name: &str| {
            table
                .lines()
                .find(|l| l.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("{what}: no {name} in\n{table}"))
                .to_string()
        };
        assert!(row("pods").ends_with("[list watch]"), "{what}: {table}");
        assert!(
            row("deployments.apps").ends_with("[get list]"),
            "{what}: {table}"
        );
        assert!(row("selfsubjectaccessreviews.authorization.k8s.io").ends_with("[create]"));
        // Non-resource URLs come in their own column.
        assert!(
            table
                .lines()
                .any(|l| l.trim_start().starts_with("[/version]") && l.ends_with("[get]")),
            "{what}: {table}"
        );
        // regcred is bound in payments only.
        assert!(!table.contains("regcred"), "{what}: {table}");
        let out = kubectl_as(
            &bin,
            &kubeconfig,
            &["auth", "can-i", "--list", "-n", "payments"],
        );
        let table = text(&out.stdout);
        let secrets = table
            .lines()
            .find(|l| l.starts_with("secrets "))
            .unwrap_or_else(|| panic!("{what}: no secrets in\n{table}"));
        assert!(
            secrets.contains("[regcred]") && secrets.ends_with("[get]"),
            "{secrets}"
        );
    }
}

#[test]
fn a_seeded_realistic_cluster_pages_and_streams_whole() {
    use tagwarden_testbed::{RealisticCluster, RealisticOptions};
    let cluster = RealisticCluster::generate(RealisticOptions::new(2000).nodes(20));
    let generated: Vec<Value> = cluster.objects().collect();
    let api = ApiServer::builder().empty().start();
    assert_eq!(api.seed(generated.clone()), generated.len());
    let pods: Vec<&Value> = generated.iter().filter(|o| o["kind"] == "Pod").collect();

    // kubectl pages (500 a page): every Pod once, as generated plus the server's fields.
    let list = ok_json(&kubectl(
        &api,
        None,
        &[
            "get",
            "pods",
            "-A",
            "-o",
            "json",
            "--chunk-size=500",
            "--show-managed-fields",
        ],
        KUBECTL_TIMEOUT,
    ));
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), pods.len());
    let mut got = items[7].clone();
    let want = pods
        .iter()
        .find(|p| p["metadata"]["uid"] == got["metadata"]["uid"])
        .expect("a generated Pod");
    assert!(got["metadata"]["resourceVersion"].as_str().is_some());
    // The fields the server stamps on a write.
    for field in ["resourceVersion", "generation"] {
        got["metadata"].as_object_mut().unwrap().remove(field);
    }
    assert_eq!(&got, *want, "a Pod is served as it was generated");
    let first = get_json(&api, "/api/v1/pods?limit=500");
    assert_eq!(
        first["metadata"]["remainingItemCount"],
        json!(pods.len() - 500)
    );

    // A streaming list: every Pod as ADDED, then the bookmark.
    let resp = get(
        &api,
        "/api/v1/pods?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=10",
    );
    let events = watch_events(resp, |e| e["type"] == "BOOKMARK");
    let (last, initial) = events.split_last().unwrap();
    assert_eq!(
        last["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(initial.len(), pods.len());
    assert!(
        initial
            .iter()
            .all(|e| e["type"] == "ADDED" && e["object"]["kind"] == "Pod")
    );
}
