//! `tagwarden post-render` end to end: rendered-chart fixtures on stdin, the real binary,
//! Debian's docker-registry started and seeded by `tagwarden-testbed`.
//!
//! Every golden test computes the expected output independently of the code under test:
//! the input with the exact image substrings replaced, compared as whole outputs.

use crate::charts::{CHARTS, rendered, replace_except, shared, tagwarden_stdin};
use tagwarden_testbed::{PagingProxy, dead_addr};

const KEEP: &str = "# data, not an image";
const EXPLAIN_KUBECTL: &str =
    "v1.32 is not published; v1.31 is 1 minor older, within the kubectl skew policy of ±1";

#[test]
fn capsule_hooks_get_the_previous_minor_and_nothing_else_changes() {
    let charts = shared();
    let addr = charts.addr();
    let input = rendered("capsule.yaml", addr);
    let expected = replace_except(
        &input,
        "clastix/kubectl:v1.32",
        "clastix/kubectl:v1.31",
        KEEP,
    );
    assert_ne!(expected, input);
    let run = tagwarden_stdin(&["post-render", "--kube-version", "1.32"], input.as_bytes());
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, expected);
    // The ConfigMap's data still says v1.32: it is not an image.
    assert!(
        run.stdout
            .contains(&format!("image: {addr}/clastix/kubectl:v1.32 {KEEP}"))
    );
    assert_eq!(
        run.stderr,
        format!(
            "<stdin>:95,131: {addr}/clastix/kubectl:v1.32 → {addr}/clastix/kubectl:v1.31 ({EXPLAIN_KUBECTL})\n"
        )
    );
}

#[test]
fn a_whole_helm_template_stream_is_repaired_byte_for_byte() {
    let charts = shared();
    let addr = charts.addr();
    let input: String = CHARTS.iter().map(|name| rendered(name, addr)).collect();
    let expected = replace_except(
        &input,
        "clastix/kubectl:v1.32",
        "clastix/kubectl:v1.31",
        KEEP,
    )
    .replace("bitnami/kubectl:1.32", "bitnami/kubectl:1.31");
    let run = tagwarden_stdin(
        &["post-render", "--kube-version", "v1.32.2-eks-5e0fdde"],
        input.as_bytes(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, expected);
    // One explanation per image, naming every line it changed: the anchored scalar (not its
    // alias) and the folded block scalar for clastix; single- and double-quoted bitnami.
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{run:?}");
    assert!(
        lines[0].starts_with(&format!(
            "<stdin>:95,131,{},{}: {addr}/clastix/kubectl:v1.32 → {addr}/clastix/kubectl:v1.31 (",
            line_of(&input, "&kubectl"),
            line_of(&input, ">-") + 1
        )),
        "{run:?}"
    );
    assert!(lines[1].contains(&format!(
        "{addr}/bitnami/kubectl:1.32 → {addr}/bitnami/kubectl:1.31 (1.32 is not published; 1.31 is 1 minor older"
    )));
}

/// 1-based line of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle} not found"))
}

#[test]
fn crlf_line_endings_and_a_bom_are_kept() {
    let charts = shared();
    let addr = charts.addr();
    let lf = rendered("capsule.yaml", addr);
    let input = format!("\u{feff}{}", lf.replace('\n', "\r\n"));
    let expected = format!(
        "\u{feff}{}",
        replace_except(&lf, "clastix/kubectl:v1.32", "clastix/kubectl:v1.31", KEEP)
            .replace('\n', "\r\n")
    );
    let run = tagwarden_stdin(&["post-render", "--kube-version", "1.32"], input.as_bytes());
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, expected);
}

