//! Entry points for `cargo fuzz` (see `fuzz/` at the repository root), also run over the
//! corpus by an ordinary test. Each one panics when an invariant breaks; that is the point.

use crate::{
    Edit, FindOptions, Limits, ManifestError, ScalarStyle, Scan, decode_utf8, documents,
    needs_quotes, rewrite_with_splices, scan, text,
};

fn limits() -> Limits {
    Limits::default()
        .with_max_input_bytes(1 << 20)
        .with_max_depth(64)
        .with_max_alias_dereferences(20_000)
}

fn check_error(err: &ManifestError, source: &str) {
    if let Some((line, column)) = err.line_column() {
        assert!(line >= 1 && column >= 1, "{err}");
    }
    let rendered = err.to_string();
    assert!(
        !rendered.contains('\n') || matches!(err, ManifestError::Syntax { .. }),
        "{rendered}"
    );
    let _ = err.snippet(source);
}

/// Finds images in arbitrary bytes: no panic, spans inside the input and on character
/// boundaries, positions that agree with the bytes, and the fast mode agreeing with the
/// strict one.
pub fn find_images(data: &[u8]) {
    let Ok(source) = std::str::from_utf8(data) else {
        let err = decode_utf8("fuzz.yaml", data).expect_err("invalid UTF-8 must be an error");
        check_error(&err, &String::from_utf8_lossy(data));
        return;
    };
    let options = FindOptions::default().with_limits(limits());
    let limits = limits();
    let strict = scan("fuzz.yaml", source, &options);
    let fast = scan(
        "fuzz.yaml",
        source,
        &options.clone().with_validate_all_documents(false),
    );
    match &strict {
        Ok(found) => {
            // Kinds are counted only in the documents that the fast mode parses.
            let same = |s: &Scan| (s.images.clone(), s.skipped.clone(), s.documents);
            assert_eq!(
                fast.as_ref().ok().map(same),
                Some(same(found)),
                "the fast mode disagrees"
            );
            for image in &found.images {
                let span = image.span.clone();
                assert!(
                    span.start < span.end && span.end <= source.len(),
                    "{span:?}"
                );
                assert!(source.is_char_boundary(span.start) && source.is_char_boundary(span.end));
                let text = &source[span.clone()];
                match image.style {
                    ScalarStyle::SingleQuoted => {
                        assert!(text.starts_with('\'') && text.ends_with('\''))
                    }
                    ScalarStyle::DoubleQuoted => {
                        assert!(text.starts_with('"') && text.ends_with('"'))
                    }
                    ScalarStyle::Plain => assert!(!text.starts_with(['\'', '"'])),
                    ScalarStyle::Literal | ScalarStyle::Folded => {}
                }
                let (line, column) = text::line_column(source, span.start);
                assert_eq!(
                    (image.location.line, image.location.column),
                    (line, column),
                    "parser position and byte offset disagree at {span:?}"
                );
                assert!(image.location.document < found.documents);
            }
            let count = documents("fuzz.yaml", source, &limits)
                .inspect(|d| assert!(d.is_ok(), "parsed before"))
                .count();
            assert_eq!(count, found.documents);
        }
        Err(err) => check_error(err, source),
    }
    if let Err(err) = &fast {
        check_error(err, source);
    }
}

/// Replacement values, chosen by the first input byte and the span.
const VALUES: &[&str] = &[
    "registry.example.com:5000/team/app:v1.31",
    "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "*alias",
    "it's",
    "q\"uote\\",
    "é/ü:1",
    "a b # c",
    "",
    "line\nbreak",
    "-dash",
    "yes",
    "[x, y]",
    "0o14",
    "---",
    "\t",
    "x:",
];

/// Rewrites every image of arbitrary input to chosen values: no panic; every byte outside the
/// rewritten spans is kept; without aliases, the output reads back with the new values at the
/// same paths.
pub fn rewrite(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(source) = std::str::from_utf8(rest) else {
        return;
    };
    let options = FindOptions::default().with_limits(limits());
    let Ok(found) = scan("fuzz.yaml", source, &options) else {
        return;
    };
    let value_for = |start: usize| VALUES[(usize::from(selector) + start) % VALUES.len()];
    let edits: Vec<Edit> = found
        .images
        .iter()
        .map(|i| i.edit(value_for(i.span.start)))
        .collect();
    let (out, splices) = match rewrite_with_splices(source, &edits) {
        Ok(result) => result,
        Err(ManifestError::Edit { span, message }) => {
            // Only a value that a block scalar cannot hold may be refused.
            let edit = edits
                .iter()
                .find(|e| e.span == span)
                .expect("the failing edit");
            assert!(
                matches!(edit.style, ScalarStyle::Literal | ScalarStyle::Folded),
                "refused a {:?} edit: {message}",
                edit.style
            );
            return;
        }
        Err(other) => panic!("unexpected error {other}"),
    };
    let (mut old_cursor, mut new_cursor) = (0, 0);
    for splice in &splices {
        assert_eq!(
            source[old_cursor..splice.old.start],
            out[new_cursor..splice.new.start]
        );
        old_cursor = splice.old.end;
        new_cursor = splice.new.end;
    }
    assert_eq!(source[old_cursor..], out[new_cursor..]);

    let again = scan("fuzz.yaml", &out, &options);
    if found.images.iter().any(|i| i.via_alias) {
        // A shared anchored scalar may also be a `kind` or a key: only require no panic.
        return;
    }
    let again = again.unwrap_or_else(|e| panic!("the rewritten stream does not parse: {e}\n{out}"));
    // A field rewritten to "" reads back as skipped, not as an image.
    let kept: Vec<_> = found
        .images
        .iter()
        .filter(|i| !value_for(i.span.start).is_empty())
        .collect();
    assert_eq!(again.images.len(), kept.len(), "{out}");
    assert_eq!(
        again.skipped.len(),
        found.skipped.len() + found.images.len() - kept.len()
    );
    for (before, after) in kept.into_iter().zip(&again.images) {
        assert_eq!(before.location.path, after.location.path);
        let value = value_for(before.span.start);
        let suffix = match before.style {
            ScalarStyle::Literal | ScalarStyle::Folded => {
                &before.image[before.image.trim_end_matches('\n').len()..]
            }
            _ => "",
        };
        assert_eq!(after.image, format!("{value}{suffix}"), "{out}");
        if before.style == ScalarStyle::Plain && !needs_quotes(value, before.in_flow) {
            assert_eq!(after.style, ScalarStyle::Plain);
        }
    }
}
