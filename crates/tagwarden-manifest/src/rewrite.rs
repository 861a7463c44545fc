//! Rewriting scalars in place, keeping everything else byte for byte.
//!
//! # Style rules
//!
//! A replacement keeps the style of the scalar it replaces, so a diff of the output shows
//! nothing but the changed values:
//!
//! | style | replacement |
//! |---|---|
//! | plain `nginx:1` | plain, **unless** the new value would not read back as the same string in plain style; then double-quoted (see [`needs_quotes`]) |
//! | single-quoted `'nginx:1'` | single-quoted, `'` written as `''`; double-quoted if the value holds a character single quotes cannot carry (a control character or line break) |
//! | double-quoted `"nginx:1"` | double-quoted, with `"` and `\` escaped as `\"` and `\\`, and non-printable characters as `\n`, `\t`, `\xNN`, `\uNNNN` |
//! | literal `\|-` / folded `>-` | the same block scalar: the header (`\|`, `>`, chomping and indentation indicators, a comment after it), the indentation and the line breaks after the content stay; only the content line changes |
//!
//! A block scalar cannot switch style, because its header lies outside the scalar's span: a
//! value that does not fit in one content line of a block scalar (empty, with a line break, a
//! control character, or leading whitespace) is an [`ManifestError::Edit`] error. So is a
//! block scalar with more than one content line (which cannot hold an image reference anyway).
//!
//! Comments, key order, anchors and aliases, tags, CRLF line endings, a BOM, `---` and `...`
//! markers, and every other scalar (`0o14`, `yes`, `2001-12-14t21:59:43.10-05:00`) are
//! untouched, because they are never parsed into values and written back: the output is the
//! input with the edited byte ranges spliced.

use std::ops::Range;

use crate::error::ManifestError;
use crate::tree::ScalarStyle;

/// A replacement of one scalar's value, usually made with [`crate::ImageField::edit`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Edit {
    /// The scalar's byte range, as found ([`crate::ImageField::span`]).
    pub span: Range<usize>,
    /// The scalar's style as found; the replacement keeps it (see the module docs).
    pub style: ScalarStyle,
    /// Whether the scalar is inside a flow collection.
    pub in_flow: bool,
    /// The new decoded value (an image reference, without quotes).
    pub new_value: String,
}

/// Where a replacement went: `old` in the input became `new` in the output.
///
/// For quoted and plain scalars `old` is the edit's span; for block scalars it is the content
/// line only (the line break and any trailing blank lines are kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Splice {
    /// Byte range replaced in the input.
    pub old: Range<usize>,
    /// Byte range of the replacement in the output.
    pub new: Range<usize>,
}

/// Applies `edits` to `source`: the output equals `source` byte for byte except for the
/// edited scalars.
///
/// Edits may come in any order. Two edits of the same span (fields that share an anchored
/// scalar through aliases) are fine when they agree and an error when they do not; edits
/// that overlap otherwise are an error. Every edit is checked against the source (in bounds,
/// on character boundaries, quotes where its style says) so that a stale edit fails instead
/// of corrupting the output.
///
/// ```
/// use tagwarden_manifest::{find_images, rewrite, FindOptions};
/// let yaml = "kind: Pod\nspec:\n  containers:\n  - name: a # keep me\n    image: 'kubectl:v1.32' # and me\r\n";
/// let found = find_images("pod.yaml", yaml, &FindOptions::default()).unwrap();
/// let edits: Vec<_> = found.iter().map(|f| f.edit("kubectl:v1.31")).collect();
/// assert_eq!(
///     rewrite(yaml, &edits).unwrap(),
///     "kind: Pod\nspec:\n  containers:\n  - name: a # keep me\n    image: 'kubectl:v1.31' # and me\r\n"
/// );
/// ```
pub fn rewrite(source: &str, edits: &[Edit]) -> Result<String, ManifestError> {
    rewrite_with_splices(source, edits).map(|(out, _)| out)
}