#[test]
fn pin_pins_every_image_to_the_seeded_digest() {
    let charts = shared();
    let addr = charts.addr();
    let input = format!(
        "{}{}",
        rendered("misc.yaml", addr),
        rendered("kube-prometheus-stack.yaml", addr)
    );
    let d = |repo: &str, tag: &str| charts.digest(repo, tag);
    let expected = input
        .replace(
            &format!("{addr}/clastix/kubectl:v1.32"),
            &format!(
                "{addr}/clastix/kubectl:v1.31@{}",
                d("clastix/kubectl", "v1.31")
            ),
        )
        .replace(
            &format!("{addr}/library/busybox:1.36.1,"),
            &format!(
                "{addr}/library/busybox:1.36.1@{},",
                d("library/busybox", "1.36.1")
            ),
        )
        .replace(
            &format!("{addr}/library/busybox:1.36\""),
            &format!(
                "{addr}/library/busybox:1.36@{}\"",
                d("library/busybox", "1.36")
            ),
        )
        .replace(
            &format!("{addr}/library/busybox:1.36'"),
            &format!(
                "{addr}/library/busybox:1.36@{}'",
                d("library/busybox", "1.36")
            ),
        )
        .replace(
            &format!("{addr}/bitnami/kubectl:1.32'"),
            &format!(
                "{addr}/bitnami/kubectl:1.31@{}'",
                d("bitnami/kubectl", "1.31")
            ),
        )
        .replace(
            &format!("{addr}/ingress-nginx/kube-webhook-certgen:v1.5.1\n"),
            &format!(
                "{addr}/ingress-nginx/kube-webhook-certgen:v1.5.1@{}\n",
                d("ingress-nginx/kube-webhook-certgen", "v1.5.1")
            ),
        )
        .replace(
            &format!("{addr}/prometheus-operator/prometheus-operator:v0.79.2\""),
            &format!(
                "{addr}/prometheus-operator/prometheus-operator:v0.79.2@{}\"",
                d("prometheus-operator/prometheus-operator", "v0.79.2")
            ),
        );
    let run = tagwarden_stdin(
        &["post-render", "--kube-version", "1.32", "--pin"],
        input.as_bytes(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, expected);
    // The Prometheus resource's image and the config-reloader argument are not images.
    assert!(
        run.stdout
            .contains(&format!("image: \"{addr}/prometheus/prometheus:v3.1.0\""))
    );
    assert!(run.stdout.contains(&format!(
        "prometheus-config-reloader={addr}/prometheus-operator/prometheus-config-reloader:v0.79.2\n"
    )));
    assert_eq!(run.stderr.lines().count(), 6, "{run:?}");

    // Already pinned: left alone, and nothing to ask.
    let pinned = expected.clone();
    let run = tagwarden_stdin(&["post-render", "--pin"], pinned.as_bytes());
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, pinned);
    assert!(
        run.stderr.starts_with("warning: no --kube-version"),
        "{run:?}"
    );
}

