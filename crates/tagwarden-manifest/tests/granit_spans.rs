//! Pins what `granit-parser` (=2.2.0) reports as a scalar's span, byte for byte. The
//! rewriter relies on every one of these facts; if an upgrade changes one, this fails first.

use granit_parser::{Event, Parser};

/// (value, style, byte range, 1-based line, 0-based column) of every scalar.
fn scalars(
    yaml: &str,
) -> Vec<(
    String,
    granit_parser::ScalarStyle,
    std::ops::Range<usize>,
    usize,
    usize,
)> {
    Parser::new_from_str(yaml)
        .map(|r| r.unwrap())
        .filter_map(|(event, span)| match event {
            Event::Scalar(value, style, _, _) => Some((
                value.into_owned(),
                style,
                span.byte_range().unwrap(),
                span.start.line(),
                span.start.col(),
            )),
            _ => None,
        })
        .collect()
}

fn value_span(
    yaml: &str,
) -> (
    String,
    granit_parser::ScalarStyle,
    std::ops::Range<usize>,
    usize,
    usize,
) {
    scalars(yaml).into_iter().nth(1).unwrap()
}

use granit_parser::ScalarStyle::*;

#[test]
fn plain_span_is_the_text_without_comment() {
    let y = "image: nginx:1.2 # c\n";
    let (v, s, r, line, col) = value_span(y);
    assert_eq!(
        (v.as_str(), s, r.clone(), line, col),
        ("nginx:1.2", Plain, 7..16, 1, 7)
    );
    assert_eq!(&y[r], "nginx:1.2");
}

#[test]
fn quoted_spans_include_the_quotes() {
    let y = "image: 'ngi''nx:1'\n";
    let (v, s, r, ..) = value_span(y);
    assert_eq!((v.as_str(), s), ("ngi'nx:1", SingleQuoted));
    assert_eq!(&y[r], "'ngi''nx:1'");
    let y = "image: \"ng\\x69nx\\u003a1\"\n";
    let (v, s, r, ..) = value_span(y);
    assert_eq!((v.as_str(), s), ("nginx:1", DoubleQuoted));
    assert_eq!(&y[r], "\"ng\\x69nx\\u003a1\"");
}

#[test]
fn multi_line_flow_scalars_span_their_lines() {
    let y = "image: nginx\n  :1\n";
    let (v, _, r, ..) = value_span(y);
    assert_eq!((v.as_str(), &y[r]), ("nginx :1", "nginx\n  :1"));
    let y = "image: \"nginx\n  :1\"\n";
    let (v, _, r, ..) = value_span(y);
    assert_eq!((v.as_str(), &y[r]), ("nginx :1", "\"nginx\n  :1\""));
}

#[test]
fn block_scalar_spans_start_at_content_and_end_after_trailing_breaks() {
    // Not the `|` header: the first content character, on the next line.
    let y = "image: |\n  nginx:1\nx: y\n";
    let (v, s, r, line, col) = value_span(y);
    assert_eq!((v.as_str(), s, line, col), ("nginx:1\n", Literal, 2, 2));
    assert_eq!(&y[r], "nginx:1\n");
    // Strip chomping: the trailing blank line is inside the span, not in the value.
    let y = "image: |-\n    nginx:1\n\nx: y\n";
    let (v, _, r, ..) = value_span(y);
    assert_eq!((v.as_str(), &y[r]), ("nginx:1", "nginx:1\n\n"));
    // Keep chomping keeps them in the value too.
    let y = "image: |+\n  nginx:1\n\n\nx: y\n";
    let (v, _, r, ..) = value_span(y);
    assert_eq!((v.as_str(), &y[r]), ("nginx:1\n\n\n", "nginx:1\n\n\n"));
    // A comment line after the scalar: the span takes its indentation too.
    let y = "a:\n  image: >- # hi\n    nginx:1\n  # trailing\nb: 1\n";
    let (v, s, r, ..) = scalars(y).into_iter().nth(2).unwrap();
    assert_eq!((v.as_str(), s, &y[r]), ("nginx:1", Folded, "nginx:1\n  "));
    // At the end of input without a line break.
    let y = "image: >-\n  nginx:1";
    let (_, _, r, ..) = value_span(y);
    assert_eq!(&y[r], "nginx:1");
    // An explicit indentation indicator: the extra spaces are content, in the span.
    let y = "image: |2\n    nginx:1\nx: y\n";
    let (v, _, r, ..) = value_span(y);
    assert_eq!((v.as_str(), &y[r]), ("  nginx:1\n", "  nginx:1\n"));
    // Leading blank lines are content but before the span.
    let y = "image: |\n\n  nginx:1\n";
    let (v, _, r, line, _) = value_span(y);
    assert_eq!((v.as_str(), &y[r], line), ("\nnginx:1\n", "nginx:1\n", 3));
}

