//! Runs both fuzz entry points over every corpus file (and every fixture), so that the
//! invariants the fuzzers check hold in every ordinary `cargo test` run, on stable Rust.

use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn find_images_entry_point_over_the_corpus() {
    let mut inputs = files(&root().join("fuzz/corpus/find_images"));
    inputs.extend(files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
    ));
    assert!(inputs.len() >= 20, "corpus missing: {inputs:?}");
    for path in inputs {
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| tagwarden_manifest::fuzzing::find_images(&data));
        assert!(
            result.is_ok(),
            "find_images invariant broken on {}",
            path.display()
        );
        // Also as a rewrite input, with every selector.
        for selector in 0..16u8 {
            let mut input = vec![selector];
            input.extend_from_slice(&data);
            let result = std::panic::catch_unwind(|| tagwarden_manifest::fuzzing::rewrite(&input));
            assert!(
                result.is_ok(),
                "rewrite invariant broken on {} (selector {selector})",
                path.display()
            );
        }
    }
}

#[test]
fn rewrite_entry_point_over_the_corpus() {
    let inputs = files(&root().join("fuzz/corpus/rewrite"));
    assert!(inputs.len() >= 20, "corpus missing");
    for path in inputs {
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| tagwarden_manifest::fuzzing::rewrite(&data));
        assert!(
            result.is_ok(),
            "rewrite invariant broken on {}",
            path.display()
        );
    }
}

#[test]
fn invalid_utf8_goes_through_the_entry_points() {
    tagwarden_manifest::fuzzing::find_images(b"kind: Pod\n\xff\xfe");
    tagwarden_manifest::fuzzing::rewrite(b"\x03kind: Pod\n\xff\xfe");
    tagwarden_manifest::fuzzing::rewrite(b"");
}
