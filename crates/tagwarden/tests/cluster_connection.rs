//! How the cluster commands reach the API server, as kubectl does: server URLs, proxies
//! (HTTPS_PROXY, NO_PROXY, a kubeconfig's proxy-url over HTTP CONNECT and SOCKS5), token
//! files and exec credential plugins, names checked before they go into a path, error
//! classes that say what to do, --request-timeout, and --debug's request lines.
//!
//! Everything runs the real binary against the test API server and real registries; the
//! proxy is the test bed's `ConnectProxy`, the only place where `kubernetes.tagwarden.test`
//! and `registry.tagwarden.test` resolve: reaching them proves the way through it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tagwarden_testbed::{ApiServer, ConnectProxy, HangingServer, ProxyProtocol};

use crate::common::{Run, tagwarden_stdin_in};
use crate::scan::{fixture_api_server, fixtures, private};

const KUBE_HOST: &str = "kubernetes.tagwarden.test";
const REGISTRY_HOST: &str = "registry.tagwarden.test";

/// `tagwarden ARGS` in a clean environment (temp HOME) with `envs`.
fn tw(args: &[&str], envs: &[(&str, &str)]) -> Run {
    let home = tempfile::tempdir().expect("temp home");
    tagwarden_stdin_in(args, b"", home.path(), envs)
}

/// Writes `text` into a new file `name` of `dir`.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a test file");
    path
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// The server's kubeconfig with its URL's host replaced by `host`.
fn kubeconfig_via(api: &ApiServer, host: &str) -> String {
    let url = api.url();
    api.kubeconfig()
        .replace(&url, &format!("https://{host}:{}", api.addr().port()))
}

/// `kubeconfig` with `line` added to its cluster (after `server:`).
fn with_cluster_line(kubeconfig: &str, line: &str) -> String {
    let mut out = String::new();
    for l in kubeconfig.lines() {
        out.push_str(l);
        out.push('\n');
        if l.trim_start().starts_with("server:") {
            out.push_str(&format!("    {line}\n"));
        }
    }
    out
}

/// The fixture cluster whose private image lives at `registry.tagwarden.test:PORT`.
fn cluster_behind_a_proxy() -> ApiServer {
    let private_port = private()
        .addr()
        .rsplit_once(':')
        .map(|(_, p)| p.to_string())
        .expect("host:port");
    ApiServer::builder()
        .git_version("v1.32.1-eks-5e0fdde")
        .fixtures(fixtures().private_registry(format!("{REGISTRY_HOST}:{private_port}")))
        .start()
}

fn private_ca() -> String {
    utf8(
        private()
            .ca_cert_path()
            .expect("the htpasswd registry has a CA"),
    )
    .to_string()
}

#[test]
fn a_server_without_a_scheme_is_refused_in_one_line() {
    let api = ApiServer::builder().empty().start();
    let dir = tempfile::tempdir().unwrap();
    let bare = api
        .kubeconfig()
        .replace(&api.url(), &api.addr().to_string());
    let path = write(dir.path(), "config", &bare);
    let run = tw(&["kube-version", "--kubeconfig", utf8(&path)], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "server \"{}\" has no scheme: write https://{}",
            api.addr(),
            api.addr()
        )),
        "{run:?}"
    );
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(api.requests().is_empty());
}

