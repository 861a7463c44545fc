//! `tagwarden kube-version`: the contract's JSON shape, text output and exit codes.

use crate::common::tagwarden;
use serde_json::json;

#[test]
fn json_matches_the_contract() {
    let run = tagwarden(&["kube-version", "v1.32.1-eks-5e0fdde", "-o", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.json(),
        json!({"major":1,"minor":32,"patch":1,"distribution":"eks","git_version":"v1.32.1-eks-5e0fdde"})
    );
    // Field order is part of the stable interface.
    let compact: String = run.stdout.split_whitespace().collect();
    assert_eq!(
        compact,
        r#"{"major":1,"minor":32,"patch":1,"distribution":"eks","git_version":"v1.32.1-eks-5e0fdde"}"#
    );
}

#[test]
fn distributions_and_fields() {
    let cases = [
        (vec!["v1.29.4+k3s1"], json!([1, 29, 4, "k3s"])),
        (vec!["v1.30.5-gke.1014001"], json!([1, 30, 5, "gke"])),
        (vec!["v1.28.9+rke2r1"], json!([1, 28, 9, "rke2"])),
        (vec!["v1.27.10+f1b5e0e"], json!([1, 27, 10, "openshift"])),
        (vec!["1.32"], json!([1, 32, null, "upstream"])),
        (
            vec!["--major", "1", "--minor", "28+"],
            json!([1, 28, null, "upstream"]),
        ),
        (
            vec![
                "v0.2.3-1-g96ce0beb59c389+kcp",
                "--major",
                "1",
                "--minor",
                "23",
            ],
            json!([1, 23, null, "upstream"]),
        ),
    ];
    for (args, want) in cases {
        let mut full = vec!["kube-version"];
        full.extend(&args);
        full.extend(["-o", "json"]);
        let run = tagwarden(&full);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        let v = run.json();
        assert_eq!(
            json!([v["major"], v["minor"], v["patch"], v["distribution"]]),
            want,
            "{args:?}"
        );
    }
    let run = tagwarden(&["kube-version", "v1.28.5-eks-5e0fdde"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "1.28.5 (eks)\n");
}

#[test]
fn garbage_is_exit_2_with_one_line() {
    for bad in ["{gitVersion}", "banana", "", "v1", "1.x"] {
        let run = tagwarden(&["kube-version", bad]);
        assert_eq!(run.code, 2, "{bad:?}: {run:?}");
        assert_eq!(run.stdout, "");
        assert_eq!(run.stderr.lines().count(), 1, "{bad:?}: {run:?}");
        assert!(run.stderr.starts_with("error: "), "{run:?}");
    }
    let run = tagwarden(&["kube-version"]);
    assert_eq!(run.code, 2, "{run:?}");
    let run = tagwarden(&["kube-version", "--minor", "x"]);
    assert_eq!(run.code, 2, "{run:?}");
}
