//! A fleet's metrics and alerts in real Prometheus servers (Debian's `prometheus`, on
//! loopback), as docs/fleet.md sets them up: two clusters (two test API servers), each with
//! `tagwarden serve` run as the chart runs it, and the chart's rules evaluated centrally.
//!
//! Cluster `a` runs Capsule's hook image, which is missing; cluster `b` runs only a present
//! image. The `cluster` label reaches the series in both ways the docs show:
//!
//! - a central Prometheus scrapes both serves, one job per cluster, each with
//!   `relabel_configs` that set `cluster`;
//! - each cluster runs an agent-mode Prometheus with `external_labels: {cluster: …}` that
//!   remote-writes to a central Prometheus evaluating the rules (the place of Thanos
//!   Ruler or Mimir's ruler, which evaluate the same rules over the same series).
//!
//! In both, TagwardenImageUnavailable holds for `cluster="a"` only, with the fallback
//! looked up within that cluster, and never for `b`, once `b`'s verdicts are there and a
//! rule evaluation has run over them. And an agent refuses rules outright: they belong in
//! the central ruler.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tagwarden_testbed::{ApiServer, ManifestKind, Platform};

use crate::alerts::{ChartedServe, Prometheus, http_get, rendered_rules};
use crate::chart::{KUBE_VERSIONS, render};

/// How long a serve may take to check its cluster and a Prometheus to hold the result.
const PATIENCE: Duration = Duration::from_secs(90);

/// The image cluster `b` runs, present in the shared test registry.
const PRESENT_IMAGE: (&str, &str) = ("clastix/capsule", "v0.7.2");

/// Cluster `b`: an API server at 1.31 whose only workload's image is present.
fn healthy_cluster() -> ApiServer {
    let public = crate::charts::shared();
    let (repository, tag) = PRESENT_IMAGE;
    public.registry.seeder().push_image(
        repository,
        tag,
        ManifestKind::Oci,
        &[Platform::linux_amd64()],
    );
    let api = ApiServer::builder().git_version("v1.31.4").empty().start();
    api.apply(crate::scan::deployment(
        "storefront",
        &format!("{}/{repository}:{tag}", public.addr()),
    ));
    api
}

/// The chart rendered for a test serve: it checks every second and trusts the private
/// test registry's CA (the ConfigMap is what serve reads).
fn chart_for_tests() -> crate::chart::Rendered {
    let ca = crate::scan::private().ca_cert_path().expect("CA");
    let values = json!({"config": {
        "registries": {"ca_files": [ca]},
        "serve": {"present_interval": 1, "failing_interval": 1},
    }});
    render(&values, KUBE_VERSIONS[1])
}

/// A central Prometheus scraping every cluster's serve, one job per cluster whose
/// `relabel_configs` name the cluster, evaluating `rules`.
fn central_relabelling(clusters: &[(&str, &ChartedServe)], rules: &Path) -> Prometheus {
    let jobs: Vec<Value> = clusters
        .iter()
        .map(|(cluster, serve)| {
            json!({
                "job_name": format!("tagwarden-{cluster}"),
                "static_configs": [{"targets": [serve.addr]}],
                "relabel_configs": [{"target_label": "cluster", "replacement": cluster}],
            })
        })
        .collect();
    let config = json!({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [rules],
        "scrape_configs": jobs,
    });
    Prometheus::start_with(&config, &[])
}

/// A central Prometheus that receives remote writes and evaluates `rules`: the ruler.
fn central_ruler(rules: &Path) -> Prometheus {
    let config = json!({
        "global": {"evaluation_interval": "1s"},
        "rule_files": [rules],
    });
    Prometheus::start_with(&config, &["--web.enable-remote-write-receiver"])
}

/// A cluster's agent-mode Prometheus: scrapes its serve, names the cluster in its
/// external labels, and remote-writes everything to `central`.
fn cluster_agent(cluster: &str, serve: &ChartedServe, central: &Prometheus) -> Prometheus {
    let config = json!({
        "global": {"scrape_interval": "1s", "external_labels": {"cluster": cluster}},
        "scrape_configs": [{
            "job_name": "tagwarden",
            "static_configs": [{"targets": [serve.addr]}],
        }],
        "remote_write": [{
            "url": format!("http://{}/api/v1/write", central.addr()),
            "queue_config": {"batch_send_deadline": "1s"},
        }],
    });
    Prometheus::start_with(&config, &["--enable-feature=agent"])
}

