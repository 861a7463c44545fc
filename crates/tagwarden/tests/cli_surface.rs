//! The command line itself: which options each `--help` shows, which `-o` formats each
//! command offers, and flag values that would make a run silently useless (exit 2).

use crate::common::tagwarden;

const REGISTRY_OPTIONS: [&str; 12] = [
    "--insecure-registry",
    "--registry-config",
    "--pull-secret",
    "--ca-file",
    "--certs-dir",
    "--config",
    "--no-cache",
    "--attempts",
    "--retry-budget",
    "--timeout",
    "--max-concurrency",
    "--rps",
];

/// Where `option` is listed in a help text (its line starts with it).
fn listed_at(text: &str, option: &str) -> Option<usize> {
    text.find(&format!("  {option} "))
        .or_else(|| text.find(&format!("  {option}\n")))
}

fn help(command: &[&str]) -> String {
    let mut args = command.to_vec();
    args.push("--help");
    let run = tagwarden(&args);
    assert_eq!(run.code, 0, "{command:?}: {run:?}");
    run.stdout
}

/// The `-o` values a command's help lists.
fn formats(help: &str) -> Vec<String> {
    let Some(start) = help.find("-o, --output <FORMAT>") else {
        return Vec::new();
    };
    let section = &help[start..];
    let end = section.find("[default:").unwrap_or(section.len());
    [
        "text",
        "json",
        "sarif",
        "junit",
        "kustomize-images",
        "github-matrix",
    ]
    .iter()
    .filter(|f| section[..end].contains(&format!("- {f}:")))
    .map(|f| f.to_string())
    .collect()
}

#[test]
fn registry_options_show_only_where_a_registry_is_contacted() {
    for command in [
        vec!["resolve"],
        vec!["check"],
        vec!["post-render"],
        vec!["gaps"],
        vec!["matrix", "verify"],
    ] {
        let text = help(&command);
        let heading = text
            .find("\nRegistry options:\n")
            .unwrap_or_else(|| panic!("{command:?} has no Registry options heading:\n{text}"));
        for option in REGISTRY_OPTIONS {
            let at = listed_at(&text, option)
                .unwrap_or_else(|| panic!("{command:?} lacks {option}:\n{text}"));
            assert!(
                at > heading,
                "{command:?}: {option} is not under the heading"
            );
        }
    }
    for command in [
        vec!["kube-version"],
        vec!["matrix", "show"],
        vec!["matrix", "check"],
        vec!["cache"],
        vec!["cache", "path"],
        vec!["cache", "clear"],
        vec![],
    ] {
        let text = help(&command);
        assert!(!text.contains("Registry options"), "{command:?}:\n{text}");
        for option in REGISTRY_OPTIONS {
            assert!(
                listed_at(&text, option).is_none(),
                "{command:?} shows {option}:\n{text}"
            );
        }
        // A registry option there is a usage error, not silently ignored.
        if !command.is_empty() {
            let mut args = command.clone();
            args.extend(["--timeout", "5"]);
            let run = tagwarden(&args);
            assert_eq!(run.code, 2, "{args:?}: {run:?}");
        }
    }
}

