//! Colour only where a person looks: no ANSI codes on stderr that is not a terminal, unless
//! `--color always`; `NO_COLOR` and `--color never` win on a terminal; a YAML error on a
//! terminal is shown once; other crates' log events never sit on top of the `error:` line.
//!
//! A terminal is a real pseudo-terminal, from util-linux's `script`.

use std::process::Command;

use crate::common::{Run, tagwarden_with};
use tagwarden_testbed::{Registry, RegistryMode, seed_standard};

const ESC: char = '\u{1b}';

/// Whether `text` holds an SGR colour sequence (`ESC [ … m`); a spinner's cursor and
/// erase-line sequences are not colours.
fn coloured(text: &str) -> bool {
    text.split("\u{1b}[").skip(1).any(|rest| {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(rest.len());
        end > 0 && rest[end..].starts_with('m')
    })
}

/// Runs `tagwarden ARGS` with stdin, stdout and stderr on a pseudo-terminal; everything it
/// wrote comes back as `stdout` (with `\r\n` line ends).
fn on_a_terminal(args: &[&str], envs: &[(&str, &str)]) -> Run {
    let home = tempfile::tempdir().expect("temp HOME");
    let mut line = shell_quote(env!("CARGO_BIN_EXE_tagwarden"));
    for arg in args {
        line.push(' ');
        line.push_str(&shell_quote(arg));
    }
    let mut command = Command::new("script");
    command
        .args(["-qec", &line, "/dev/null"])
        .env("HOME", home.path())
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("TAGWARDEN_LOG")
        .env_remove("TAGWARDEN_CONFIG")
        .env_remove("XDG_CACHE_HOME");
    for (key, value) in envs {
        command.env(key, value);
    }
    let output = command
        .output()
        .expect("run util-linux `script` (bsdutils) for a pseudo-terminal");
    Run {
        code: output.status.code().expect("killed by a signal"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn broken_yaml() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "apiVersion: v1\nkind: Pod\nspec: [\n  a: b\n").unwrap();
    let path = path.to_str().unwrap().to_string();
    (dir, path)
}

#[test]
fn a_yaml_error_on_a_terminal_is_shown_once_as_a_snippet() {
    let (_dir, path) = broken_yaml();
    let run = on_a_terminal(&["check", &path], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.contains(ESC), "coloured on a terminal: {run:?}");
    assert_eq!(
        run.stdout.matches("unclosed bracket").count(),
        1,
        "the snippet, and not the plain line too: {run:?}"
    );
    assert!(run.stdout.contains(&format!("{path}:3:7")), "{run:?}");
    assert!(
        run.stdout.contains("spec: ["),
        "the offending line: {run:?}"
    );

    // NO_COLOR and --color never: the same snippet, without colours.
    for (args, envs) in [
        (vec!["check", &path], vec![("NO_COLOR", "1")]),
        (vec!["check", &path, "--color", "never"], vec![]),
        (vec!["--color=never", "check", &path], vec![]),
    ] {
        let run = on_a_terminal(&args, &envs);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(!run.stdout.contains(ESC), "{args:?} {envs:?}: {run:?}");
        assert_eq!(run.stdout.matches("unclosed bracket").count(), 1, "{run:?}");
        assert!(run.stdout.contains("spec: ["), "{run:?}");
    }

    // Not a terminal: the one plain line, as always.
    let run = tagwarden_with(&["check", &path, "--color", "always"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        format!("error: {path}:3:7: unclosed bracket '['\n"),
        "{run:?}"
    );
}

#[test]
fn log_lines_are_coloured_only_when_asked_or_on_a_terminal() {
    let registry = Registry::start_with(RegistryMode::Htpasswd);
    seed_standard(&registry);
    let (user, password) = registry.credentials();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tagwarden.yaml");
    std::fs::write(
        &config,
        format!(
            "registries:\n  insecure_skip_verify: [\"{}\"]\n",
            registry.addr()
        ),
    )
    .unwrap();
    let docker = dir.path().join("docker.json");
    std::fs::write(
        &docker,
        serde_json::json!({"auths": {registry.addr(): {"username": user, "password": password}}})
            .to_string(),
    )
    .unwrap();
    let image = format!("{}/clastix/kubectl:v1.30", registry.addr());
    let base = [
        "resolve",
        image.as_str(),
        "--config",
        config.to_str().unwrap(),
        "--registry-config",
        docker.to_str().unwrap(),
    ];
    let with = |extra: &[&'static str]| {
        let mut args = base.to_vec();
        args.extend(extra);
        args
    };

    // Piped stderr: a warning (insecure_skip_verify) and debug lines, with no ANSI codes.
    let run = tagwarden_with(&with(&["--debug"]), &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("NOT verified"), "{run:?}");
    // Log lines look like the other messages: `warning: …`, `debug: …`.
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("warning: TLS certificates of ")),
        "{run:?}"
    );
    assert!(
        run.stderr.lines().any(|l| l.starts_with("debug: ")),
        "{run:?}"
    );
    assert!(!coloured(&run.stderr), "{run:?}");

    // --color always colours them even into a pipe.
    let run = tagwarden_with(&with(&["--color", "always"]), &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("NOT verified"), "{run:?}");
    assert!(coloured(&run.stderr), "{run:?}");

    // A terminal: coloured, unless NO_COLOR (auto) or --color never.
    let run = on_a_terminal(&with(&[]), &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("NOT verified") && coloured(&run.stdout),
        "{run:?}"
    );
    let run = on_a_terminal(&with(&[]), &[("NO_COLOR", "1")]);
    assert!(
        run.stdout.contains("NOT verified") && !coloured(&run.stdout),
        "{run:?}"
    );
    let run = on_a_terminal(&with(&["--color", "never"]), &[]);
    assert!(
        run.stdout.contains("NOT verified") && !coloured(&run.stdout),
        "{run:?}"
    );
    // An explicit --color always wins over NO_COLOR, as in ripgrep.
    let run = tagwarden_with(&with(&["--color", "always"]), &[("NO_COLOR", "1")]);
    assert!(coloured(&run.stderr), "{run:?}");
}

#[test]
fn a_tls_failure_is_one_error_line_with_no_library_log_on_top() {
    let registry = Registry::start_with(RegistryMode::Htpasswd);
    let image = format!("{}/clastix/kubectl:v1.30", registry.addr());
    for args in [
        vec!["resolve", image.as_str()],
        vec!["resolve", image.as_str(), "--debug"],
    ] {
        let run = tagwarden_with(&args, &[]);
        assert_eq!(run.code, 3, "{args:?}: {run:?}");
        // rustls-platform-verifier logs "failed to verify TLS certificate" at ERROR.
        assert!(!run.stderr.contains("ERROR"), "{args:?}: {run:?}");
        assert!(
            !run.stderr.contains("failed to verify"),
            "{args:?}: {run:?}"
        );
        assert!(!run.stderr.contains(ESC), "{args:?}: {run:?}");
        let errors: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.to_lowercase().contains("certificate") && !l.starts_with("debug: "))
            .collect();
        assert_eq!(errors.len(), 1, "{args:?}: {run:?}");
        assert!(errors[0].starts_with("error: "), "{args:?}: {run:?}");
    }
}
