//! Pathological streams (issue 12 item 4) through the real binary, under a memory cap: a
//! 48 MB file of 12 million empty documents is processed, and a 48 MB file that is one
//! 12-million-item list is refused with exit 2 once it passes `Limits::max_nodes`
//! (2,000,000 nodes in one document). Before, they took 2.07 GB and 1.27 GB.
//!
//! The cap is on address space (`ulimit -v`, 1 GiB), with glibc's per-thread malloc arenas
//! limited so that thread count does not eat into it: an allocation beyond it fails and the
//! binary aborts, which these tests would see as a wrong exit code.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::Run;

/// Address space allowed to the binary, in KiB.
const CAP_KIB: u64 = 1 << 20;

/// Runs `tagwarden ARGS` with `ulimit -v CAP_KIB`, stdin from `stdin` (or nothing).
fn tagwarden_capped(args: &[&str], stdin: Option<&Path>) -> Run {
    let home = tempfile::tempdir().expect("temp HOME");
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -v {CAP_KIB} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_tagwarden"))
        .args(args)
        .env("HOME", home.path())
        .env("MALLOC_ARENA_MAX", "2")
        .env_remove("DOCKER_CONFIG")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("TAGWARDEN_CONFIG")
        .env_remove("TAGWARDEN_LOG")
        .env_remove("XDG_CACHE_HOME");
    command.stdin(match stdin {
        Some(path) => Stdio::from(std::fs::File::open(path).expect("open the input")),
        None => Stdio::null(),
    });
    let output = command.output().expect("run the tagwarden binary");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn write_repeated(dir: &Path, name: &str, line: &str, times: usize) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, line.repeat(times)).expect("write the input");
    path
}

#[test]
fn twelve_million_empty_documents_fit_in_the_memory_cap() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_repeated(dir.path(), "empty.yaml", "---\n", 12_000_000);
    let name = file.to_str().unwrap();

    let run = tagwarden_capped(&["check", name, "-o", "json"], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["images"].as_array().map(Vec::len), Some(0));

    // post-render copies the stream through, byte for byte.
    let run = tagwarden_capped(&["post-render", "--kube-version", "1.32"], Some(&file));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.len(), 48_000_000);
    assert!(run.stdout.bytes().eq("---\n".repeat(12_000_000).bytes()));
}

#[test]
fn a_twelve_million_item_list_is_refused_with_exit_2_and_a_location() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_repeated(dir.path(), "list.yaml", "- a\n", 12_000_000);
    let name = file.to_str().unwrap();
    let expected = "more than 2000000 nodes in one document";

    let run = tagwarden_capped(&["check", name], None);
    assert_eq!(run.code, 2, "{run:?}");
    let line = format!("{name}:2000000:3: {expected}");
    assert!(run.stderr.contains(&line), "{run:?}");
    assert_eq!(run.stderr.trim_end().lines().count(), 1, "{run:?}");

    let run = tagwarden_capped(&["post-render", "--kube-version", "1.32"], Some(&file));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("<stdin>:2000000:3: more than 2000000 nodes"),
        "{run:?}"
    );
    assert!(run.stdout.is_empty());
}
