//! The command line's surface, pinned: `tagwarden --help` and the `--help` of every
//! subcommand (found by walking each help's `Commands:` list) must equal the files in
//! `tests/snapshots/help/`. A flag added, renamed or reworded shows here as a diff, so a
//! change of the contract is a deliberate one.
//!
//! After an intended change, write the snapshots again and review them with `git diff`:
//!
//! ```sh
//! UPDATE_SNAPSHOTS=1 cargo test -p tagwarden --test cli help::
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::tagwarden_with;

/// The help texts are wrapped at this width (clap reads `COLUMNS` when there is no
/// terminal), whatever the machine running the tests.
const COLUMNS: &str = "100";

fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/help")
}

/// `tagwarden COMMAND… --help`, on stdout with exit 0.
fn help_of(command: &[String]) -> String {
    let mut args: Vec<&str> = command.iter().map(String::as_str).collect();
    args.push("--help");
    let run = tagwarden_with(&args, &[("COLUMNS", COLUMNS)]);
    assert_eq!(run.code, 0, "tagwarden {args:?}: {run:?}");
    assert!(run.stderr.is_empty(), "tagwarden {args:?}: {run:?}");
    run.stdout
}

/// The subcommands a help text lists under `Commands:` (clap's own `help` left out).
fn subcommands(help: &str) -> Vec<String> {
    let Some((_, listed)) = help.split_once("\nCommands:\n") else {
        return Vec::new();
    };
    listed
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Every command path, `[]` (tagwarden itself) first, with its help text.
fn every_help() -> Vec<(Vec<String>, String)> {
    let mut found = Vec::new();
    let mut pending = vec![Vec::new()];
    while let Some(command) = pending.pop() {
        let help = help_of(&command);
        for sub in subcommands(&help) {
            let mut path = command.clone();
            path.push(sub);
            pending.push(path);
        }
        found.push((command, help));
    }
    found.sort();
    found
}

/// `tagwarden.txt`, `tagwarden-matrix-check.txt`, …
fn snapshot_name(command: &[String]) -> String {
    let mut name = String::from("tagwarden");
    for part in command {
        name.push('-');
        name.push_str(part);
    }
    name + ".txt"
}

/// A line diff of `expected` against `actual` (`-` expected only, `+` actual only), with
/// two lines of context around each change.
fn diff(expected: &str, actual: &str) -> String {
    let old: Vec<&str> = expected.lines().collect();
    let new: Vec<&str> = actual.lines().collect();
    // Longest common subsequence, by suffix lengths.
    let mut common = vec![vec![0usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            common[i][j] = if old[i] == new[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let mut lines = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            lines.push((' ', old[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < old.len() && (j == new.len() || common[i + 1][j] >= common[i][j + 1]) {
            lines.push(('-', old[i]));
            i += 1;
        } else {
            lines.push(('+', new[j]));
            j += 1;
        }
    }
    let changed: Vec<usize> = (0..lines.len()).filter(|&k| lines[k].0 != ' ').collect();
    let near = |k: usize| changed.iter().any(|&c| c.abs_diff(k) <= 2);
    let mut out = String::new();
    let mut skipped = false;
    for (k, (mark, line)) in lines.iter().enumerate() {
        if near(k) {
            out.push_str(&format!("{mark} {line}\n"));
            skipped = false;
        } else if !skipped {
            out.push_str("  …\n");
            skipped = true;
        }
    }
    if changed.is_empty() {
        // Same lines, different line ends (a missing or extra final newline).
        out.push_str("(the texts differ only in their final newline)\n");
    }
    out
}

#[test]
fn every_help_text_matches_its_snapshot() {
    let update = std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|value| value == "1");
    let dir = snapshot_dir();
    let helps = every_help();
    // tagwarden, its nine commands, cache's two and matrix's three.
    assert!(
        helps.len() >= 15,
        "{:?}",
        helps.iter().map(|h| &h.0).collect::<Vec<_>>()
    );
    let mut problems = Vec::new();
    let mut expected_files = BTreeSet::new();
    if update {
        std::fs::create_dir_all(&dir).unwrap();
    }
    for (command, help) in &helps {
        let name = snapshot_name(command);
        let path = dir.join(&name);
        expected_files.insert(name.clone());
        if update {
            std::fs::write(&path, help).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Err(error) => problems.push(format!("{}: {error}", path.display())),
            Ok(snapshot) if snapshot != *help => problems.push(format!(
                "`tagwarden {} --help` differs from {} (- snapshot, + now):\n{}",
                command.join(" "),
                path.display(),
                diff(&snapshot, help)
            )),
            Ok(_) => {}
        }
    }
    // A snapshot of a command that no longer exists is stale.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if expected_files.contains(&name) {
            continue;
        }
        if update {
            std::fs::remove_file(dir.join(&name)).unwrap();
        } else {
            problems.push(format!(
                "{}: no command has this help any more",
                dir.join(&name).display()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n\nIf the change is intended, write the snapshots again and review them:\n    \
         UPDATE_SNAPSHOTS=1 cargo test -p tagwarden --test cli help::",
        problems.join("\n\n")
    );
}

#[test]
fn the_snapshot_diff_shows_what_changed() {
    let before = "a\nb\nc\nd\ne\nf\ng\n";
    let after = "a\nb\nc\nD\ne\nf\ng\n";
    assert_eq!(
        diff(before, after),
        "  …\n  b\n  c\n- d\n+ D\n  e\n  f\n  …\n"
    );
    assert!(diff("a\n", "a").contains("final newline"));
}