#[test]
fn scan_goes_through_https_proxy_to_the_api_server_and_the_registry() {
    let api = cluster_behind_a_proxy();
    let proxy = ConnectProxy::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "config", &kubeconfig_via(&api, KUBE_HOST));
    let ca = private_ca();
    let run = tw(
        &[
            "scan",
            "-n",
            "payments",
            "-o",
            "json",
            "--fail-on",
            "never",
            "--ca-file",
            &ca,
        ],
        &[("KUBECONFIG", utf8(&config)), ("HTTPS_PROXY", &proxy.url())],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    let ledger = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| {
            i["image"]
                .as_str()
                .unwrap()
                .ends_with("/payments/ledger:3.1.0")
        })
        .unwrap_or_else(|| panic!("{report:#}"));
    // The pull secret opened the private registry, through the tunnel.
    assert_eq!(ledger["status"], "present", "{ledger:#}");
    let targets = proxy.targets();
    let api_target = format!("{KUBE_HOST}:{}", api.addr().port());
    assert!(targets.contains(&api_target), "{targets:?}");
    assert!(
        targets.iter().any(|t| t.starts_with(REGISTRY_HOST)),
        "{targets:?}"
    );
    // CONNECT tunnels only: the proxy never sees a credential.
    let requests = proxy.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.protocol == ProxyProtocol::Connect && !r.authorization),
        "{requests:?}"
    );
    // The public registry is on 127.0.0.1: loopback never goes through the proxy.
    assert!(
        !targets.iter().any(|t| t.starts_with("127.0.0.1")),
        "{targets:?}"
    );
}

#[test]
fn registries_take_the_environment_proxy_and_honour_no_proxy() {
    let charts = crate::charts::shared();
    let port = charts.addr().rsplit_once(':').map(|(_, p)| p).unwrap();
    let registry = format!("{REGISTRY_HOST}:{port}");
    let image = format!("{registry}/clastix/kubectl:v1.31");
    let proxy = ConnectProxy::start();
    // A plain-HTTP registry by the test name: HTTP_PROXY, in absolute form.
    let args = [
        "resolve",
        image.as_str(),
        "--insecure-registry",
        registry.as_str(),
    ];
    let run = tw(
        &args,
        &[("HTTP_PROXY", &proxy.url()), ("HTTPS_PROXY", &proxy.url())],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("clastix/kubectl:v1.31"), "{run:?}");
    let requests = proxy.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.protocol == ProxyProtocol::Http && r.target == registry && r.forwarded),
        "{requests:?}"
    );
    // NO_PROXY names it: straight to a name nothing resolves, so it cannot be reached.
    let seen = requests.len();
    let run = tw(
        &args,
        &[
            ("HTTP_PROXY", &proxy.url()),
            ("HTTPS_PROXY", &proxy.url()),
            ("NO_PROXY", "tagwarden.test"),
        ],
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(proxy.requests().len(), seen, "{:?}", proxy.requests());
}

#[test]
fn a_kubeconfig_proxy_url_works_over_http_connect_and_socks5() {
    let api = ApiServer::builder().empty().start();
    let dir = tempfile::tempdir().unwrap();
    for socks in [false, true] {
        let proxy = ConnectProxy::start();
        let url = if socks {
            proxy.socks5_url()
        } else {
            proxy.url()
        };
        let text = with_cluster_line(
            &kubeconfig_via(&api, KUBE_HOST),
            &format!("proxy-url: {url}"),
        );
        let config = write(dir.path(), "config", &text);
        // NO_PROXY does not apply to a proxy the kubeconfig names (as with kubectl).
        let run = tw(
            &["kube-version", "--kubeconfig", utf8(&config)],
            &[("NO_PROXY", KUBE_HOST)],
        );
        assert_eq!(run.code, 0, "{url}: {run:?}");
        assert_eq!(run.stdout, "1.32.1 (eks)\n");
        let requests = proxy.requests();
        assert_eq!(requests.len(), 1, "{url}: {requests:?}");
        assert_eq!(
            requests[0].protocol,
            if socks {
                ProxyProtocol::Socks5
            } else {
                ProxyProtocol::Connect
            }
        );
        assert_eq!(
            requests[0].target,
            format!("{KUBE_HOST}:{}", api.addr().port())
        );

        // The same kubeconfig works with the real kubectl, through the same proxy.
        let kubectl = std::process::Command::new(&tagwarden_testbed::kubectl_binary().path)
            .args(["--kubeconfig", utf8(&config), "version", "-o", "json"])
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .output()
            .expect("kubectl on PATH");
        let stdout = String::from_utf8_lossy(&kubectl.stdout);
        assert!(
            kubectl.status.success(),
            "{url}: {stdout}{}",
            String::from_utf8_lossy(&kubectl.stderr)
        );
        let version: Value = serde_json::from_str(&stdout).expect("kubectl's JSON");
        assert_eq!(
            version["serverVersion"]["gitVersion"],
            "v1.32.1-eks-5e0fdde"
        );
        // kubectl went through it too (it may open more than one connection).
        let requests = proxy.requests();
        assert!(requests.len() >= 2, "{url}: {requests:?}");
        assert!(
            requests
                .iter()
                .all(|r| r.target == format!("{KUBE_HOST}:{}", api.addr().port()) && r.forwarded),
            "{url}: {requests:?}"
        );
    }
}

