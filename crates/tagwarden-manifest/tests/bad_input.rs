//! Hostile and broken input: clear errors with positions, bounded time, no stack overflow.

use std::time::{Duration, Instant};

use tagwarden_manifest::{
    FindOptions, Limits, ManifestError, decode_utf8, documents, find_images, rewrite, scan,
};

fn options() -> FindOptions {
    FindOptions::default()
}

/// Runs `f` on a thread with the default 2 MiB stack, as a test thread or a tokio worker has.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn broken_yaml_is_a_syntax_error_with_position() {
    let yaml =
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: nginx: 1\n";
    let err = scan("pod.yaml", yaml, &options()).unwrap_err();
    match &err {
        ManifestError::Syntax {
            file,
            line,
            column,
            message,
        } => {
            assert_eq!((file.as_str(), *line, *column), ("pod.yaml", 6, 17));
            assert_eq!(message, "mapping values are not allowed in this context");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "pod.yaml:6:17: mapping values are not allowed in this context"
    );
    let snippet = err.snippet(yaml);
    assert!(
        snippet.contains("error: mapping values are not allowed in this context"),
        "{snippet}"
    );
    assert!(snippet.contains("pod.yaml:6:17"), "{snippet}");
    assert!(snippet.contains("    image: nginx: 1"), "{snippet}");
    // The caret sits under column 17.
    let caret_line = snippet.lines().find(|l| l.contains('^')).unwrap();
    let code_line = snippet
        .lines()
        .find(|l| l.contains("image: nginx: 1"))
        .unwrap();
    let code_col = code_line.find("    image").unwrap();
    assert_eq!(caret_line.find('^').unwrap() - code_col, 16, "{snippet}");
}

#[test]
fn errors_in_later_documents_count_lines_from_the_stream_start() {
    let yaml = "a: 1\n---\nb: 2\n---\n# Source: x\nc: [1, 2\n";
    let err = scan("s.yaml", yaml, &options()).unwrap_err();
    assert_eq!(err.line_column(), Some((6, 4)), "{err}");
    assert_eq!(err.to_string(), "s.yaml:6:4: unclosed bracket '['");
    // Also through the public document iterator.
    let limits = Limits::default();
    let results: Vec<_> = documents("s.yaml", yaml, &limits).collect();
    assert_eq!(results.len(), 3);
    assert!(results[2].is_err());
}

#[test]
fn syntax_errors_after_a_bom_and_crlf() {
    let yaml = "\u{feff}a: 1\r\nb: \"x\r\nc: d\r\n";
    let err = scan("w.yaml", yaml, &options()).unwrap_err();
    let (line, _) = err.line_column().unwrap();
    assert!(line >= 2, "{err}");
    assert!(err.snippet(yaml).contains("w.yaml"));
}

