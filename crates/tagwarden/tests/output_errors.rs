//! Output that cannot be written: every command, every format, to a pipe whose reader has
//! gone (`| head -c100`) and to a full disk (`> /dev/full`).
//!
//! A closed pipe is quiet: nothing on stderr about it, and the command's own exit status.
//! A full disk is one `error:` line and exit 2. Nothing may panic (exit 101).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::process::{Command, Stdio};

use crate::charts::{rendered, shared};
use crate::common::Run;

/// Where stdout (or stderr) goes.
#[derive(Debug, Clone, Copy)]
enum Sink {
    /// A pipe whose read end was closed before the binary started: every write is EPIPE.
    ClosedPipe,
    /// `/dev/full`: every write is ENOSPC.
    DevFull,
}

impl Sink {
    fn stdio(self) -> Stdio {
        match self {
            Sink::ClosedPipe => {
                let (reader, writer) = std::io::pipe().expect("create a pipe");
                drop(reader);
                Stdio::from(writer)
            }
            Sink::DevFull => Stdio::from(dev_full()),
        }
    }
}

fn dev_full() -> File {
    OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full")
}

/// One command line, what it reads on stdin, and the exit status it has when its output
/// can be written.
struct Case {
    args: Vec<String>,
    stdin: Vec<u8>,
    status: i32,
}

fn case(args: &[&str], status: i32) -> Case {
    Case {
        args: args.iter().map(|a| a.to_string()).collect(),
        stdin: Vec::new(),
        status,
    }
}