#[test]
fn crlf_is_one_break_and_inside_block_spans() {
    let y = "a: b\r\nimage: nginx:1\r\nc: |\r\n  x\r\nd: e\r\n";
    let all = scalars(y);
    assert_eq!(
        (&y[all[3].2.clone()], all[3].3, all[3].4),
        ("nginx:1", 2, 7)
    );
    assert_eq!((all[5].0.as_str(), &y[all[5].2.clone()]), ("x\n", "x\r\n"));
    assert_eq!(all[6].3, 5);
}

#[test]
fn a_lone_cr_is_a_line_break() {
    let all = scalars("a: 1\rb: 2\r");
    assert_eq!((all[2].0.as_str(), all[2].3, all[2].4), ("b", 2, 0));
}

#[test]
fn bom_shifts_bytes_but_not_columns() {
    let y = "\u{feff}image: nginx:1\n";
    let (_, _, r, line, col) = value_span(y);
    assert_eq!((r, line, col), (10..17, 1, 7));
}

#[test]
fn columns_count_characters_and_bytes_stay_bytes() {
    let y = "é: ñ\nimage: nginx:1\n";
    let all = scalars(y);
    assert_eq!((all[1].2.clone(), all[1].4), (4..6, 3));
    assert_eq!((all[3].2.clone(), all[3].3, all[3].4), (14..21, 2, 7));
}

#[test]
fn tags_and_anchors_are_outside_the_span() {
    let y = "image: !!str nginx:1\n";
    assert_eq!(&y[value_span(y).2], "nginx:1");
    let y = "image: &img nginx:1\n";
    assert_eq!(&y[value_span(y).2], "nginx:1");
}

#[test]
fn empty_values_and_documents_are_empty_plain_scalars() {
    let y = "image:\nb: 1\n";
    let (v, s, r, ..) = value_span(y);
    assert_eq!((v.as_str(), s, r), ("~", Plain, 5..5));
    let events: Vec<_> = Parser::new_from_str("---\n---\n# c\n...\n")
        .map(|r| r.unwrap().0)
        .collect();
    let docs = events
        .iter()
        .filter(|e| matches!(e, Event::DocumentStart(..)))
        .count();
    assert_eq!(docs, 2);
}

#[test]
fn aliases_are_events_not_copies() {
    let y = "a: &x {k: v}\nb: *x\n";
    let events: Vec<_> = Parser::new_from_str(y).map(|r| r.unwrap()).collect();
    let alias = events
        .iter()
        .find(|(e, _)| matches!(e, Event::Alias(_)))
        .unwrap();
    assert_eq!(&y[alias.1.byte_range().unwrap()], "*x");
    // `k` appears once: nothing was expanded.
    let ks = events
        .iter()
        .filter(|(e, _)| matches!(e, Event::Scalar(v, ..) if v == "k"))
        .count();
    assert_eq!(ks, 1);
}

#[test]
fn document_markers_end_block_scalars() {
    // Why the stream can be cut at `---` lines before parsing.
    let y = "a: |\n  x\n---\nb: 1\n";
    let all = scalars(y);
    assert_eq!(all[1].0, "x\n");
    assert_eq!(all[2].0, "b");
    let err = Parser::new_from_str("a: \"x\n---\ny\"\n")
        .find_map(Result::err)
        .unwrap();
    assert!(matches!(
        err.kind(),
        granit_parser::ErrorKind::DocumentIndicatorInQuotedScalar
    ));
}

#[test]
fn error_markers_are_one_based_lines_and_zero_based_columns() {
    let err = Parser::new_from_str("a: b\n  c: d\n")
        .find_map(Result::err)
        .unwrap();
    assert_eq!(
        (
            err.marker().line(),
            err.marker().col(),
            err.marker().byte_offset()
        ),
        (2, 3, Some(8))
    );
    assert_eq!(err.info(), "mapping values are not allowed in this context");
}