#[test]
fn no_proxy_and_loopback_bypass_the_environment_proxy_as_with_kubectl() {
    let api = ApiServer::builder().empty().start();
    let proxy = ConnectProxy::start();
    let dir = tempfile::tempdir().unwrap();
    let named = write(dir.path(), "named", &kubeconfig_via(&api, KUBE_HOST));

    // Through HTTPS_PROXY, for both tagwarden and kubectl.
    let env = [("HTTPS_PROXY", proxy.url())];
    let through = tw(
        &["kube-version", "--kubeconfig", utf8(&named)],
        &[("HTTPS_PROXY", &env[0].1)],
    );
    assert_eq!(through.code, 0, "{through:?}");
    let kubectl = std::process::Command::new(&tagwarden_testbed::kubectl_binary().path)
        .args(["--kubeconfig", utf8(&named), "version", "-o", "json"])
        .env("HTTPS_PROXY", proxy.url())
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .expect("kubectl on PATH");
    assert!(
        kubectl.status.success(),
        "{}",
        String::from_utf8_lossy(&kubectl.stderr)
    );
    let through_proxy = proxy.requests().len();
    assert!(through_proxy >= 2, "{:?}", proxy.requests());

    // NO_PROXY names it (as a domain suffix): straight to a name nothing resolves.
    let bypassed = tw(
        &["kube-version", "--kubeconfig", utf8(&named)],
        &[
            ("HTTPS_PROXY", &proxy.url()),
            ("NO_PROXY", ".tagwarden.test"),
        ],
    );
    assert_eq!(bypassed.code, 3, "{bypassed:?}");
    assert!(
        bypassed
            .stderr
            .contains("cannot reach the Kubernetes API server"),
        "{bypassed:?}"
    );
    assert_eq!(
        proxy.requests().len(),
        through_proxy,
        "NO_PROXY bypassed the proxy"
    );

    // A loopback server never goes through a proxy from the environment, even a dead one.
    let dead = format!("http://{}", tagwarden_testbed::dead_addr());
    let direct = tw(
        &["kube-version", "--kubeconfig", utf8(api.kubeconfig_path())],
        &[("HTTPS_PROXY", &dead), ("NO_PROXY", "")],
    );
    assert_eq!(direct.code, 0, "{direct:?}");
}

#[test]
fn namespaces_and_names_are_checked_before_they_reach_a_path() {
    let api = fixture_api_server();
    let ca = private_ca();
    let envs = [("KUBECONFIG", utf8(api.kubeconfig_path()))];
    for bad in ["kube-system/secrets/db-password#", "Shop", "a..b"] {
        let run = tw(&["scan", "-n", bad, "--ca-file", &ca], &envs);
        assert_eq!(run.code, 2, "{bad}: {run:?}");
        assert!(
            run.stderr.contains(&format!(
                "invalid namespace {bad:?}: a lowercase RFC 1123 label"
            )),
            "{bad}: {run:?}"
        );
        assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    }
    assert!(
        api.requests().is_empty(),
        "nothing was asked: {:?}",
        api.requests()
    );

    // A namespace that does not exist: kubectl's words, exit 2.
    let run = tw(&["scan", "-n", "nope", "--ca-file", &ca], &envs);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: namespaces \"nope\" not found"),
        "{run:?}"
    );
    // One that exists but runs nothing: said on stderr, which namespace and selector.
    let run = tw(
        &["scan", "-n", "shop", "-l", "app=nothing", "--ca-file", &ca],
        &envs,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("no workloads or Pods matching app=nothing in namespace shop"),
        "{run:?}"
    );
}