#[test]
fn a_missing_image_without_fallback_fails_the_render_unless_allowed() {
    let charts = shared();
    let addr = charts.addr();
    // On 1.34 the nearest published tag, v1.31, is 3 minors away: outside ±1.
    let input = rendered("capsule.yaml", addr).replace("kubectl:v1.32", "kubectl:v1.34");
    let run = tagwarden_stdin(&["post-render", "--kube-version", "1.34"], input.as_bytes());
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "", "{run:?}");
    let first = run.stderr.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "error: <stdin>:95,131: {addr}/clastix/kubectl:v1.34: v1.34 is not published, and no compatible tag is within the skew policy of ±1; the nearest compatible tag is v1.31 (3 minors older), raise --max-skew to accept it (in Job capsule-system/capsule-crds, capsule/templates/crd-lifecycle/job.yaml, helm.sh/hook: pre-install,pre-upgrade)"
        )
    );

    let run = tagwarden_stdin(
        &["post-render", "--kube-version", "1.34", "--allow-missing"],
        input.as_bytes(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, input);
    assert!(
        run.stderr.starts_with(&format!(
            "warning: <stdin>:95,131: {addr}/clastix/kubectl:v1.34: "
        )),
        "{run:?}"
    );

    // A wider skew window accepts v1.31; so does the config file's policy.max_skew.
    let expected = replace_except(&input, "kubectl:v1.34", "kubectl:v1.31", KEEP);
    let run = tagwarden_stdin(
        &["post-render", "--kube-version", "1.34", "--max-skew", "3"],
        input.as_bytes(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, expected);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tagwarden.yaml");
    std::fs::write(&config, "policy:\n  max_skew: 3\n  prefer: newer\n").unwrap();
    let run = tagwarden_stdin(
        &[
            "post-render",
            "--kube-version",
            "1.34",
            "--config",
            config.to_str().unwrap(),
        ],
        input.as_bytes(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, expected);
}

#[test]
fn with_pin_a_missing_image_that_does_not_track_fails_too() {
    let charts = shared();
    let addr = charts.addr();
    let input = format!(
        "kind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: app\n    image: {addr}/library/busybox:9.9\n"
    );
    let run = tagwarden_stdin(
        &["post-render", "--kube-version", "1.32", "--pin"],
        input.as_bytes(),
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.starts_with(&format!(
            "error: <stdin>:6: {addr}/library/busybox:9.9: 9.9 is not published"
        )),
        "{run:?}"
    );
    // Without --pin it is none of post-render's business: left alone, not even asked.
    let run = tagwarden_stdin(&["post-render", "--kube-version", "1.32"], input.as_bytes());
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, input);
}

#[test]
fn an_unreachable_registry_is_exit_3_with_nothing_on_stdout() {
    let charts = shared();
    let dead = dead_addr();
    // One image the test registry has, one on a registry that is down.
    let input = format!(
        "{}---\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: k\n    image: {dead}/clastix/kubectl:v1.32\n",
        rendered("capsule.yaml", charts.addr())
    );
    let run = tagwarden_stdin(
        &["post-render", "--kube-version", "1.32", "--attempts", "1"],
        input.as_bytes(),
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.stdout, "", "{run:?}");
    assert!(run.stderr.contains("unreachable"), "{run:?}");
    assert!(run.stderr.contains("nothing was rendered"), "{run:?}");

    // --allow-missing does not turn "could not decide" into "missing".
    let run = tagwarden_stdin(
        &[
            "post-render",
            "--kube-version",
            "1.32",
            "--attempts",
            "1",
            "--allow-missing",
        ],
        input.as_bytes(),
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.stdout, "", "{run:?}");
}

#[test]
fn broken_yaml_is_exit_2_with_line_and_column() {
    let input = "kind: Pod\nspec:\n  containers:\n  - name: a\n    image: [x: y\n";
    let run = tagwarden_stdin(&["post-render", "--kube-version", "1.32"], input.as_bytes());
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(run.stderr.starts_with("error: <stdin>:5:12: "), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");

    // Binary garbage is bad input too.
    let run = tagwarden_stdin(
        &["post-render", "--kube-version", "1.32"],
        b"kind: Pod\n\xff\xfe\x00",
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stdout, "");
}

#[test]
fn empty_and_image_free_input_passes_through() {
    let run = tagwarden_stdin(&["post-render", "--kube-version", "1.32"], b"");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "");

    let input = "# only comments\n---\n...\n---\napiVersion: v1\nkind: ConfigMap\ndata: {image: 'clastix/kubectl:v1.32', on: yes, mode: 0o14}\n";
    let run = tagwarden_stdin(&["post-render", "--kube-version", "1.32"], input.as_bytes());
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, input);
}

#[test]
fn only_tracking_images_are_asked_about() {
    let charts = shared();
    let proxy = PagingProxy::start(&charts.registry.url(), 0);
    let input = rendered("velero.yaml", proxy.addr());
    let run = tagwarden_stdin(&["post-render", "--kube-version", "1.32"], input.as_bytes());
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        input.replace("bitnami/kubectl:1.32", "bitnami/kubectl:1.31")
    );
    let requests = proxy.requests();
    assert!(
        requests.iter().all(|r| !r.contains("/velero/")),
        "{requests:?}"
    );
    // The missing tag is asked for once although two hooks use it.
    let heads = requests
        .iter()
        .filter(|r| r.starts_with("HEAD ") && r.contains("/bitnami/kubectl/manifests/1.32"))
        .count();
    assert_eq!(heads, 1, "{requests:?}");
}