/// [`rewrite()`], also returning where each replacement went, in source order (one entry per
/// distinct span).
pub fn rewrite_with_splices(
    source: &str,
    edits: &[Edit],
) -> Result<(String, Vec<Splice>), ManifestError> {
    let mut order: Vec<&Edit> = edits.iter().collect();
    order.sort_by_key(|e| (e.span.start, e.span.end));
    let mut planned: Vec<(Range<usize>, String)> = Vec::with_capacity(order.len());
    let mut previous: Option<&Edit> = None;
    for edit in order {
        if let Some(prev) = previous {
            if prev.span == edit.span {
                if prev.new_value != edit.new_value || prev.style != edit.style {
                    return Err(edit_error(
                        edit,
                        format!(
                            "conflicting edits of the same scalar: `{}` and `{}`",
                            prev.new_value, edit.new_value
                        ),
                    ));
                }
                continue;
            }
            if edit.span.start < prev.span.end {
                return Err(edit_error(edit, "overlaps another edit".to_string()));
            }
        }
        planned.push(plan(source, edit)?);
        previous = Some(edit);
    }
    let growth: usize = planned.iter().map(|(_, text)| text.len()).sum();
    let mut out = String::with_capacity(source.len() + growth);
    let mut splices = Vec::with_capacity(planned.len());
    let mut cursor = 0;
    for (range, text) in planned {
        out.push_str(&source[cursor..range.start]);
        let start = out.len();
        out.push_str(&text);
        splices.push(Splice {
            old: range.clone(),
            new: start..out.len(),
        });
        cursor = range.end;
    }
    out.push_str(&source[cursor..]);
    Ok((out, splices))
}

fn edit_error(edit: &Edit, message: String) -> ManifestError {
    ManifestError::Edit {
        span: edit.span.clone(),
        message,
    }
}

/// The byte range to replace and its replacement text, for one edit.
fn plan(source: &str, edit: &Edit) -> Result<(Range<usize>, String), ManifestError> {
    let span = edit.span.clone();
    if span.start > span.end
        || span.end > source.len()
        || !source.is_char_boundary(span.start)
        || !source.is_char_boundary(span.end)
    {
        return Err(edit_error(
            edit,
            "the span is not a range of this source".to_string(),
        ));
    }
    let text = &source[span.clone()];
    let value = edit.new_value.as_str();
    match edit.style {
        ScalarStyle::Plain => {
            if text.is_empty() || text.starts_with(['\'', '"', '|', '>']) {
                return Err(edit_error(
                    edit,
                    "the span is not a plain scalar".to_string(),
                ));
            }
            let new = if needs_quotes(value, edit.in_flow) {
                double_quoted(value)
            } else {
                value.to_string()
            };
            Ok((span, new))
        }
        ScalarStyle::SingleQuoted => {
            if text.len() < 2 || !text.starts_with('\'') || !text.ends_with('\'') {
                return Err(edit_error(
                    edit,
                    "the span is not a single-quoted scalar".to_string(),
                ));
            }
            let new = if value.chars().all(|c| c == '\t' || !is_special(c)) {
                format!("'{}'", value.replace('\'', "''"))
            } else {
                double_quoted(value)
            };
            Ok((span, new))
        }
        ScalarStyle::DoubleQuoted => {
            if text.len() < 2 || !text.starts_with('"') || !text.ends_with('"') {
                return Err(edit_error(
                    edit,
                    "the span is not a double-quoted scalar".to_string(),
                ));
            }
            Ok((span, double_quoted(value)))
        }
        ScalarStyle::Literal | ScalarStyle::Folded => plan_block_scalar(source, edit, text),
    }
}

/// The splice for a `|` or `>` block scalar: its one content line is replaced, keeping the
/// header, chomping, indentation and line breaks; a value that cannot be one such line is
/// an error.
fn plan_block_scalar(
    source: &str,
    edit: &Edit,
    text: &str,
) -> Result<(Range<usize>, String), ManifestError> {
    let span = edit.span.clone();
    let value = edit.new_value.as_str();
    // The span runs from the first content character to the end of the trailing
    // line breaks (and the indentation of the line after them).
    let line_end = text.find(['\r', '\n']).unwrap_or(text.len());
    let content = &text[..line_end];
    if content.is_empty() || content.starts_with([' ', '\t']) {
        return Err(edit_error(
            edit,
            "the span does not start at block scalar content".to_string(),
        ));
    }
    if has_leading_blank_line(source, span.start) {
        return Err(edit_error(
            edit,
            "the block scalar starts with blank lines, which are part of its value".to_string(),
        ));
    }
    if !text[line_end..]
        .chars()
        .all(|c| matches!(c, '\r' | '\n' | ' ' | '\t'))
    {
        return Err(edit_error(
            edit,
            "the block scalar has more than one content line".to_string(),
        ));
    }
    // Content at column 0 (a root block scalar) must not look like `---`, `...`, `#`.
    let at_column_zero =
        span.start == 0 || matches!(source.as_bytes()[span.start - 1], b'\n' | b'\r');
    if value.is_empty()
        || value.starts_with([' ', '\t'])
        || value.chars().any(|c| c != '\t' && is_special(c))
        || (at_column_zero && !value.starts_with(|c: char| c.is_alphanumeric()))
    {
        return Err(edit_error(
            edit,
            format!(
                "`{}` cannot be written as one line of a block scalar",
                value.escape_debug()
            ),
        ));
    }
    Ok((span.start..span.start + line_end, value.to_string()))
}