#[test]
fn credentials_in_the_server_url_are_never_printed() {
    let dead = tagwarden_testbed::dead_addr();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://admin:hunter2@{dead}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n"
    );
    let path = write(dir.path(), "config", &text);
    let run = tw(
        &["--debug", "kube-version", "--kubeconfig", utf8(&path)],
        &[],
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(!run.stderr.contains("hunter2"), "{run:?}");
    assert!(!run.stderr.contains("admin"), "{run:?}");
    assert!(
        run.stderr.contains(&format!("https://REDACTED@{dead}")),
        "{run:?}"
    );

    // A live server: scan's JSON names it without them too.
    let api = fixture_api_server();
    let with_userinfo = api
        .kubeconfig()
        .replace(&api.url(), &format!("https://admin:hunter2@{}", api.addr()));
    let path = write(dir.path(), "live", &with_userinfo);
    let ca = private_ca();
    let run = tw(
        &[
            "--debug",
            "scan",
            "-n",
            "shop",
            "-o",
            "json",
            "--fail-on",
            "never",
            "--ca-file",
            &ca,
            "--kubeconfig",
            utf8(&path),
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.json()["cluster"]["server"],
        format!("https://REDACTED@{}", api.addr())
    );
    assert!(!run.stdout.contains("hunter2"), "{run:?}");
    assert!(!run.stderr.contains("hunter2"), "{run:?}");
}

#[test]
fn a_token_file_ending_in_a_newline_works() {
    let api = ApiServer::builder().empty().start();
    let dir = tempfile::tempdir().unwrap();
    let token = write(dir.path(), "token", &format!("{}\n", api.token()));
    let text = api.kubeconfig().replace(
        &format!("token: {}", api.token()),
        &format!("tokenFile: {}", utf8(&token)),
    );
    let path = write(dir.path(), "config", &text);
    let run = tw(&["kube-version", "--kubeconfig", utf8(&path)], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "1.32.1 (eks)\n");
}

/// A kubeconfig whose user is an exec plugin: a shell script that counts its runs in
/// `count` and then does `body`.
fn exec_kubeconfig(api: &ApiServer, dir: &Path, body: &str) -> (PathBuf, PathBuf) {
    let count = dir.join("runs");
    let script = write(
        dir,
        "plugin.sh",
        &format!("#!/bin/sh\necho run >> '{}'\n{body}\n", utf8(&count)),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let user = format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      interactiveMode: Never\n",
        utf8(&script)
    );
    let text = api
        .kubeconfig()
        .replace(&format!("    token: {}\n", api.token()), &user);
    (write(dir, "config", &text), count)
}

fn runs(count: &Path) -> usize {
    std::fs::read_to_string(count)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[test]
fn an_exec_plugin_runs_once_per_command_and_its_failures_say_why() {
    let api = fixture_api_server();
    let dir = tempfile::tempdir().unwrap();
    let credential = format!(
        "cat <<'EOF'\n{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{}\",\"expirationTimestamp\":\"2099-01-01T00:00:00Z\"}}}}\nEOF",
        api.token()
    );
    let (config, count) = exec_kubeconfig(&api, dir.path(), &credential);
    let ca = private_ca();
    let scan = tw(
        &[
            "scan",
            "-A",
            "-o",
            "json",
            "--fail-on",
            "never",
            "--ca-file",
            &ca,
        ],
        &[("KUBECONFIG", utf8(&config))],
    );
    assert_eq!(scan.code, 0, "{scan:?}");
    assert!(!scan.json()["images"].as_array().unwrap().is_empty());
    assert_eq!(
        runs(&count),
        1,
        "one run for /version, every list and every Secret"
    );

    // A failing plugin: its exit status and what it said, not Rust's `Output { … }`.
    let failing = tempfile::tempdir().unwrap();
    let (config, _) = exec_kubeconfig(
        &api,
        failing.path(),
        "echo 'the SSO session has expired; run aws sso login' >&2\nexit 1",
    );
    let run_failing = tw(&["kube-version", "--kubeconfig", utf8(&config)], &[]);
    assert_eq!(run_failing.code, 3, "{run_failing:?}");
    assert!(
        run_failing
            .stderr
            .contains("failed (exit status: 1): the SSO session has expired; run aws sso login"),
        "{run_failing:?}"
    );
    assert!(!run_failing.stderr.contains("Output {"), "{run_failing:?}");

    // A hanging plugin is killed after --request-timeout.
    let hanging = tempfile::tempdir().unwrap();
    let (config, count) = exec_kubeconfig(&api, hanging.path(), "exec sleep 600");
    let started = Instant::now();
    let run_hanging = tw(
        &[
            "kube-version",
            "--kubeconfig",
            utf8(&config),
            "--request-timeout",
            "2s",
        ],
        &[],
    );
    assert_eq!(run_hanging.code, 3, "{run_hanging:?}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(runs(&count), 1);
    assert!(
        run_hanging
            .stderr
            .contains("did not answer within 2s and was killed"),
        "{run_hanging:?}"
    );
}

#[test]
fn an_exec_plugin_may_give_a_client_certificate() {
    let api = ApiServer::builder().empty().start();
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-subj", "/CN=tagwarden-test-user", "-days", "1"])
        .args(["-keyout", utf8(&key), "-out", utf8(&cert)])
        .output()
        .expect("openssl to make a test client certificate");
    assert!(made.status.success(), "{made:?}");
    let credential = serde_json::json!({
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {
            "clientCertificateData": std::fs::read_to_string(&cert).unwrap(),
            "clientKeyData": std::fs::read_to_string(&key).unwrap(),
        }
    });
    let answer = write(dir.path(), "credential.json", &credential.to_string());
    let (config, count) = exec_kubeconfig(&api, dir.path(), &format!("cat '{}'", utf8(&answer)));
    let run = tw(&["kube-version", "--kubeconfig", utf8(&config)], &[]);
    // The certificate went into TLS (this server authenticates bearer tokens only, so the
    // answer is its 401): the plugin ran once, and its answer was used, not refused.
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr
            .contains("did not accept the credentials (401 Unauthorized)"),
        "{run:?}"
    );
    assert_eq!(runs(&count), 1);
}

/// A plain-HTTP server that answers `/version` as Kubernetes does and every other path with
/// `status`, `content_type` and `body`, or never when `hang` is set.
fn http_server(
    status: &'static str,
    content_type: &'static str,
    body: &'static str,
    hang: bool,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split(' ').nth(1).unwrap_or("").to_string();
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                            break;
                        }
                    }
                    let (status, content_type, body) = if path.starts_with("/version") {
                        (
                            "200 OK",
                            "application/json",
                            r#"{"major":"1","minor":"32","gitVersion":"v1.32.1"}"#,
                        )
                    } else if hang {
                        std::thread::sleep(Duration::from_secs(120));
                        return;
                    } else {
                        (status, content_type, body)
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn plain_kubeconfig(dir: &Path, addr: &str) -> PathBuf {
    write(
        dir,
        "config",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://{addr}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: shop\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n"
        ),
    )
}

#[test]
fn errors_are_classified_and_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "404 Not Found",
            "text/plain",
            "404 page not found",
            "has no GET /api/v1/namespaces/shop (404 Not Found): 404 page not found",
            "hint: check the kubeconfig's server URL",
        ),
        (
            "500 Internal Server Error",
            "application/json",
            r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"etcdserver: request timed out","reason":"InternalError","code":500}"#,
            "failed (500 InternalError)",
            "hint: the API server",
        ),
        (
            "200 OK",
            "text/html",
            "<html><body>Welcome to nginx</body></html>",
            "did not answer as a Kubernetes API server",
            "hint: check the kubeconfig's server URL",
        ),
    ];
    for (status, content_type, body, wanted, hint) in cases {
        let addr = http_server(status, content_type, body, false);
        let config = plain_kubeconfig(dir.path(), &addr);
        let run = tw(&["scan", "--kubeconfig", utf8(&config)], &[]);
        assert_eq!(run.code, 3, "{status}: {run:?}");
        assert!(run.stderr.contains(wanted), "{status}: {run:?}");
        assert!(run.stderr.contains(hint), "{status}: {run:?}");
        assert!(!run.stderr.contains("cannot reach"), "{status}: {run:?}");
    }

    // 403: RBAC, in the server's words (who cannot do what).
    let api = ApiServer::builder().forbid("pods").start();
    let run = tw(
        &["scan", "-A", "--kubeconfig", utf8(api.kubeconfig_path())],
        &[],
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr
            .contains("forbids it (403 Forbidden): pods is forbidden: User"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("cannot list resource \"pods\""),
        "{run:?}"
    );
    assert!(run.stderr.contains("hint: ask a cluster admin"), "{run:?}");
}