#[test]
fn track_rules_work_without_a_kube_version() {
    let charts = shared();
    let addr = charts.addr();
    // v1.29.9 was never published; the highest v1.29 patch below it is v1.29.3.
    let input = format!(
        "kind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: k\n    image: \"{addr}/clastix/kubectl:v1.29.9\" # pinned by a values file\n  - name: b\n    image: {addr}/bitnami/kubectl:1.32\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tagwarden.yaml");
    std::fs::write(
        &config,
        format!("policy:\n  track: [\"{addr}/clastix/*\"]\n"),
    )
    .unwrap();
    let run = tagwarden_stdin(
        &["post-render", "--config", config.to_str().unwrap()],
        input.as_bytes(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    // Only the rule's repository: bitnami's 1.32 is left, as no version says it tracks.
    assert_eq!(
        run.stdout,
        input.replace("kubectl:v1.29.9", "kubectl:v1.29.3")
    );
    assert!(
        run.stderr.starts_with("warning: no --kube-version"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains(&format!("track rule {addr}/clastix/*")),
        "{run:?}"
    );

    // Nothing to do without a version, --pin or a rule: a usage error.
    let run = tagwarden_stdin(&["post-render"], input.as_bytes());
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--kube-version"), "{run:?}");
    // Unknown config keys are errors.
    std::fs::write(&config, "policy:\n  trak: [x]\n").unwrap();
    let run = tagwarden_stdin(
        &["post-render", "--pin", "--config", config.to_str().unwrap()],
        input.as_bytes(),
    );
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn a_large_stream_is_written_out_completely() {
    let charts = shared();
    let addr = charts.addr();
    let mut input = String::new();
    for i in 0..3000 {
        input.push_str(&format!(
            "---\n# Source: big/templates/job-{i}.yaml\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: job-{i}\n  annotations: {{note: \"{}\"}}\nspec:\n  template:\n    spec:\n      containers:\n      - name: kubectl\n        image: {addr}/clastix/kubectl:v1.32\n      - name: other\n        image: '{addr}/library/busybox:1.36'\n",
            "x".repeat(i % 200)
        ));
    }
    let run = tagwarden_stdin(&["post-render", "--kube-version", "1.32"], input.as_bytes());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.len() > 1_000_000);
    assert_eq!(
        run.stdout,
        input.replace("clastix/kubectl:v1.32", "clastix/kubectl:v1.31")
    );
}

#[test]
fn the_helm_4_plugin_runs_post_render_with_helms_arguments() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../helm-plugin");
    // plugin.yaml is a postrenderer/v1 plugin whose command is the wrapper script.
    let manifest: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(format!("{root}/plugin.yaml")).unwrap())
            .expect("plugin.yaml is YAML");
    assert_eq!(manifest["apiVersion"], "v1");
    assert_eq!(manifest["type"], "postrenderer/v1");
    assert_eq!(manifest["name"], "tagwarden");
    assert_eq!(manifest["runtime"], "subprocess");
    let commands = manifest["runtimeConfig"]["platformCommand"]
        .as_array()
        .unwrap();
    assert!(
        commands
            .iter()
            .all(|c| c["command"] == "${HELM_PLUGIN_DIR}/post-render.sh")
    );

    // Run it the way Helm 4 does: HELM_PLUGIN_DIR set, the extra args appended, manifests
    // on stdin, stdout captured, stderr kept apart.
    let charts = shared();
    let addr = charts.addr();
    let input = rendered("capsule.yaml", addr);
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("post-render.log");
    let run = |args: &[&str], input: &str| {
        let mut child = std::process::Command::new(format!("{root}/post-render.sh"))
            .args(args)
            .env("HOME", work.path())
            .env("HELM_PLUGIN_DIR", root)
            .env("TAGWARDEN_BIN", env!("CARGO_BIN_EXE_tagwarden"))
            .env("TAGWARDEN_POST_RENDER_LOG", &log)
            .env_remove("DOCKER_CONFIG")
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("TAGWARDEN_CONFIG")
            .env_remove("XDG_CACHE_HOME")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run the plugin command");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
        )
    };
    let (code, stdout) = run(&["--kube-version=1.32"], &input);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        replace_except(
            &input,
            "clastix/kubectl:v1.32",
            "clastix/kubectl:v1.31",
            KEEP
        )
    );
    let (code, stdout) = run(&["--kube-version=1.34"], &input.replace("v1.32", "v1.34"));
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    // What Helm 4 would swallow is in the log: the explanation, then the error.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("→ "), "{logged}");
    assert!(
        logged.contains(&format!(
            "error: <stdin>:95,131: {addr}/clastix/kubectl:v1.34"
        )),
        "{logged}"
    );
}