/// The result of an instant `query`.
fn query(prometheus: &Prometheus, query: &str) -> Vec<Value> {
    let path = format!("/api/v1/query?query={}", url_encode(query));
    prometheus.api(&path)["result"].as_array().unwrap().clone()
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// The `lastEvaluation` of the rule group `tagwarden`.
fn last_evaluation(prometheus: &Prometheus) -> String {
    let groups = prometheus.api("/api/v1/rules")["groups"].clone();
    groups[0]["lastEvaluation"].as_str().unwrap().to_string()
}

/// Waits until the rules have been evaluated twice more, so that one evaluation began
/// after every sample Prometheus held when this was called.
fn wait_for_a_fresh_evaluation(prometheus: &mut Prometheus) {
    for _ in 0..2 {
        let before = last_evaluation(prometheus);
        prometheus.wait_for(Duration::from_secs(30), "a rule evaluation", |p| {
            (last_evaluation(p) != before).then_some(())
        });
    }
}

/// The TagwardenImageUnavailable alerts Prometheus holds.
fn unavailable_alerts(prometheus: &Prometheus) -> Vec<Value> {
    prometheus
        .alerts()
        .into_iter()
        .filter(|alert| alert["labels"]["alertname"] == "TagwardenImageUnavailable")
        .collect()
}

/// What failed: Prometheus' targets and what both serves export and said.
fn diagnosis(prometheus: &Prometheus, serves: &[&ChartedServe]) -> String {
    let mut text = format!("Prometheus log:\n{}", prometheus.log());
    for serve in serves {
        let metrics = http_get(&serve.addr, "/metrics").map(|(_, body)| body);
        text += &format!(
            "\n--- serve {}: /metrics:\n{}\nit said:\n{}",
            serve.addr,
            metrics.unwrap_or_default(),
            serve.log()
        );
    }
    text
}

/// In `prometheus` (`topology` names it in messages): the hook image's alert holds for
/// cluster `a`, with its fallback, and no alert holds for cluster `b` once b's verdicts
/// have been evaluated.
fn assert_pages_name_cluster_a_only(
    prometheus: &mut Prometheus,
    topology: &str,
    serves: &[&ChartedServe],
) {
    // The positive signal from b: its serve's checks have reached this Prometheus.
    let present = r#"tagwarden_images{cluster="b",status="present"} > 0"#;
    let seen = prometheus.try_wait_for(PATIENCE, |p| (!query(p, present).is_empty()).then_some(()));
    assert!(
        seen.is_some(),
        "{topology}: no present image of cluster b\n{}",
        diagnosis(prometheus, serves)
    );
    let alert = prometheus
        .try_wait_for(PATIENCE, |p| {
            unavailable_alerts(p)
                .into_iter()
                .find(|alert| alert["labels"]["workload"] == "capsule-crds")
        })
        .unwrap_or_else(|| {
            panic!(
                "{topology}: no TagwardenImageUnavailable for Capsule's hook image\n{}",
                diagnosis(prometheus, serves)
            )
        });
    assert_eq!(alert["labels"]["cluster"], "a", "{topology}: {alert:#}");
    assert_eq!(
        alert["labels"]["reason"], "missing",
        "{topology}: {alert:#}"
    );
    // Pending until the rule's `for:` has passed, then firing: which one depends on how
    // long the machine took to get here, not on the rule.
    assert!(
        alert["state"] == "pending" || alert["state"] == "firing",
        "{topology}: {alert:#}"
    );
    // The fallback was looked up within cluster a (the lookup names the cluster).
    let image = alert["labels"]["image"].as_str().unwrap();
    let description = alert["annotations"]["description"].as_str().unwrap();
    let fallback = image.replace(":v1.32", ":v1.31");
    assert!(
        description.contains(&format!("A published fallback exists: {fallback}")),
        "{topology}: {description}"
    );
    // An evaluation over b's verdicts has run: still no page for b, and every alert
    // names its cluster. (Only the unavailable-image page: the suite's other tests
    // retag images in the registry both clusters use, which b may rightly report.)
    wait_for_a_fresh_evaluation(prometheus);
    for alert in unavailable_alerts(prometheus) {
        assert_eq!(alert["labels"]["cluster"], "a", "{topology}: {alert:#}");
    }
    for alert in prometheus.alerts() {
        let cluster = alert["labels"]["cluster"].as_str();
        assert!(matches!(cluster, Some("a" | "b")), "{topology}: {alert:#}");
    }
    // The alerts' own series (ALERTS) keep the label too, as a ruler writes them.
    let firing = query(
        prometheus,
        r#"count by (cluster) (ALERTS{alertname="TagwardenImageUnavailable"})"#,
    );
    let clusters: Vec<&str> = firing
        .iter()
        .map(|series| series["metric"]["cluster"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(clusters, ["a"], "{topology}: {firing:#?}");
}

#[test]
fn one_prometheus_over_two_clusters_pages_for_the_cluster_with_the_missing_image() {
    let cluster_a = crate::scan::fixture_api_server();
    let cluster_b = healthy_cluster();
    let rendered = chart_for_tests();
    let serve_a = ChartedServe::start(&cluster_a, &rendered);
    let serve_b = ChartedServe::start(&cluster_b, &rendered);
    let serves = [&serve_a, &serve_b];
    let dir = tempfile::tempdir().unwrap();
    let rules = rendered_rules(dir.path());

    // A central Prometheus that relabels each cluster's scrape job.
    let mut central = central_relabelling(&[("a", &serve_a), ("b", &serve_b)], &rules);
    assert_pages_name_cluster_a_only(&mut central, "central relabelling", &serves);

    // Agents with external labels, remote-writing to a central ruler.
    let mut ruler = central_ruler(&rules);
    let _agents = [
        cluster_agent("a", &serve_a, &ruler),
        cluster_agent("b", &serve_b, &ruler),
    ];
    assert_pages_name_cluster_a_only(&mut ruler, "agents and a central ruler", &serves);
    // The series arrived with the agents' external labels, never without.
    let unlabelled = query(&ruler, r#"tagwarden_is_leader{cluster=""}"#);
    assert!(unlabelled.is_empty(), "{unlabelled:#?}");
    let leaders = query(&ruler, "count by (cluster) (tagwarden_is_leader)");
    assert_eq!(leaders.len(), 2, "{leaders:#?}");
}

#[test]
fn an_agent_mode_prometheus_refuses_rules_so_they_belong_in_a_central_ruler() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rendered_rules(dir.path());
    let config = json!({
        "global": {"external_labels": {"cluster": "a"}},
        "rule_files": [rules],
        "scrape_configs": [],
    });
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let mut child = Command::new("prometheus")
        .arg("--enable-feature=agent")
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.agent.path={}",
            dir.path().join("data").display()
        ))
        .arg("--web.listen-address=127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("prometheus ({e}): run scripts/test.sh (or apt-get install -y prometheus)")
        });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("an agent with rule_files is still running after 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut said = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut said).unwrap();
    assert!(!status.success(), "{said}");
    assert!(
        said.contains("field rule_files is not allowed in agent mode"),
        "{said}"
    );
}

/// The YAML blocks of docs/fleet.md whose first line is `# prometheus.yml …`.
fn documented_prometheus_configs() -> Vec<String> {
    let guide =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/fleet.md"))
            .unwrap();
    guide
        .split("```yaml\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .filter(|block| block.starts_with("# prometheus.yml"))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_guides_prometheus_configurations_pass_promtool() {
    let configs = documented_prometheus_configs();
    // The cluster's (external labels) and the central one's (relabelling).
    assert_eq!(configs.len(), 2, "{configs:#?}");
    let dir = tempfile::tempdir().unwrap();
    // Debian's Prometheus is built without Kubernetes service discovery: its promtool
    // checks the rest of the cluster's config with a static target in its place.
    let kubernetes_sd =
        "kubernetes_sd_configs: [{role: endpoints, namespaces: {names: [tagwarden]}}]";
    assert!(configs[0].contains(kubernetes_sd), "{}", configs[0]);
    for (index, config) in configs.iter().enumerate() {
        let path = dir.path().join(format!("prometheus-{index}.yml"));
        let checkable = config.replace(
            kubernetes_sd,
            "static_configs: [{targets: ['tagwarden.tagwarden.svc:8080']}]",
        );
        std::fs::write(&path, checkable).unwrap();
        let output = Command::new("promtool")
            .args(["check", "config", "--syntax-only"])
            .arg(&path)
            .output()
            .unwrap_or_else(|e| {
                panic!("promtool ({e}): run scripts/test.sh (or apt-get install -y prometheus)")
            });
        assert!(
            output.status.success(),
            "docs/fleet.md's config:\n{config}\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // They set the label the way the tests above do.
    assert!(configs[0].contains("external_labels:\n    cluster: prod-eu-1"));
    assert!(configs[1].contains("target_label: cluster\n        replacement: prod-eu-1"));
}