/// Runs the binary with stdout (or stderr) on `sink`; captures the other stream.
fn run(case: &Case, sink: Sink, on_stderr: bool) -> Run {
    let home = tempfile::tempdir().expect("temp HOME");
    let mut command = Command::new(env!("CARGO_BIN_EXE_tagwarden"));
    command
        .args(&case.args)
        .env("HOME", home.path())
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("TAGWARDEN_REGISTRY_CONFIG")
        .env_remove("TAGWARDEN_LOG")
        .env_remove("TAGWARDEN_CONFIG")
        .env_remove("TAGWARDEN_KUBE_VERSION")
        .env_remove("XDG_CACHE_HOME")
        .stdin(Stdio::piped());
    if on_stderr {
        command.stdout(Stdio::piped()).stderr(sink.stdio());
    } else {
        command.stdout(sink.stdio()).stderr(Stdio::piped());
    }
    let mut child = command.spawn().expect("run the tagwarden binary");
    let mut stdin = child.stdin.take().expect("stdin pipe");
    let input = case.stdin.clone();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().expect("wait for tagwarden");
    writer.join().expect("stdin writer");
    Run {
        code: output
            .status
            .code()
            .expect("tagwarden was killed by a signal"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A matrix file and a manifest in a temporary folder.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new(addr: &str) -> Files {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("compat.yaml"),
            format!(
                "name: capsule\nimage: {addr}/clastix/kubectl:v{{major}}.{{minor}}\nversions:\n  - app: 0.7.x\n    kubernetes: 1.28 - 1.32\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("capsule.yaml"),
            rendered("capsule.yaml", addr),
        )
        .unwrap();
        Files { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }
}

/// Every command that writes to stdout, in every format it writes.
fn every_command(addr: &str, files: &Files) -> Vec<Case> {
    let matrix = files.path("compat.yaml");
    let manifest = files.path("capsule.yaml");
    let missing = format!("{addr}/clastix/kubectl:v1.32");
    let repo = format!("{addr}/clastix/kubectl");
    let mut cases = vec![
        case(&["kube-version", "v1.30.1"], 0),
        case(&["kube-version", "v1.30.1", "-o", "json"], 0),
        case(&["cache", "path"], 0),
        case(&["cache", "path", "-o", "json"], 0),
        case(&["matrix", "show", "--file", &matrix], 0),
        case(&["matrix", "show", "--file", &matrix, "-o", "json"], 0),
        case(
            &[
                "matrix",
                "check",
                "--file",
                &matrix,
                "--app",
                "0.7.1",
                "--kube-version",
                "1.30",
            ],
            0,
        ),
        case(
            &[
                "matrix",
                "check",
                "--file",
                &matrix,
                "--app",
                "0.7.1",
                "--kube-version",
                "1.30",
                "-o",
                "json",
            ],
            0,
        ),
        case(&["matrix", "verify", "--file", &matrix], 1),
        case(&["matrix", "verify", "--file", &matrix, "-o", "json"], 1),
        case(&["resolve", &missing], 0),
        case(&["resolve", &missing, "-o", "json"], 0),
        case(
            &[
                "gaps",
                "--image",
                &repo,
                "--versions",
                "1.30.0,1.31.0,1.32.0",
                "--tag-format",
                "v{major}.{minor}",
            ],
            1,
        ),
        case(
            &[
                "gaps",
                "--image",
                &repo,
                "--versions",
                "1.30.0,1.31.0,1.32.0",
                "--tag-format",
                "v{major}.{minor}",
                "-o",
                "json",
            ],
            1,
        ),
        case(
            &[
                "gaps",
                "--image",
                &repo,
                "--versions",
                "1.30.0,1.31.0,1.32.0",
                "--tag-format",
                "v{major}.{minor}",
                "-o",
                "github-matrix",
            ],
            1,
        ),
    ];
    for format in ["text", "json", "sarif", "junit", "kustomize-images"] {
        cases.push(case(
            &["check", "--kube-version", "1.32", &manifest, "-o", format],
            1,
        ));
    }
    let mut post_render = case(&["post-render", "--kube-version", "1.32"], 0);
    post_render.stdin = rendered("capsule.yaml", addr).into_bytes();
    cases.push(post_render);
    cases
}

fn assert_no_panic(case: &Case, run: &Run) {
    assert_ne!(run.code, 101, "{:?}: {run:?}", case.args);
    assert!(!run.stderr.contains("panicked"), "{:?}: {run:?}", case.args);
}

#[test]
fn every_command_exits_quietly_with_its_own_status_when_the_reader_is_gone() {
    let charts = shared();
    let files = Files::new(charts.addr());
    for case in every_command(charts.addr(), &files) {
        let run = run(&case, Sink::ClosedPipe, false);
        assert_no_panic(&case, &run);
        assert_eq!(run.code, case.status, "{:?}: {run:?}", case.args);
        assert!(
            !run.stderr.contains("error:") && !run.stderr.to_lowercase().contains("pipe"),
            "{:?}: a closed pipe is not an error: {run:?}",
            case.args
        );
    }
}

#[test]
fn every_command_reports_a_full_disk_in_one_line_with_exit_2() {
    let charts = shared();
    let files = Files::new(charts.addr());
    for case in every_command(charts.addr(), &files) {
        let run = run(&case, Sink::DevFull, false);
        assert_no_panic(&case, &run);
        assert_eq!(run.code, 2, "{:?}: {run:?}", case.args);
        let last = run.stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("error: cannot write to stdout: ")
                && last.contains("No space left on device"),
            "{:?}: {run:?}",
            case.args
        );
        assert_eq!(
            run.stderr.matches("error:").count(),
            1,
            "{:?}: {run:?}",
            case.args
        );
    }
}

#[test]
fn commentary_that_cannot_be_written_changes_nothing() {
    let charts = shared();
    let files = Files::new(charts.addr());
    for sink in [Sink::ClosedPipe, Sink::DevFull] {
        for case in every_command(charts.addr(), &files) {
            let run = run(&case, sink, true);
            assert_no_panic(&case, &run);
            assert_eq!(run.code, case.status, "{sink:?} {:?}: {run:?}", case.args);
        }
    }
    // Errors too: the one-line report of a bad flag has nowhere to go, and is still exit 2.
    let bad = case(&["kube-version", "banana"], 2);
    for sink in [Sink::ClosedPipe, Sink::DevFull] {
        let run = run(&bad, sink, true);
        assert_no_panic(&bad, &run);
        assert_eq!(run.code, 2, "{sink:?}: {run:?}");
    }
}
