//! The chart's alerts in a real Prometheus (Debian's `prometheus`, on loopback): the
//! PrometheusRule's `spec` as the chart renders it, loaded as a rules file, evaluated every
//! second over what Prometheus scrapes, and read back through its HTTP API.
//!
//! [`Prometheus`] is the harness: any test can start one that scrapes its targets with any
//! rules files. `promtool test rules` (in `chart`) covers every alert's timing; this covers
//! what only a running Prometheus does: scraping the text format, loading the rendered
//! rules, and expanding the annotations' `query` templates against its own storage.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::chart::{KUBE_VERSIONS, full_values, render};

/// A Prometheus server on a free loopback port, stopped (and its storage removed) on drop.
pub struct Prometheus {
    child: Child,
    addr: String,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` (`HOST:PORT`, `/metrics`) every second and
    /// evaluating the rules of `rule_files` every second; returns once it is ready.
    pub fn start(targets: &[String], rule_files: &[PathBuf]) -> Prometheus {
        let config = serde_json::json!({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": rule_files,
            "scrape_configs": [{
                "job_name": "tagwarden",
                "static_configs": [{"targets": targets}],
            }],
        });
        Prometheus::start_with(&config, &[])
    }

    /// Starts Prometheus with the configuration `config` and more command-line `flags`
    /// (`--enable-feature=agent`: an agent, whose storage flag it is given instead);
    /// returns once it is ready.
    pub fn start_with(config: &Value, flags: &[&str]) -> Prometheus {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let addr = free_loopback_addr();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let storage = match flags.contains(&"--enable-feature=agent") {
            true => "--storage.agent.path",
            false => "--storage.tsdb.path",
        };
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("{storage}={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .args(flags)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("prometheus ({e}): run scripts/test.sh (or apt-get install -y prometheus)")
            });
        let mut prometheus = Prometheus { child, addr, dir };
        prometheus.wait_for(Duration::from_secs(60), "Prometheus to be ready", |p| {
            (http_get(&p.addr, "/-/ready").map(|(status, _)| status) == Some(200)).then_some(())
        });
        prometheus
    }

    /// Its `HOST:PORT` on loopback.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `GET path` of the HTTP API, as JSON; panics unless Prometheus says `success`.
    pub fn api(&self, path: &str) -> Value {
        let (status, body) =
            http_get(&self.addr, path).unwrap_or_else(|| panic!("no answer to {path}"));
        let value: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{path}: {status} not JSON ({e}): {body}"));
        assert_eq!(value["status"], "success", "{path}: {value:#}");
        value["data"].clone()
    }

    /// The alerts Prometheus holds now (pending or firing).
    pub fn alerts(&self) -> Vec<Value> {
        self.api("/api/v1/alerts")["alerts"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Polls `probe` every 200 ms until it gives a value, for at most `limit`; panics with
    /// `what`, the scrape targets' health and Prometheus' log when it never does.
    pub fn wait_for<T>(
        &mut self,
        limit: Duration,
        what: &str,
        probe: impl FnMut(&Self) -> Option<T>,
    ) -> T {
        self.try_wait_for(limit, probe).unwrap_or_else(|| {
            panic!(
                "waited {limit:?} for {what}; targets: {:#}\n{}",
                self.api("/api/v1/targets")["activeTargets"],
                self.log()
            )
        })
    }

    /// [`Prometheus::wait_for`], `None` when `limit` passes.
    pub fn try_wait_for<T>(
        &mut self,
        limit: Duration,
        mut probe: impl FnMut(&Self) -> Option<T>,
    ) -> Option<T> {
        let start = Instant::now();
        loop {
            if let Some(value) = probe(self) {
                return Some(value);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", self.log());
            }
            if start.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An address on loopback that nothing listens on (the OS's choice, released at once).
fn free_loopback_addr() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// One HTTP/1.0 GET (so the answer is never chunked): status and body, or `None` when
/// nothing answers.
pub(crate) fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Serves `body` as a Prometheus text-format `/metrics` to every request, until the test
/// binary exits. Returns its address.
fn static_metrics(body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

/// The chart's PrometheusRule `spec`, rendered, written as a rules file in `dir`.
pub(crate) fn rendered_rules(dir: &Path) -> PathBuf {
    let rendered = render(&full_values(), KUBE_VERSIONS[1]);
    let rule = rendered.all("PrometheusRule")[0];
    let path = dir.join("tagwarden-rules.yaml");
    std::fs::write(&path, rule["spec"].to_string()).unwrap();
    path
}

/// What a leader's `/metrics` says about Capsule's hook image (missing, with a fallback)
/// and a healthy registry.
const LEADER_METRICS: &str = "\
# TYPE tagwarden_image_unavailable gauge
tagwarden_image_unavailable{namespace=\"capsule-system\",kind=\"Job\",workload=\"capsule-crds\",container=\"crds-hook\",image=\"clastix/kubectl:v1.32\",reason=\"missing\"} 1
# TYPE tagwarden_image_fallback_info gauge
tagwarden_image_fallback_info{image=\"clastix/kubectl:v1.32\",fallback=\"clastix/kubectl:v1.31\"} 1
# TYPE tagwarden_images gauge
tagwarden_images{registry=\"docker.io\",status=\"missing\"} 1
tagwarden_images{registry=\"docker.io\",status=\"rate_limited\"} 0
# TYPE tagwarden_is_leader gauge
tagwarden_is_leader 1
";

#[test]
fn a_real_prometheus_holds_the_unavailable_image_alert_pending_with_its_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rendered_rules(dir.path());
    let target = static_metrics(LEADER_METRICS);
    let mut prometheus = Prometheus::start(&[target], &[rules]);

    // The rules Prometheus loaded are the chart's four alerts.
    let groups = prometheus.api("/api/v1/rules")["groups"].clone();
    let loaded: Vec<&str> = groups[0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| rule["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        loaded,
        [
            "TagwardenImageUnavailable",
            "TagwardenRegistryRateLimited",
            "TagwardenImageTagChanged",
            "TagwardenImagePullFailing"
        ]
    );

    let alert = prometheus.wait_for(
        Duration::from_secs(60),
        "TagwardenImageUnavailable to be pending",
        |p| {
            p.alerts()
                .into_iter()
                .find(|alert| alert["labels"]["alertname"] == "TagwardenImageUnavailable")
        },
    );
    // Every rule has been evaluated without an error by now.
    for rule in prometheus.api("/api/v1/rules")["groups"][0]["rules"]
        .as_array()
        .unwrap()
    {
        assert_eq!(rule["health"], "ok", "{rule:#}");
    }
    // Pending, not firing: it must hold for 10 minutes.
    assert_eq!(alert["state"], "pending", "{alert:#}");
    assert_eq!(alert["labels"]["image"], "clastix/kubectl:v1.32");
    assert_eq!(alert["labels"]["workload"], "capsule-crds");
    assert_eq!(alert["labels"]["reason"], "missing");
    assert_eq!(alert["labels"]["severity"], "warning");
    // The scrape labels are aggregated away.
    assert!(alert["labels"]["instance"].is_null(), "{alert:#}");
    // The annotation's `query` template ran against Prometheus' own storage.
    let description = alert["annotations"]["description"].as_str().unwrap();
    assert!(
        description.contains("A published fallback exists: clastix/kubectl:v1.31"),
        "{description}"
    );
    assert!(
        description.contains("--field-selector reason=ImageMissing"),
        "{description}"
    );
    // Nothing else holds: no rate limit, no drift, no pull failure.
    let others: Vec<Value> = prometheus
        .alerts()
        .into_iter()
        .filter(|alert| alert["labels"]["alertname"] != "TagwardenImageUnavailable")
        .collect();
    assert!(others.is_empty(), "{others:#?}");
}

/// `tagwarden serve` started as the chart's Deployment starts it: its args and its
/// environment (the downward API's POD_NAME and POD_NAMESPACE filled in as the kubelet
/// would, TAGWARDEN_CONFIG pointing at the ConfigMap's file, the cache on a scratch
/// folder), except that it listens on a free loopback port and finds the test API server
/// through KUBECONFIG, with the token of the chart's ServiceAccount under the chart's
/// rendered RBAC (`crate::installed`). Killed on drop, which fails the test if RBAC
/// refused it anything.
pub(crate) struct ChartedServe<'a> {
    child: Child,
    pub(crate) addr: String,
    dir: tempfile::TempDir,
    api: &'a tagwarden_testbed::ApiServer,
    installed: crate::installed::Installed,
}

impl<'a> ChartedServe<'a> {
    pub(crate) fn start(
        api: &'a tagwarden_testbed::ApiServer,
        rendered: &crate::chart::Rendered,
    ) -> Self {
        Self::start_as(api, rendered, "tagwarden-7d9f8-abcde")
    }

    /// [`ChartedServe::start`] as the Pod `pod` (its POD_NAME: the Lease holder's identity).
    fn start_as(
        api: &'a tagwarden_testbed::ApiServer,
        rendered: &crate::chart::Rendered,
        pod: &str,
    ) -> Self {
        use k8s_openapi::api::apps::v1::Deployment;
        use k8s_openapi::api::core::v1::ConfigMap;

        let dir = tempfile::tempdir().unwrap();
        let deployment: Deployment = rendered.one("Deployment");
        let namespace = deployment.metadata.namespace.clone().unwrap();
        // The release's namespace exists (helm installs into one), or the API server
        // refuses serve's Lease there, as kube-apiserver's NamespaceLifecycle does.
        api.apply(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": { "name": namespace },
            "status": { "phase": "Active" },
        }));
        let installed = crate::installed::install(api, rendered, dir.path());
        let container = deployment.spec.unwrap().template.spec.unwrap().containers[0].clone();
        let config_map: ConfigMap = rendered.one("ConfigMap");
        let addr = free_loopback_addr();
        let mut command = crate::common::clean_command(
            &container
                .args
                .iter()
                .flatten()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            dir.path(),
            &[("KUBECONFIG", installed.kubeconfig.to_str().unwrap())],
        );
        for var in container.env.into_iter().flatten() {
            let value = match (var.value, var.value_from) {
                (Some(value), _) => value,
                (None, Some(from)) => match from.field_ref.unwrap().field_path.as_str() {
                    "metadata.name" => pod.to_string(),
                    "metadata.namespace" => namespace.clone(),
                    other => panic!("a field the test cannot fill: {other}"),
                },
                (None, None) => String::new(),
            };
            let value = match var.name.as_str() {
                "TAGWARDEN_LISTEN" => addr.clone(),
                "TAGWARDEN_CONFIG" => {
                    let path = dir.path().join("config.yaml");
                    std::fs::write(&path, &config_map.data.clone().unwrap()["config.yaml"])
                        .unwrap();
                    path.to_str().unwrap().to_string()
                }
                "XDG_CACHE_HOME" => dir.path().join("cache").to_str().unwrap().to_string(),
                _ => value,
            };
            command.env(&var.name, value);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("serve.log")).unwrap())
            .spawn()
            .expect("start tagwarden serve");
        ChartedServe {
            child,
            addr,
            dir,
            api,
            installed,
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }
}

impl Drop for ChartedServe<'_> {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            self.installed.assert_never_forbidden(self.api, &self.log());
        }
    }
}

#[test]
fn prometheus_scraping_serve_as_the_chart_runs_it_holds_the_hook_image_alert() {
    let api = crate::scan::fixture_api_server();
    let ca = crate::scan::private().ca_cert_path().expect("CA");
    // The chart's values, with a config that checks every second and trusts the private
    // test registry's CA: the ConfigMap is what serve reads.
    let values = serde_json::json!({"config": {
        "registries": {"ca_files": [ca]},
        "serve": {"present_interval": 1, "failing_interval": 1},
    }});
    let rendered = render(&values, KUBE_VERSIONS[1]);
    let serve = ChartedServe::start(&api, &rendered);

    let dir = tempfile::tempdir().unwrap();
    let rules = rendered_rules(dir.path());
    let mut prometheus = Prometheus::start(std::slice::from_ref(&serve.addr), &[rules]);

    let alert = prometheus
        .try_wait_for(Duration::from_secs(90), |p| {
            p.alerts().into_iter().find(|alert| {
                alert["labels"]["alertname"] == "TagwardenImageUnavailable"
                    && alert["labels"]["workload"] == "capsule-crds"
            })
        })
        .unwrap_or_else(|| {
            panic!(
                "no TagwardenImageUnavailable for Capsule's hook image; targets: {:#}\nserve /metrics:\n{}\nserve said:\n{}",
                prometheus.api("/api/v1/targets")["activeTargets"],
                http_get(&serve.addr, "/metrics").map(|(_, body)| body).unwrap_or_default(),
                serve.log()
            )
        });
    assert_eq!(alert["state"], "pending", "{alert:#}");
    assert_eq!(alert["labels"]["kind"], "Job", "{alert:#}");
    assert_eq!(alert["labels"]["reason"], "missing", "{alert:#}");
    let image = alert["labels"]["image"].as_str().unwrap();
    assert!(image.ends_with("/clastix/kubectl:v1.32"), "{alert:#}");
    let description = alert["annotations"]["description"].as_str().unwrap();
    assert!(
        description.contains(&format!(
            "A published fallback exists: {}",
            image.replace(":v1.32", ":v1.31")
        )),
        "{description}\n{}",
        serve.log()
    );
    // What Prometheus scraped passes promtool's lint as well.
    let (_, metrics) = http_get(&serve.addr, "/metrics").expect("serve's /metrics");
    tagwarden_testbed::promtool::check_metrics(&metrics);
    // Prometheus scraped the leader: it says so.
    let leader = prometheus.api("/api/v1/query?query=tagwarden_is_leader");
    assert_eq!(leader["result"][0]["value"][1], "1", "{leader:#}");
}

/// `tagwarden_is_leader`'s value in a `/metrics` answer.
fn is_leader(metrics: &str) -> Option<String> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("tagwarden_is_leader "))
        .map(|value| value.trim().to_string())
}

#[test]
fn two_releases_in_one_namespace_elect_their_leaders_on_their_own_leases() {
    let api = crate::scan::fixture_api_server();
    let values = serde_json::json!({});
    let releases = ["prod", "staging"];
    let serves: Vec<ChartedServe> = releases
        .iter()
        .map(|release| {
            let target = crate::chart::Target {
                release,
                api_versions: &[],
            };
            let rendered = crate::chart::render_for(&values, KUBE_VERSIONS[1], target);
            ChartedServe::start_as(&api, &rendered, &format!("{release}-tagwarden-7d9f8-abcde"))
        })
        .collect();
    // Each release's serve (another Pod each) leads on its own Lease: had they shared
    // one, one would wait.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let leaders: Vec<Option<String>> = serves
            .iter()
            .map(|serve| http_get(&serve.addr, "/metrics").and_then(|(_, body)| is_leader(&body)))
            .collect();
        if leaders.iter().all(|l| l.as_deref() == Some("1")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not both leaders: {leaders:?}\n{}",
            serves
                .iter()
                .map(ChartedServe::log)
                .collect::<Vec<_>>()
                .join("\n---\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for release in releases {
        let name = format!("{release}-tagwarden");
        let lease = api
            .get("coordination.k8s.io/v1", "Lease", Some("monitoring"), &name)
            .unwrap_or_else(|| panic!("no Lease monitoring/{name}"));
        assert_eq!(
            lease["spec"]["holderIdentity"],
            format!("{release}-tagwarden-7d9f8-abcde"),
            "{lease:#}"
        );
    }
    assert!(
        api.get(
            "coordination.k8s.io/v1",
            "Lease",
            Some("monitoring"),
            "tagwarden"
        )
        .is_none(),
        "a Lease not named after a release"
    );
}
