//! Streams of pathological shape (issue 12 item 4): many documents, one huge document, and
//! the same answers whatever the number of threads.

use tagwarden_manifest::{FindOptions, Limits, ManifestError, Scan, documents, scan};

/// A Deployment with one image, about 1 KB.
fn deployment(i: usize) -> String {
    format!(
        "---\n# Source: c/templates/d{i}.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d{i}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: registry.example.com/app-{i}:v1.{}\n        env:\n{}",
        i % 40,
        "        - {name: A, value: \"a fairly long value to pad the document out\"}\n".repeat(12)
    )
}

fn scan_with_threads(yaml: &str, threads: usize) -> Result<Scan, ManifestError> {
    scan(
        "s.yaml",
        yaml,
        &FindOptions::default().with_threads(threads),
    )
}

#[test]
fn threads_do_not_change_results_or_errors() {
    // ~1 MB: above the size where threads are used; blank documents and comment-only ones
    // between the workloads, and an absent image.
    let mut yaml = String::new();
    for i in 0..1_000 {
        yaml.push_str(&deployment(i));
        if i % 7 == 0 {
            yaml.push_str("---\n# nothing here\n---\n");
        }
    }
    yaml.push_str("---\nkind: Pod\nspec:\n  containers:\n  - name: no-image\n");
    assert!(yaml.len() > 512 << 10);
    let one = scan_with_threads(&yaml, 1).unwrap();
    assert_eq!(one.images.len(), 1_000);
    assert_eq!(one.skipped.len(), 1);
    assert_eq!(one.documents, 1_000 + 2 * 143 + 1);
    for threads in [2, 3, 8] {
        assert_eq!(scan_with_threads(&yaml, threads).unwrap(), one, "{threads}");
    }

    // The first error of the stream, whichever thread meets it.
    let broken = format!("{yaml}---\nkind: [\n{yaml}---\nkind: {{\n");
    let first = scan_with_threads(&broken, 1).unwrap_err().to_string();
    assert!(first.starts_with("s.yaml:"), "{first}");
    for threads in [2, 3] {
        assert_eq!(
            scan_with_threads(&broken, threads).unwrap_err().to_string(),
            first
        );
    }
}

#[test]
fn blank_documents_are_counted_as_the_parser_counts_them() {
    let streams = [
        "",
        "\n",
        "# only a comment\n",
        "\u{feff}# bom and comment\n",
        "---\n",
        "---\n---\n",
        "--- # note\n\n  # indented comment\n---\t\n",
        "---\r\n---\r\n",
        "a: 1\n---\n# c\n---\n",
        "---\n...\n---\n",
        "--- |\n  text\n---\n",
        "--- >\n---\n",
        "# c\n---\n\t# tab\n",
    ];
    let limits = Limits::default();
    for yaml in streams {
        let parsed = documents("b.yaml", yaml, &limits).count();
        for threads in [1, 2] {
            let found = scan_with_threads(yaml, threads).unwrap();
            assert_eq!(found.documents, parsed, "{yaml:?}");
        }
    }
}

#[test]
fn a_million_empty_documents_are_counted_without_a_tree_each() {
    let yaml = "---\n".repeat(1_000_000);
    let found = scan_with_threads(&yaml, 0).unwrap();
    assert_eq!(found.documents, 1_000_000);
    assert!(found.images.is_empty() && found.skipped.is_empty());
    // An image after them is in document 1,000,000, at its line.
    let yaml = format!("{yaml}---\nkind: Pod\nspec: {{containers: [{{name: a, image: x:1}}]}}\n");
    let found = scan_with_threads(&yaml, 2).unwrap();
    assert_eq!(found.images[0].location.document, 1_000_000);
    assert_eq!(found.images[0].location.line, 1_000_003);
}

#[test]
fn a_document_with_too_many_nodes_is_refused_where_the_limit_is_hit() {
    let limits = Limits::default().with_max_nodes(1_000);
    let options = FindOptions::default().with_limits(limits.clone());
    // The root sequence is node 1; item 999 is node 1,000 and item 1,000 the one too many.
    let yaml = "- a\n".repeat(2_000);
    let err = scan("list.yaml", &yaml, &options).unwrap_err();
    assert!(
        matches!(
            err,
            ManifestError::Limit {
                line: 1_000,
                column: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "list.yaml:1000:3: more than 1000 nodes in one document (a YAML bomb, or split the stream)"
    );
    // The limit is per document: many documents below it are fine.
    let many = "---\n- a\n- b\n".repeat(2_000);
    assert_eq!(scan("many.yaml", &many, &options).unwrap().documents, 2_000);
    // The same limit holds for the public document iterator.
    let err = documents("list.yaml", &yaml, &limits)
        .find_map(Result::err)
        .unwrap();
    assert!(matches!(err, ManifestError::Limit { .. }), "{err:?}");
    assert_eq!(Limits::default().max_nodes, 2_000_000);
}
