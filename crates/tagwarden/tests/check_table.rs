//! `check`'s text table: plain columns when piped, borders on a terminal that fit its width
//! (references whole whenever the width allows; 0 columns), long cells truncated, the
//! summary on stderr.
//!
//! A terminal is a real pseudo-terminal from util-linux's `script`, sized with `stty`.

use std::process::Command;

use crate::charts::{rendered_dir, shared};
use crate::common::{Run, tagwarden};

const BOX_DRAWING: [char; 6] = ['│', '┆', '─', '┌', '╞', '═'];

/// `tagwarden ARGS` on a pseudo-terminal `columns` wide; stdout and stderr both come back
/// in `stdout`, with `\r\n` line ends turned into `\n`.
fn on_a_terminal(columns: u16, args: &[&str]) -> Run {
    let home = tempfile::tempdir().expect("temp HOME");
    let mut line = format!(
        "stty cols {columns} rows 50; exec '{}'",
        env!("CARGO_BIN_EXE_tagwarden")
    );
    for arg in args {
        line.push_str(&format!(" '{}'", arg.replace('\'', r"'\''")));
    }
    let output = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("HOME", home.path())
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("TAGWARDEN_CONFIG")
        .output()
        .expect("run util-linux `script` for a pseudo-terminal");
    Run {
        code: output.status.code().expect("killed by a signal"),
        stdout: String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n"),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The references of the shared charts that the table must show whole.
fn references(addr: &str) -> Vec<String> {
    vec![
        format!("{addr}/clastix/kubectl:v1.32"),
        format!("{addr}/clastix/kubectl:v1.31"),
        format!("{addr}/projectcapsule/capsule:v0.7.2"),
        format!("{addr}/bitnami/kubectl:1.32"),
    ]
}

#[test]
fn piped_the_table_is_plain_columns_and_the_summary_goes_to_stderr() {
    let charts = shared();
    let dir = rendered_dir(charts.addr());
    let root = dir.path().to_str().unwrap();
    let run = tagwarden(&["check", root, "--kube-version", "1.32"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        !run.stdout.contains(BOX_DRAWING),
        "no box drawing in a pipe: {run:?}"
    );
    let header = run.stdout.lines().next().unwrap();
    let columns: Vec<&str> = header
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(columns, ["IMAGE", "STATUS", "DETAIL", "USED AT"], "{run:?}");
    // Columns line up: every STATUS starts where its header does.
    let status_at = header.find("STATUS").unwrap();
    for line in run.stdout.lines().skip(1) {
        let status = &line[status_at.min(line.len())..];
        if !status.starts_with(' ') && !status.is_empty() {
            assert!(
                ["present", "missing", "denied", "unreachable", "invalid"]
                    .iter()
                    .any(|s| status.starts_with(s)),
                "{line:?} in {run:?}"
            );
        }
        assert_eq!(line, line.trim_end(), "no trailing blanks: {line:?}");
    }
    for reference in references(charts.addr()) {
        assert!(run.stdout.contains(&reference), "{reference}: {run:?}");
    }
    assert!(!run.stdout.contains("unique image"), "{run:?}");
    assert!(
        run.stderr.starts_with("9 unique images in 17 places"),
        "{run:?}"
    );
}

#[test]
fn at_80_columns_the_table_fits_and_wide_enough_no_reference_is_broken() {
    let charts = shared();
    let dir = rendered_dir(charts.addr());
    let root = dir.path().to_str().unwrap();
    // 80 columns: the table fits, whatever it has to break to.
    let run = on_a_terminal(80, &["check", root, "--kube-version", "1.32"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains('│'), "borders on a terminal: {run:?}");
    let table: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with(['│', '└', '╞']))
        .collect();
    let widest = |lines: &[&str]| lines.iter().map(|l| l.chars().count()).max().unwrap();
    assert!(widest(&table) <= 80, "{} columns: {run:?}", widest(&table));

    // Wide enough for every whole reference and location: none is broken, and prose
    // still wraps (the table is narrower than its natural width).
    let run = on_a_terminal(150, &["check", root, "--kube-version", "1.32"]);
    assert_eq!(run.code, 1, "{run:?}");
    for reference in references(charts.addr()) {
        assert!(
            run.stdout.contains(&reference),
            "{reference} broken: {run:?}"
        );
    }
    assert!(
        run.stdout.contains(&format!("{root}/capsule.yaml:131:18")),
        "{run:?}"
    );
    let table: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with('│')).collect();
    assert!(widest(&table) <= 150, "{run:?}");
    // A digest is not a reference: it may be split to save width.
    assert!(
        !run.stdout
            .contains(&charts.digest("library/busybox", "1.36")),
        "{run:?}"
    );
    let piped = tagwarden(&["check", root, "--kube-version", "1.32"]);
    let natural = piped
        .stdout
        .lines()
        .map(|l| l.chars().count())
        .max()
        .unwrap();
    assert!(
        widest(&table) < natural,
        "{} >= {natural}: {run:?}",
        widest(&table)
    );
}

#[test]
fn a_terminal_of_0_columns_does_not_collapse_the_table() {
    let charts = shared();
    let dir = rendered_dir(charts.addr());
    let root = dir.path().to_str().unwrap();
    let run = on_a_terminal(0, &["check", root, "--kube-version", "1.32"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("│ IMAGE"), "{run:?}");
    assert!(run.stdout.contains("STATUS"), "{run:?}");
    for reference in references(charts.addr()) {
        assert!(run.stdout.contains(&reference), "{reference}: {run:?}");
    }
}

#[test]
fn a_huge_image_string_is_truncated_in_the_table_and_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    let image = format!("{}:v1", "a".repeat(1_600_000));
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n    - name: a\n      image: \"{image}\"\n"
        ),
    )
    .unwrap();
    let run = tagwarden(&["check", path.to_str().unwrap()]);
    assert_eq!(
        run.code,
        2,
        "invalid: {}",
        &run.stderr[..run.stderr.len().min(500)]
    );
    assert!(
        run.stdout.len() < 4_000,
        "{} bytes of table",
        run.stdout.len()
    );
    assert!(
        run.stdout
            .contains(&format!("… ({} bytes in all)", image.len())),
        "{}",
        &run.stdout[..run.stdout.len().min(2_000)]
    );
    assert!(
        run.stderr.len() < 2_000,
        "{} bytes of stderr",
        run.stderr.len()
    );
    assert!(
        run.stderr.contains("1 invalid image reference"),
        "{}",
        run.stderr
    );
}
