//! The live cluster's version: `kube-version` with no argument, and `check`/`post-render`
//! without `--kube-version`, against the test Kubernetes API server of `tagwarden-testbed`
//! (HTTPS with its own CA, bearer token) and the shared seeded registry.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tagwarden_testbed::{ApiServer, dead_addr};

use crate::charts::{rendered, replace_except, shared};
use crate::common::{Run, tagwarden_stdin_in, tagwarden_with};

const KEEP: &str = "# data, not an image";

/// A test API server reporting `git_version`, its kubeconfig's context named `context`.
fn api_server(git_version: &str, context: &str) -> ApiServer {
    ApiServer::builder()
        .git_version(git_version)
        .context_name(context)
        .empty()
        .start()
}

/// A scratch directory for kubeconfig files.
fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Writes `text` to `dir/name` and returns the path.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

/// `KUBECONFIG`'s value for these files.
fn list(paths: &[&Path]) -> String {
    std::env::join_paths(paths)
        .expect("paths without separators")
        .into_string()
        .expect("UTF-8 paths")
}

/// Runs `tagwarden ARGS` with `stdin` and extra environment, in a clean environment
/// (temp HOME, no KUBECONFIG or credentials of the developer's).
fn run_stdin(args: &[&str], stdin: &[u8], envs: &[(&str, &str)]) -> Run {
    let home = scratch();
    tagwarden_stdin_in(args, stdin, home.path(), envs)
}

/// How many times the server answered `GET /version`.
fn version_requests(api: &ApiServer) -> usize {
    api.requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/version")
        .count()
}

#[test]
fn kube_version_reads_the_current_context_as_text_and_json() {
    let api = api_server("v1.32.1-eks-5e0fdde", "eks-prod");
    let kubeconfig = api.kubeconfig_path().to_str().expect("UTF-8 path");

    // KUBECONFIG, text: the same line as for the string.
    let run = tagwarden_with(&["kube-version"], &[("KUBECONFIG", kubeconfig)]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "1.32.1 (eks)\n");
    assert_eq!(run.stderr, "");
    assert_eq!(version_requests(&api), 1);
    let given = tagwarden_with(&["kube-version", "v1.32.1-eks-5e0fdde"], &[]);
    assert_eq!(given.stdout, run.stdout);

    // --kubeconfig, JSON: the contract's shape, and the server said `minor: "32+"`.
    let run = tagwarden_with(
        &["kube-version", "--kubeconfig", kubeconfig, "-o", "json"],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.json(),
        json!({"major":1,"minor":32,"patch":1,"distribution":"eks","git_version":"v1.32.1-eks-5e0fdde"})
    );
    assert_eq!(version_requests(&api), 2);

    // ~/.kube/config when nothing else names a file.
    let home = scratch();
    std::fs::create_dir(home.path().join(".kube")).expect("mkdir ~/.kube");
    api.write_kubeconfig(&home.path().join(".kube").join("config"));
    let run = tagwarden_with(
        &["kube-version", "-o", "json"],
        &[("HOME", home.path().to_str().expect("UTF-8 path"))],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["minor"], 32);
    assert_eq!(version_requests(&api), 3);
}

#[test]
fn context_selects_between_clusters_of_a_kubeconfig_list() {
    let blue = api_server("v1.31.4", "blue");
    let green = api_server("v1.33.0-gke.1000", "green");
    // A KUBECONFIG list with a missing file in it: skipped, as kubectl skips it.
    let dir = scratch();
    let missing = dir.path().join("absent.yaml");
    let kubeconfig = list(&[blue.kubeconfig_path(), &missing, green.kubeconfig_path()]);
    let env = [("KUBECONFIG", kubeconfig.as_str())];

    // The first file's current-context wins.
    let run = tagwarden_with(&["kube-version"], &env);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "1.31.4 (upstream)\n");

    let run = tagwarden_with(&["kube-version", "--context", "green"], &env);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "1.33.0 (gke)\n");
    assert_eq!(version_requests(&blue), 1);
    assert_eq!(version_requests(&green), 1);

    // An unknown context is the user's to fix: exit 2, naming it and the known ones.
    let run = tagwarden_with(&["kube-version", "--context", "purple"], &env);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("\"purple\""), "{run:?}");
    assert!(run.stderr.contains("blue, green"), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");

    // A --kubeconfig that does not exist is exit 2 too; flags with a string are refused.
    let absent = missing.to_str().expect("UTF-8 path");
    let run = tagwarden_with(&["kube-version", "--kubeconfig", absent], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("absent.yaml"), "{run:?}");
    let run = tagwarden_with(&["kube-version", "1.32", "--context", "green"], &env);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn an_unreachable_api_server_is_exit_3_naming_it() {
    let api = api_server("v1.32.1", "gone");
    let dead = format!("https://{}", dead_addr());
    let dir = scratch();
    let path = write(
        dir.path(),
        "kubeconfig",
        &api.kubeconfig().replace(&api.url(), &dead),
    );
    let kubeconfig = path.to_str().expect("UTF-8 path");

    let run = tagwarden_with(&["kube-version"], &[("KUBECONFIG", kubeconfig)]);
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .starts_with("error: cannot reach the Kubernetes API server"),
        "{run:?}"
    );
    assert!(run.stderr.contains(&dead), "{run:?}");
    assert!(run.stderr.contains("(context gone)"), "{run:?}");
    assert!(
        run.stderr.contains("tagwarden kube-version v1.32.1"),
        "{run:?}"
    );
    // The error on one line, then what to do about it.
    assert_eq!(run.stderr.lines().count(), 2, "{run:?}");
    assert!(
        run.stderr
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("hint: check the server address"),
        "{run:?}"
    );

    // post-render and check never skip tracking silently: exit 3, nothing on stdout, and
    // how to pass the version.
    let charts = shared();
    let input = rendered("capsule.yaml", charts.addr());
    for command in ["post-render", "check"] {
        let run = run_stdin(&[command], input.as_bytes(), &[("KUBECONFIG", kubeconfig)]);
        assert_eq!(run.code, 3, "{command}: {run:?}");
        assert_eq!(run.stdout, "", "{command}");
        assert!(run.stderr.contains(&dead), "{command}: {run:?}");
        assert!(
            run.stderr
                .contains("--kube-version VERSION (or TAGWARDEN_KUBE_VERSION)"),
            "{command}: {run:?}"
        );
    }
    // TAGWARDEN_KUBE_VERSION comes first: the cluster is not asked.
    let run = run_stdin(
        &["post-render"],
        input.as_bytes(),
        &[
            ("KUBECONFIG", kubeconfig),
            ("TAGWARDEN_KUBE_VERSION", "1.32"),
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("clastix/kubectl:v1.31"), "{run:?}");
}

#[test]
fn a_wrong_token_is_exit_3_with_the_servers_401() {
    let api = ApiServer::builder()
        .token("the-right-token")
        .context_name("locked")
        .empty()
        .start();
    let dir = scratch();
    let path = write(
        dir.path(),
        "kubeconfig",
        &api.kubeconfig().replace("the-right-token", "a-stale-token"),
    );
    let run = tagwarden_with(
        &["kube-version"],
        &[("KUBECONFIG", path.to_str().expect("UTF-8 path"))],
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "the Kubernetes API server {} (context locked) did not accept the credentials (401 Unauthorized)",
            api.url()
        )),
        "{run:?}"
    );
    assert!(!run.stderr.contains("a-stale-token"), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 2, "{run:?}");
    assert!(run.stderr.contains("\nhint: log in again"), "{run:?}");
}