/// Whether the line before the block scalar content at `start` is blank: then the scalar's
/// value starts with a line break that a one-line replacement would keep.
fn has_leading_blank_line(source: &str, start: usize) -> bool {
    let bytes = source.as_bytes();
    let line_start = bytes[..start]
        .iter()
        .rposition(|&b| b == b'\n' || b == b'\r')
        .map_or(0, |i| i + 1);
    if line_start == 0 {
        return false;
    }
    // Skip the line break (`\n`, `\r\n` or `\r`) to the end of the previous line.
    let mut end = line_start - 1;
    if bytes[end] == b'\n' && end > 0 && bytes[end - 1] == b'\r' {
        end -= 1;
    }
    let previous_start = bytes[..end]
        .iter()
        .rposition(|&b| b == b'\n' || b == b'\r')
        .map_or(0, |i| i + 1);
    bytes[previous_start..end]
        .iter()
        .all(|&b| b == b' ' || b == b'\t')
}

/// Characters that need an escape in YAML text: controls, line breaks, the BOM, surrogates'
/// neighbours outside YAML's printable set.
fn is_special(c: char) -> bool {
    let n = u32::from(c);
    !(matches!(n, 0x20..=0x7E | 0x85 | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x1_0000..=0x10_FFFF)
        && c != '\u{feff}')
        || c == '\u{85}'
        || c == '\u{2028}'
        || c == '\u{2029}'
}