#[test]
fn a_hung_api_server_costs_one_request_timeout() {
    // TLS never completes: --request-timeout bounds it.
    let hung = HangingServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "config",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://{}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n",
            hung.addr()
        ),
    );
    let started = Instant::now();
    let run = tw(
        &[
            "kube-version",
            "--kubeconfig",
            utf8(&config),
            "--request-timeout",
            "1s",
        ],
        &[],
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(
        run.stderr
            .contains("no answer within the request timeout of 1s"),
        "{run:?}"
    );

    // /version answers, every list hangs: the lists run at once, so a scan costs one
    // timeout (not one per kind: Nodes, ServiceAccounts and Events only warn).
    let addr = http_server("200 OK", "application/json", "{}", true);
    let config = plain_kubeconfig(dir.path(), &addr);
    let started = Instant::now();
    let run = tw(
        &[
            "scan",
            "-A",
            "--kubeconfig",
            utf8(&config),
            "--request-timeout",
            "2s",
        ],
        &[],
    );
    let took = started.elapsed();
    assert_eq!(run.code, 3, "{run:?}");
    assert!(took < Duration::from_secs(6), "{took:?}: {run:?}");
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(
        run.stderr
            .contains("no answer within the request timeout of 2s"),
        "{run:?}"
    );

    // kubectl's syntax, and what it refuses.
    for bad in ["-1", "10x", "s"] {
        let run = tw(&["scan", "--request-timeout", bad], &[]);
        assert_eq!(run.code, 2, "{bad}: {run:?}");
    }
}

