//! The spinner of resolve, gaps, matrix verify and post-render: on a terminal only, gone
//! before the answer; and `matrix --file -`, which reads stdin as `check -` does.

use std::process::Command;

use crate::charts::{rendered, shared};
use crate::common::{Run, tagwarden};

/// `tagwarden ARGS [< STDIN_FILE]` with stdout and stderr on a pseudo-terminal.
fn on_a_terminal(args: &[&str], stdin_file: Option<&str>) -> Run {
    let home = tempfile::tempdir().expect("temp HOME");
    let quote = |text: &str| format!("'{}'", text.replace('\'', r"'\''"));
    let mut line = format!("exec {}", quote(env!("CARGO_BIN_EXE_tagwarden")));
    for arg in args {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    if let Some(file) = stdin_file {
        line.push_str(&format!(" < {}", quote(file)));
    }
    let output = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("HOME", home.path())
        .env("TERM", "xterm")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("TAGWARDEN_CONFIG")
        .output()
        .expect("run util-linux `script` for a pseudo-terminal");
    Run {
        code: output.status.code().expect("killed by a signal"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn matrix_file(dir: &tempfile::TempDir, addr: &str) -> String {
    let path = dir.path().join("compat.yaml");
    std::fs::write(
        &path,
        format!(
            "name: capsule\nimage: {addr}/clastix/kubectl:v{{major}}.{{minor}}\nversions:\n  - app: 0.7.x\n    kubernetes: 1.28 - 1.32\n"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn commands_that_wait_on_registries_spin_on_a_terminal_only() {
    let charts = shared();
    let addr = charts.addr();
    let dir = tempfile::tempdir().unwrap();
    let matrix = matrix_file(&dir, addr);
    let manifest = dir.path().join("capsule.yaml");
    std::fs::write(&manifest, rendered("capsule.yaml", addr)).unwrap();
    let manifest = manifest.to_str().unwrap();
    let image = format!("{addr}/clastix/kubectl:v1.32");
    let repo = format!("{addr}/clastix/kubectl");
    let versions = "1.30.0,1.31.0,1.32.0";
    let cases: [(Vec<&str>, Option<&str>, &str, i32); 4] = [
        (vec!["resolve", &image], None, "resolving ", 0),
        (
            vec![
                "gaps",
                "--image",
                &repo,
                "--versions",
                versions,
                "--tag-format",
                "v{major}.{minor}",
            ],
            None,
            "listing upstream versions",
            1,
        ),
        (
            vec!["matrix", "verify", "--file", &matrix],
            None,
            "asking registries about promised tags",
            1,
        ),
        (
            vec!["post-render", "--kube-version", "1.32"],
            Some(manifest),
            "asking registries about images",
            0,
        ),
    ];
    for (args, stdin, spinner, code) in cases {
        let run = on_a_terminal(&args, stdin);
        assert_eq!(run.code, code, "{args:?}: {run:?}");
        assert!(
            run.stdout.contains(spinner),
            "{args:?}: no spinner: {run:?}"
        );
        // Piped: no spinner on stderr.
        let piped = match stdin {
            Some(file) => crate::charts::tagwarden_stdin(&args, &std::fs::read(file).unwrap()),
            None => tagwarden(&args),
        };
        assert_eq!(piped.code, code, "{args:?}: {piped:?}");
        assert!(!piped.stderr.contains(spinner), "{args:?}: {piped:?}");
    }
}

#[test]
fn matrix_reads_stdin_with_a_dash() {
    let yaml = "name: capsule\nversions:\n  - app: 0.7.x\n    kubernetes: 1.28 - 1.32\n";
    let run = crate::charts::tagwarden_stdin(&["matrix", "show", "--file", "-"], yaml.as_bytes());
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("| 0.7.x |"), "{run:?}");
    assert!(run.stdout.ends_with('\n'), "{run:?}");
    let run = crate::charts::tagwarden_stdin(
        &[
            "matrix",
            "check",
            "-f",
            "-",
            "--app",
            "0.7.1",
            "--kube-version",
            "1.30",
        ],
        yaml.as_bytes(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("supported: "), "{run:?}");
    // Errors name <stdin>, with line and column.
    let run = crate::charts::tagwarden_stdin(
        &["matrix", "show", "--file", "-"],
        b"versions:\n  - app: 0.7.x\n    kubernetes: latest\n",
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.starts_with("error: <stdin>:3:17: "), "{run:?}");
    // And verify, against a registry.
    let charts = shared();
    let text = format!(
        "image: {}/clastix/kubectl:v{{major}}.{{minor}}\nversions:\n  - app: 0.7.x\n    kubernetes: 1.30 - 1.31\n",
        charts.addr()
    );
    let run = crate::charts::tagwarden_stdin(&["matrix", "verify", "--file", "-"], text.as_bytes());
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("all 2 promised images exist"),
        "{run:?}"
    );
}