#[test]
fn billion_laughs_is_not_expanded() {
    let mut yaml = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..10u8 {
        let (prev, cur) = ((b'a' + i - 1) as char, (b'a' + i) as char);
        yaml.push_str(&format!("{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
    }
    let start = Instant::now();
    assert!(
        find_images("bomb.yaml", &yaml, &options())
            .unwrap()
            .is_empty()
    );
    assert!(start.elapsed() < Duration::from_secs(2));

    // The same bomb where the search must follow the aliases: a List whose items are
    // aliases of Lists. The walk is bounded by `max_alias_dereferences`.
    let mut yaml =
        String::from("l0: &l0 {kind: Pod, spec: {containers: [{name: c, image: x:1}]}}\n");
    for i in 1..12 {
        let p = i - 1;
        yaml.push_str(&format!("l{i}: &l{i} {{kind: List, items: [*l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}]}}\n"));
    }
    yaml.push_str("kind: List\nitems: [*l11, *l11, *l11, *l11, *l11, *l11, *l11, *l11]\n");
    let start = Instant::now();
    let err = find_images("bomb.yaml", &yaml, &options()).unwrap_err();
    assert!(matches!(err, ManifestError::Limit { .. }), "{err}");
    assert!(err.to_string().contains("alias"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn self_referencing_aliases_terminate() {
    let yaml = "kind: List\nitems: &items\n- kind: List\n  items: *items\n- &p {kind: Pod, spec: {containers: [{name: c, image: x:1}, *p]}}\n";
    let result = find_images("cycle.yaml", yaml, &options());
    match result {
        Ok(images) => assert!(!images.is_empty()),
        Err(err) => assert!(matches!(err, ManifestError::Limit { .. }), "{err}"),
    }
}

#[test]
fn too_many_aliases_is_a_limit() {
    let mut yaml = String::from("a: &a 1\nb: [");
    for _ in 0..50 {
        yaml.push_str("*a, ");
    }
    yaml.push_str("*a]\n");
    let options = FindOptions::default().with_limits(Limits::default().with_max_aliases(50));
    let err = scan("aliases.yaml", &yaml, &options).unwrap_err();
    assert!(matches!(err, ManifestError::Limit { line: 2, .. }), "{err}");
    assert!(err.to_string().contains("more than 50 aliases"), "{err}");
}

#[test]
fn hundred_thousand_levels_fail_without_stack_overflow() {
    for yaml in [
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
        format!("{}x{}", "{a: ".repeat(100_000), "}".repeat(100_000)),
        format!("{}x\n", "- ".repeat(100_000)),
        // Block mappings need one more space per level: 2,000 levels are 2 MB.
        (0..2_000)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect::<String>(),
    ] {
        let err = on_small_stack(move || {
            let start = Instant::now();
            let err = scan("deep.yaml", &yaml, &FindOptions::default()).unwrap_err();
            assert!(start.elapsed() < Duration::from_secs(5));
            err
        });
        assert!(matches!(err, ManifestError::Limit { .. }), "{err}");
        assert!(
            err.to_string().contains("nested deeper than 256 levels"),
            "{err}"
        );
    }
}

#[test]
fn depth_limit_is_configurable_and_exact() {
    let yaml = format!("{}1{}", "[".repeat(10), "]".repeat(10));
    let ok = FindOptions::default().with_limits(Limits::default().with_max_depth(10));
    assert!(scan("d.yaml", &yaml, &ok).is_ok());
    let tight = FindOptions::default().with_limits(Limits::default().with_max_depth(9));
    assert!(matches!(
        scan("d.yaml", &yaml, &tight),
        Err(ManifestError::Limit { .. })
    ));
}

#[test]
fn binary_garbage_is_rejected_with_a_position() {
    // Invalid UTF-8: the reader's job.
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let err = decode_utf8("blob.bin", &bytes).unwrap_err();
    assert!(matches!(err, ManifestError::Encoding { .. }), "{err}");
    assert!(err.to_string().starts_with("blob.bin:"), "{err}");
    // Valid UTF-8 full of control characters: the parser's.
    let text = "apiVersion: v1\nkind: \u{0}\u{1}\u{2}garbage\u{7f}\n";
    let err = scan("blob.yaml", text, &options()).unwrap_err();
    assert!(
        matches!(
            err,
            ManifestError::Syntax {
                line: 2,
                column: 7,
                ..
            }
        ),
        "{err}"
    );
    // Lossy-decoded garbage: an error, never a panic.
    let lossy = String::from_utf8_lossy(&bytes).into_owned();
    assert!(scan("blob.yaml", &lossy, &options()).is_err());
}

#[test]
fn five_megabyte_scalars_are_fine_and_fast() {
    let big = "a".repeat(5 << 20);
    let yaml = format!(
        "kind: Pod\nmetadata:\n  annotations:\n    big: \"{big}\"\n    lit: |\n      {big}\nspec:\n  containers:\n  - name: c\n    image: registry.example.com/{big}:1\n"
    );
    let start = Instant::now();
    let images = find_images("big.yaml", &yaml, &options()).unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(
        images[0].image.len(),
        big.len() + "registry.example.com/:1".len()
    );
    let out = rewrite(&yaml, &[images[0].edit("small:1")]).unwrap();
    assert_eq!(
        out.len(),
        yaml.len() - images[0].image.len() + "small:1".len()
    );
    // Debug build; release is ~20x faster.
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn input_size_is_limited() {
    let options = FindOptions::default().with_limits(Limits::default().with_max_input_bytes(10));
    let err = scan("big.yaml", "kind: Pod\nspec: {}\n", &options).unwrap_err();
    assert!(
        matches!(err, ManifestError::TooLarge { limit: 10, .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "big.yaml: the input is larger than the limit of 10 bytes"
    );
}

#[test]
fn unknown_anchor_is_a_syntax_error() {
    let err = scan("a.yaml", "kind: Pod\nimage: *nope\n", &options()).unwrap_err();
    assert!(
        matches!(err, ManifestError::Syntax { line: 2, .. }),
        "{err}"
    );
}

#[test]
fn directives_and_lone_cr_streams_are_parsed_whole() {
    let yaml = "%YAML 1.2\n---\nkind: Pod\nspec: {containers: [{name: a, image: x:1}]}\n...\n%YAML 1.2\n---\nkind: Pod\nspec: {containers: [{name: b, image: y:2}]}\n";
    let found = scan("d.yaml", yaml, &options()).unwrap();
    let got: Vec<_> = found
        .images
        .iter()
        .map(|i| (i.location.document, i.location.line, i.image.as_str()))
        .collect();
    assert_eq!(got, [(0, 4, "x:1"), (1, 9, "y:2")]);
    let yaml = "kind: Pod\rspec:\r  containers:\r  - {name: a, image: x:1}\r---\rkind: Pod\rspec: {containers: [{name: b, image: y:2}]}\r";
    let found = scan("cr.yaml", yaml, &options()).unwrap();
    let got: Vec<_> = found
        .images
        .iter()
        .map(|i| (i.location.document, i.location.line, i.location.column))
        .collect();
    assert_eq!(got, [(0, 4, 22), (1, 7, 38)]);
}