#[test]
fn check_cluster_finds_its_cluster_as_check_files_do() {
    let api = fixture_api_server();
    let dir = tempfile::tempdir().unwrap();
    // Two contexts: the current one is dead, `live` is the test server.
    let dead = tagwarden_testbed::dead_addr();
    let live = api.kubeconfig().replace(
        &format!("current-context: {}", api.context_name()),
        "current-context: gone",
    );
    let text = live
        .replace(
            "contexts:\n",
            &format!(
                "contexts:\n- name: gone\n  context:\n    cluster: gone\n    user: {}\n",
                api.context_name()
            ),
        )
        .replace(
            "clusters:\n",
            &format!("clusters:\n- name: gone\n  cluster:\n    server: https://{dead}\n"),
        );
    let config = write(dir.path(), "config", &text);
    let ca = private_ca();
    let context = api.context_name();

    let flagged = tw(
        &[
            "check",
            "--cluster",
            "-o",
            "json",
            "--fail-on",
            "never",
            "--ca-file",
            &ca,
            "--kubeconfig",
            utf8(&config),
            "--context",
            context,
        ],
        &[],
    );
    assert_eq!(flagged.code, 0, "{flagged:?}");
    let helm = tw(
        &[
            "check",
            "--cluster",
            "-o",
            "json",
            "--fail-on",
            "never",
            "--ca-file",
            &ca,
        ],
        &[("KUBECONFIG", utf8(&config)), ("HELM_KUBECONTEXT", context)],
    );
    assert_eq!(helm.code, 0, "{helm:?}");
    assert_eq!(flagged.json()["images"], helm.json()["images"]);
    // Without either, the dead current context is used, and said to be unreachable.
    let current = tw(
        &["check", "--cluster", "--ca-file", &ca],
        &[("KUBECONFIG", utf8(&config))],
    );
    assert_eq!(current.code, 3, "{current:?}");
    // And it names itself, not `scan`.
    let sarif = tw(
        &["check", "--cluster", "-o", "sarif"],
        &[("KUBECONFIG", utf8(&config))],
    );
    assert_eq!(sarif.code, 2, "{sarif:?}");
    assert!(
        sarif
            .stderr
            .contains("`check --cluster` cannot write `-o sarif`"),
        "{sarif:?}"
    );
}

