//! The crate's examples, run against the real test registry: they are documentation, so
//! they must keep working. `cargo test` builds the examples before it runs this; the
//! compiled binaries are taken from the target directory's `examples/` folder (no nested
//! cargo). Run alone, build them first: `cargo build -p tagwarden-registry --examples`.

use std::path::PathBuf;
use std::process::{Command, Output};

use tagwarden_testbed::{Registry, seed_standard};

/// `target/<profile>/examples/NAME`, next to this test binary's `deps/` folder.
fn example(name: &str) -> PathBuf {
    let test_binary = std::env::current_exe().expect("the test binary's path");
    let profile_dir = test_binary
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in <target>/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is not built: run `cargo test -p tagwarden-registry` (which builds the examples) or `cargo build -p tagwarden-registry --examples` first",
        path.display()
    );
    path
}

fn run(name: &str, args: &[&str]) -> Output {
    Command::new(example(name))
        .args(args)
        .output()
        .expect("the example runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn resolve_one_finds_the_capsule_fallback() {
    let registry = Registry::start();
    let seeded = seed_standard(&registry);
    let addr = registry.addr();

    let out = run("resolve_one", &[&format!("{addr}/clastix/kubectl:v1.32")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(text(&out.stdout), format!("{addr}/clastix/kubectl:v1.31\n"));
    assert!(
        text(&out.stderr).starts_with("v1.32 is not published; v1.31 is 1 minor older"),
        "{out:?}"
    );

    // From a Kubernetes version, the scheme inferred from the published tags.
    let out = run(
        "resolve_one",
        &[&format!("{addr}/clastix/kubectl"), "v1.31.4-eks-5e0fdde"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        text(&out.stdout),
        format!("{addr}/clastix/kubectl:v1.31.4\n")
    );
    assert!(
        text(&out.stderr).contains(&seeded.digest("clastix/kubectl", "v1.31.4")[..19]),
        "the explanation names the digest: {out:?}"
    );

    let out = run("resolve_one", &[&format!("{addr}/clastix/kubectl:v1.40")]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn inspect_many_reports_every_image_in_order() {
    let registry = Registry::start();
    seed_standard(&registry);
    let addr = registry.addr();
    let kubectl = format!("{addr}/clastix/kubectl:v1.32");
    let busybox = format!("{addr}/library/busybox:1.36");
    let out = run(
        "inspect_many",
        &[
            "--kube-version",
            "1.32",
            &kubectl,
            &busybox,
            "Not/A Reference",
            &kubectl,
        ],
    );
    // The worst verdict is the exit code: an invalid reference is 2.
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{out:?}");
    assert_eq!(
        lines[0],
        format!("{kubectl} missing fallback {addr}/clastix/kubectl:v1.31")
    );
    assert!(
        lines[1].starts_with(&format!("{busybox} present sha256:")),
        "{out:?}"
    );
    assert!(lines[2].starts_with("Not/A Reference invalid "), "{out:?}");
    assert_eq!(lines[3], lines[0], "a repeated image gets the same verdict");
}