#[test]
fn post_render_and_check_repair_against_the_live_clusters_version() {
    let charts = shared();
    let addr = charts.addr();
    let input = rendered("capsule.yaml", addr);
    let api = api_server("v1.32.1-eks-5e0fdde", "eks");
    let kubeconfig = api.kubeconfig_path().to_str().expect("UTF-8 path");

    let run = run_stdin(
        &["post-render"],
        input.as_bytes(),
        &[("KUBECONFIG", kubeconfig)],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let expected = replace_except(
        &input,
        "clastix/kubectl:v1.32",
        "clastix/kubectl:v1.31",
        KEEP,
    );
    assert_ne!(expected, input);
    assert_eq!(run.stdout, expected);
    assert!(!run.stderr.contains("warning"), "{run:?}");
    assert_eq!(version_requests(&api), 1);

    let run = run_stdin(
        &["check", "-o", "json"],
        input.as_bytes(),
        &[("KUBECONFIG", kubeconfig)],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let report: Value = run.json();
    let wanted = format!("{addr}/clastix/kubectl:v1.32");
    let kubectl = report["images"]
        .as_array()
        .expect("images")
        .iter()
        .find(|i| i["image"] == wanted.as_str())
        .unwrap_or_else(|| panic!("{wanted} in {report}"));
    assert_eq!(kubectl["fallback"], format!("{addr}/clastix/kubectl:v1.31"));
    assert_eq!(version_requests(&api), 2);
}

#[test]
fn post_render_honours_helm_kubecontext() {
    let charts = shared();
    let input = rendered("capsule.yaml", charts.addr());
    // The current context is at 1.33, where v1.32 does not track; Helm's context is 1.32.
    let current = api_server("v1.33.2", "current");
    let helms = api_server("v1.32.0", "helms");
    let kubeconfig = list(&[current.kubeconfig_path(), helms.kubeconfig_path()]);

    let run = run_stdin(
        &["post-render"],
        input.as_bytes(),
        &[
            ("KUBECONFIG", kubeconfig.as_str()),
            ("HELM_KUBECONTEXT", "helms"),
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let expected = replace_except(
        &input,
        "clastix/kubectl:v1.32",
        "clastix/kubectl:v1.31",
        KEEP,
    );
    assert_eq!(run.stdout, expected);
    assert_eq!(version_requests(&helms), 1);
    assert_eq!(version_requests(&current), 0);

    let run = run_stdin(
        &["post-render"],
        input.as_bytes(),
        &[("KUBECONFIG", kubeconfig.as_str())],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, input, "at 1.33, v1.32 does not track");
    assert_eq!(version_requests(&current), 1);
}

#[test]
fn without_any_kubeconfig_todays_behaviour_stays() {
    let charts = shared();
    let input = rendered("capsule.yaml", charts.addr());
    // KUBECONFIG names only a file that does not exist, and HOME has no ~/.kube/config.
    let dir = scratch();
    let absent = dir.path().join("absent.yaml");
    let env = [("KUBECONFIG", absent.to_str().expect("UTF-8 path"))];

    let run = run_stdin(&["post-render"], input.as_bytes(), &env);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("post-render needs a Kubernetes version"),
        "{run:?}"
    );
    let run = run_stdin(
        &["post-render", "--pin", "--allow-missing"],
        input.as_bytes(),
        &env,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.starts_with("warning: no --kube-version"),
        "{run:?}"
    );

    // check skips tracking, and says so (one line).
    let run = run_stdin(&["check", "-o", "json"], input.as_bytes(), &env);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .starts_with("warning: no Kubernetes version to track"),
        "{run:?}"
    );
    assert_eq!(
        run.stderr.matches("no Kubernetes version to track").count(),
        1,
        "{run:?}"
    );
    assert!(run.stdout.contains("\"fallback\": null"), "{run:?}");
    let run = tagwarden_with(&["kube-version"], &env);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no cluster to ask"), "{run:?}");
}