#[test]
fn debug_logs_each_api_request_without_its_token() {
    let api = ApiServer::builder().empty().start();
    let run = tw(
        &[
            "--debug",
            "kube-version",
            "--kubeconfig",
            utf8(api.kubeconfig_path()),
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "Kubernetes API GET {}/version -> 200 in",
            api.url()
        )),
        "{run:?}"
    );
    assert!(!run.stderr.contains(api.token()), "{run:?}");
}

#[test]
fn as_a_kubectl_plugin_the_usage_says_kubectl_tagwarden() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("kubectl-tagwarden");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_tagwarden"), &link).unwrap();
    let output = std::process::Command::new(&link)
        .args(["scan", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("Usage: kubectl tagwarden scan"), "{help}");
    assert!(!help.contains("Usage: kubectl-tagwarden"), "{help}");
    // Defaults are shown.
    assert!(help.contains("[default: 0]"), "{help}");
}

/// `tagwarden scan -A` of the fixture cluster on a pseudo-terminal `columns` wide, with
/// `COLUMNS` when given; stdout only.
fn scan_table(columns: u16, env_columns: Option<&str>) -> String {
    let api = fixture_api_server();
    let ca = private_ca();
    let home = tempfile::tempdir().unwrap();
    let export = env_columns
        .map(|c| format!("export COLUMNS={c}; "))
        .unwrap_or_else(|| "unset COLUMNS; ".to_string());
    let line = format!(
        "stty cols {columns} rows 50; {export}exec '{}' scan -A --fail-on never --ca-file '{ca}' --kubeconfig '{}' 2>/dev/null",
        env!("CARGO_BIN_EXE_tagwarden"),
        utf8(api.kubeconfig_path())
    );
    let output = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("HOME", home.path())
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .output()
        .expect("util-linux `script`");
    String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n")
}

fn widest(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

#[test]
fn the_table_fits_the_terminal_or_columns() {
    let at_80 = scan_table(80, None);
    assert!(at_80.contains('│'), "{at_80}");
    assert!(widest(&at_80) <= 80, "{} columns:\n{at_80}", widest(&at_80));
    assert!(at_80.contains("payments"), "{at_80}");
    // COLUMNS wins over the terminal's own width, as other tools honour it.
    let wide = scan_table(200, None);
    assert!(widest(&wide) > 80, "{} columns:\n{wide}", widest(&wide));
    let narrowed = scan_table(200, Some("80"));
    assert!(
        widest(&narrowed) <= 80,
        "{} columns:\n{narrowed}",
        widest(&narrowed)
    );
}