/// `value` as a double-quoted YAML scalar.
pub(crate) fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if is_special(c) => {
                let n = u32::from(c);
                if n <= 0xFF {
                    out.push_str(&format!("\\x{n:02X}"));
                } else if n <= 0xFFFF {
                    out.push_str(&format!("\\u{n:04X}"));
                } else {
                    out.push_str(&format!("\\U{n:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `value` must be quoted to be read back as the same string from plain style.
///
/// The rule is deliberately conservative: plain style is kept only for values made of ASCII
/// letters, digits and `-._/:@+=~%` that start with a letter, digit, `_` or `/`, do not end
/// with `:` (which would make it a mapping key), and do not look like another type to a YAML
/// 1.1 or 1.2 loader: `null`, `~`, booleans (`true`, `yes`, `on`, `y`, … in any case), or a
/// number, octal, hexadecimal, sexagesimal or timestamp (anything starting with a digit that
/// uses only digits and `._:+-xobtzeXOBTZE` and hex letters). Every real image reference
/// (`registry:5000/team/app:v1.32@sha256:…`) passes; `*foo`, `&x`, `a: b`, `a #b`, `[x]`,
/// `1.32`, `yes` and `0o14` are double-quoted. Inside a flow collection the same set applies
/// (it contains none of `,[]{}`).
pub fn needs_quotes(value: &str, in_flow: bool) -> bool {
    let _ = in_flow; // The allowed set is safe in flow and block context alike.
    let Some(first) = value.chars().next() else {
        return true;
    };
    if !(first.is_ascii_alphanumeric() || first == '_' || first == '/') {
        return true;
    }
    if !value.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(c, '-' | '.' | '_' | '/' | ':' | '@' | '+' | '=' | '~' | '%')
    }) {
        return true;
    }
    if value.ends_with(':') {
        return true;
    }
    let lower = value.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    ) {
        return true;
    }
    if first.is_ascii_digit()
        && value.chars().all(|c| {
            c.is_ascii_hexdigit()
                || matches!(
                    c,
                    '.' | '_' | ':' | '+' | '-' | 'x' | 'X' | 'o' | 'O' | 't' | 'T' | 'z' | 'Z'
                )
        })
    {
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_that_stay_plain() {
        for v in [
            "nginx",
            "nginx:1.27",
            "clastix/kubectl:v1.32",
            "registry.example.com:5000/team/app:v1.32.1-rc.1",
            "localhost/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "rancher/k3s:v1.32.1+k3s1",
            "_/weird",
            "123abc/app:1",
        ] {
            assert!(!needs_quotes(v, false), "{v}");
            assert!(!needs_quotes(v, true), "{v}");
        }
    }

    #[test]
    fn plain_values_that_need_quotes() {
        for v in [
            "",
            "*alias",
            "&anchor",
            "!tag",
            "a: b",
            "a #b",
            "a b",
            "[x]",
            "{x}",
            "x,y",
            "-x",
            "'x",
            "\"x",
            "x:",
            "1.32",
            "0o14",
            "0x1F",
            "1_000",
            "1:20",
            "2001-12-14",
            "2001-12-14t21:59:43.10-05:00",
            "yes",
            "No",
            "ON",
            "y",
            "null",
            "NULL",
            "~",
            "true",
            "é/app",
            "a\tb",
            ".inf",
            "%x",
            "@x",
            "|x",
            ">x",
            "?x",
            "#x",
            "a\nb",
        ] {
            assert!(needs_quotes(v, false), "{v:?}");
        }
    }

    #[test]
    fn double_quoting_escapes() {
        assert_eq!(double_quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(
            double_quoted("a\nb\tc\u{7}\u{feff}é"),
            "\"a\\nb\\tc\\x07\\uFEFFé\""
        );
    }

    fn edit(span: Range<usize>, style: ScalarStyle, value: &str) -> Edit {
        Edit {
            span,
            style,
            in_flow: false,
            new_value: value.to_string(),
        }
    }

    #[test]
    fn each_style_is_kept() {
        let src = "a: x:1\nb: 'x:1'\nc: \"x:1\"\nd: |-\n  x:1\ne: >\n  x:1\n\nf: 1\n";
        let edits = [
            edit(3..6, ScalarStyle::Plain, "y:2"),
            edit(10..15, ScalarStyle::SingleQuoted, "y'2"),
            edit(19..24, ScalarStyle::DoubleQuoted, "y\"2\\"),
            edit(33..36, ScalarStyle::Literal, "y:2"),
            edit(44..49, ScalarStyle::Folded, "y:2"),
        ];
        let out = rewrite(src, &edits).unwrap();
        assert_eq!(
            out,
            "a: y:2\nb: 'y''2'\nc: \"y\\\"2\\\\\"\nd: |-\n  y:2\ne: >\n  y:2\n\nf: 1\n"
        );
        // Plain switches to double quotes when it must; single quotes too.
        let out = rewrite(
            src,
            &[
                edit(3..6, ScalarStyle::Plain, "*x"),
                edit(10..15, ScalarStyle::SingleQuoted, "a\nb"),
            ],
        )
        .unwrap();
        assert!(
            out.starts_with("a: \"*x\"\nb: \"a\\nb\"\nc: \"x:1\"\n"),
            "{out}"
        );
    }

    #[test]
    fn bad_edits_are_errors() {
        let src = "a: x:1\nb: 'x:1'\nd: |\n  x\n  y\n";
        let cases = [
            vec![edit(3..60, ScalarStyle::Plain, "y")],
            vec![edit(10..15, ScalarStyle::Plain, "y")],
            vec![edit(3..6, ScalarStyle::SingleQuoted, "y")],
            vec![edit(3..6, ScalarStyle::DoubleQuoted, "y")],
            vec![
                edit(3..6, ScalarStyle::Plain, "y"),
                edit(4..5, ScalarStyle::Plain, "z"),
            ],
            vec![
                edit(3..6, ScalarStyle::Plain, "y"),
                edit(3..6, ScalarStyle::Plain, "z"),
            ],
            vec![edit(22..28, ScalarStyle::Literal, "z")],
            vec![edit(3..3, ScalarStyle::Plain, "z")],
        ];
        for edits in cases {
            let err = rewrite(src, &edits).unwrap_err();
            assert!(
                matches!(err, ManifestError::Edit { .. }),
                "{edits:?}: {err}"
            );
        }
        // A block scalar cannot take a value with a line break.
        let blank = "d: |\n\n  x\n";
        let err = rewrite(blank, &[edit(8..10, ScalarStyle::Literal, "y")]).unwrap_err();
        assert!(err.to_string().contains("blank lines"), "{err}");
        let blank = "d: |\r\n  \r\n  x\r\n";
        assert!(rewrite(blank, &[edit(12..15, ScalarStyle::Literal, "y")]).is_err());
        let src = "d: |-\n  x\n";
        let err = rewrite(src, &[edit(8..10, ScalarStyle::Literal, "a\nb")]).unwrap_err();
        assert!(err.to_string().contains("block scalar"), "{err}");
        // Identical edits of one span (aliases) are applied once.
        let out = rewrite(
            src,
            &[
                edit(8..10, ScalarStyle::Literal, "y"),
                edit(8..10, ScalarStyle::Literal, "y"),
            ],
        )
        .unwrap();
        assert_eq!(out, "d: |-\n  y\n");
    }
}
