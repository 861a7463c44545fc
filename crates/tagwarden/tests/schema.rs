//! `schema/compat-matrix.schema.json` and `tagwarden matrix` agree: every matrix the docs
//! show, or that tagwarden accepts, passes the schema (validated by Python's `jsonschema`,
//! a real JSON Schema 2020-12 validator), and what the schema rejects, tagwarden rejects.

use std::path::Path;

use crate::common::tagwarden;

fn repo(path: &str) -> String {
    format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))
}

/// Ok, or the validator's complaint. The YAML becomes JSON as any YAML tool sees it
/// (`kubernetes: 1.30` is the number 1.3).
fn schema_verdict(yaml: &str) -> Result<(), String> {
    let value: serde_json::Value =
        serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("not YAML ({e}):\n{yaml}"));
    crate::output_schemas::verdict("compat-matrix.schema.json", &value)
}

fn tagwarden_accepts(yaml: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("compat.yaml");
    std::fs::write(&path, yaml).unwrap();
    let run = tagwarden(&["matrix", "show", "--file", path.to_str().unwrap()]);
    match run.code {
        0 => Ok(()),
        2 => Err(run.stderr),
        _ => panic!("{run:?}"),
    }
}

/// The YAML blocks of a Markdown file that are compatibility matrices.
fn matrices_in(markdown: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(markdown).unwrap();
    text.split("```yaml\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .filter(|block| block.contains("versions:") && block.contains("kubernetes:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_documented_matrices_pass_the_schema_and_tagwarden() {
    let mut matrices = matrices_in(Path::new(&repo("docs/publishers.md")));
    assert!(!matrices.is_empty(), "docs/publishers.md shows a matrix");
    matrices.push(std::fs::read_to_string(repo("examples/compat.yaml")).unwrap());
    for yaml in matrices {
        assert_eq!(schema_verdict(&yaml), Ok(()), "{yaml}");
        assert_eq!(tagwarden_accepts(&yaml), Ok(()), "{yaml}");
    }
}

#[test]
fn unquoted_numbers_are_accepted_by_both() {
    // The docs write one minor as `kubernetes: 1.30` and an application minor as `0.7`.
    let yaml = "\
name: capsule
image: clastix/kubectl:v{major}.{minor}
versions:
  - app: 0.7
    kubernetes: 1.30
  - app: 1
    kubernetes: 1.28 - 1.29
  - app: 0.8.x
    kubernetes: \"1.31\"
";
    assert_eq!(schema_verdict(yaml), Ok(()), "the schema rejects it");
    assert_eq!(tagwarden_accepts(yaml), Ok(()), "tagwarden rejects it");
}

#[test]
fn what_the_schema_rejects_tagwarden_rejects() {
    for yaml in [
        // An unknown key.
        "versions:\n  - app: 0.7.x\n    kubernetes: 1.30\n    kubernets: 1.31\n",
        // No versions.
        "name: x\n",
        // A Kubernetes range that is not MAJOR.MINOR.
        "versions:\n  - app: 0.7.x\n    kubernetes: latest\n",
        // A template with a digest.
        "image: clastix/kubectl:v{major}.{minor}@sha256:00\nversions:\n  - app: 0.7.x\n    kubernetes: 1.30\n",
        // A platform that is not OS/ARCH.
        "image: a/b:v{major}.{minor}\nplatforms: [linux]\nversions:\n  - app: 0.7.x\n    kubernetes: 1.30\n",
    ] {
        assert!(schema_verdict(yaml).is_err(), "the schema accepts:\n{yaml}");
        assert!(
            tagwarden_accepts(yaml).is_err(),
            "tagwarden accepts:\n{yaml}"
        );
    }
}