#[test]
fn each_command_offers_only_the_formats_it_writes() {
    let cases: [(&[&str], &[&str]); 9] = [
        (&["kube-version"], &["text", "json"]),
        (&["resolve"], &["text", "json"]),
        (
            &["check"],
            &["text", "json", "sarif", "junit", "kustomize-images"],
        ),
        (&["gaps"], &["text", "json", "github-matrix"]),
        (&["matrix", "show"], &["text", "json"]),
        (&["matrix", "check"], &["text", "json"]),
        (&["matrix", "verify"], &["text", "json"]),
        (&["cache", "path"], &["text", "json"]),
        (&["post-render"], &[]),
    ];
    for (command, want) in cases {
        assert_eq!(formats(&help(command)), want, "{command:?}");
    }
    let run = tagwarden(&["kube-version", "v1.32.0", "-o", "sarif"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("possible values: text, json"),
        "{run:?}"
    );
    let run = tagwarden(&["check", "-o", "github-matrix"]);
    assert_eq!(run.code, 2, "{run:?}");
    // -o after a nested command, and the global options before or after the command.
    let run = tagwarden(&["cache", "path", "-o", "json"]);
    assert_eq!(run.code, 0, "{run:?}");
    run.json();
    for args in [
        ["--debug", "--color", "never", "kube-version", "v1.32.0"],
        ["kube-version", "v1.32.0", "--debug", "--color", "never"],
    ] {
        let run = tagwarden(&args);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        assert_eq!(run.stdout, "1.32.0 (upstream)\n");
    }
    // Global options are grouped too.
    assert!(help(&["kube-version"]).contains("\nGlobal options:\n"));
}

#[test]
fn values_that_would_silently_do_nothing_are_exit_2() {
    let cases = [
        (vec!["--timeout", "0"], "--timeout", "at least 1"),
        (
            vec!["--max-concurrency", "0"],
            "--max-concurrency",
            "at least 1",
        ),
        (vec!["--attempts", "0"], "--attempts", "at least 1"),
        (vec!["--rps", "0"], "--rps", "above 0"),
        (vec!["--rps=-2"], "--rps", "above 0"),
        (vec!["--rps", "NaN"], "--rps", "above 0"),
        (vec!["--rps", "inf"], "--rps", "above 0"),
        (vec!["--timeout", "x"], "--timeout", "not a whole number"),
        (
            vec!["--insecure-registry", "https://registry.local:5000/"],
            "--insecure-registry",
            "without `https://`: --insecure-registry registry.local:5000",
        ),
        (
            vec!["--insecure-registry", "registry.local/v2"],
            "--insecure-registry",
            "not HOST[:PORT]",
        ),
    ];
    for (flags, name, message) in cases {
        for command in [vec!["resolve", "127.0.0.1:9/a/b:1"], vec!["check", "-"]] {
            let mut args = command.clone();
            args.extend(&flags);
            let run = tagwarden(&args);
            assert_eq!(run.code, 2, "{args:?}: {run:?}");
            let first = run.stderr.lines().next().unwrap_or_default();
            assert!(
                first.starts_with("error: ") && first.contains(name) && first.contains(message),
                "{args:?}: {run:?}"
            );
        }
    }
    // The smallest valid values are accepted.
    let run = tagwarden(&["cache", "path"]);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn kube_version_says_when_the_fields_and_the_git_version_disagree() {
    // Both fields, disagreeing: they win (another product's gitVersion), with a warning.
    let run = tagwarden(&["kube-version", "v1.32.0", "--major", "1", "--minor", "28"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "1.28 (upstream)\n");
    assert!(
        run.stderr.starts_with(
            "warning: v1.32.0 is Kubernetes 1.32, but --major/--minor say 1.28; using 1.28"
        ),
        "{run:?}"
    );
    // --minor alone cannot be used, and disagrees: the gitVersion wins, with a warning.
    let run = tagwarden(&["kube-version", "v1.32.0", "--minor", "28"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "1.32.0 (upstream)\n");
    assert!(
        run.stderr.starts_with(
            "warning: v1.32.0 is Kubernetes 1.32, but --major/--minor disagree and are ignored"
        ),
        "{run:?}"
    );
    // Unreadable fields are named.
    let run = tagwarden(&["kube-version", "v1.32.0", "--minor", "x"]);
    assert!(run.stderr.contains("--major/--minor ignored"), "{run:?}");
    // Agreeing fields, and kcp's non-Kubernetes gitVersion: nothing to say.
    for args in [
        vec![
            "kube-version",
            "v1.28.5-eks-5e0fdde",
            "--major",
            "1",
            "--minor",
            "28+",
        ],
        vec!["kube-version", "v1.32.0", "--minor", "32"],
        vec![
            "kube-version",
            "v0.2.3-1-g96ce0beb59c389+kcp",
            "--major",
            "1",
            "--minor",
            "23",
        ],
    ] {
        let run = tagwarden(&args);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        assert_eq!(run.stderr, "", "{args:?}: {run:?}");
    }
}
