//! Small text helpers: YAML line breaks, byte offset ↔ line/column, UTF-8 decoding.
//!
//! YAML 1.2 recognises three line breaks: `\n`, `\r\n` and a lone `\r`. Every line and column
//! computed here counts them the way `granit-parser` does, so positions from the parser and
//! positions computed from byte offsets agree. Columns count Unicode scalar values (characters),
//! not bytes, and a byte-order mark at the very start of the input is not counted.

use crate::error::ManifestError;

/// The UTF-8 byte-order mark.
pub(crate) const BOM: &str = "\u{feff}";

/// Line (1-based) and column (1-based, in characters) of `offset` in `source`.
///
/// `offset` is clamped to the input and moved back to a character boundary.
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source.as_bytes()[..offset];
    let mut line = 1;
    let mut line_start = 0;
    let mut i = 0;
    while i < before.len() {
        match before[i] {
            b'\n' => {
                line += 1;
                line_start = i + 1;
            }
            // `\r\n` is one break; it is counted at the `\n`.
            b'\r' if source.as_bytes().get(i + 1) != Some(&b'\n') => {
                line += 1;
                line_start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    let mut text = &source[line_start..offset];
    if line_start == 0 {
        text = text.strip_prefix(BOM).unwrap_or(text);
    }
    (line, text.chars().count() + 1)
}

/// Byte range of line `line` (1-based) without its line break, or `None` past the end.
pub(crate) fn line_range(source: &str, line: usize) -> Option<std::ops::Range<usize>> {
    let bytes = source.as_bytes();
    let mut current = 1;
    let mut start = 0;
    let mut i = 0;
    loop {
        if current == line {
            let mut end = start;
            while end < bytes.len() && bytes[end] != b'\n' && bytes[end] != b'\r' {
                end += 1;
            }
            return Some(start..end);
        }
        // Find the end of the current line.
        while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
        }
        i += 1;
        start = i;
        current += 1;
    }
}

/// Byte offset of (`line`, `column`) (both 1-based, column in characters), clamped to the
/// end of that line. A BOM at the start of the input is skipped, as the parser does.
pub(crate) fn offset_of(source: &str, line: usize, column: usize) -> Option<usize> {
    let range = line_range(source, line)?;
    let mut start = range.start;
    if start == 0 && source.starts_with(BOM) {
        start = BOM.len();
    }
    let text = &source[start.min(range.end)..range.end];
    let within = text
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(text.len(), |(i, _)| i);
    Some(start.min(range.end) + within)
}

/// Checks that `bytes` is UTF-8 and returns it as text.
///
/// Invalid input gives [`ManifestError::Encoding`] with the line, column and byte offset of
/// the first bad byte, so that a user can find it. UTF-16 and UTF-32 inputs (recognised by
/// their byte-order marks) get a message that says so: Kubernetes tooling emits UTF-8.
pub fn decode_utf8<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str, ManifestError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(err) => {
            let offset = err.valid_up_to();
            let message = if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
                "the input is UTF-16 (it starts with a UTF-16 byte-order mark); convert it to UTF-8"
                    .to_string()
            } else if bytes.starts_with(&[0, 0, 0xFE, 0xFF]) {
                "the input is UTF-32; convert it to UTF-8".to_string()
            } else {
                format!(
                    "invalid UTF-8 (byte 0x{:02X} at offset {offset}); is this a binary file?",
                    bytes[offset]
                )
            };
            // The prefix is valid UTF-8 by construction.
            let prefix = std::str::from_utf8(&bytes[..offset]).unwrap_or_default();
            let (line, column) = line_column(prefix, offset);
            Err(ManifestError::Encoding {
                file: file.to_string(),
                line,
                column,
                offset,
                message,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_all_yaml_breaks() {
        let s = "ab\ncd\r\nef\rgh";
        assert_eq!(line_column(s, 0), (1, 1));
        assert_eq!(line_column(s, 1), (1, 2));
        assert_eq!(line_column(s, 3), (2, 1));
        assert_eq!(line_column(s, 7), (3, 1));
        assert_eq!(line_column(s, 10), (4, 1));
        assert_eq!(line_column(s, 11), (4, 2));
    }

    #[test]
    fn line_column_counts_characters_and_skips_bom() {
        let s = "\u{feff}é: ñ\nx";
        assert_eq!(line_column(s, 3), (1, 1));
        assert_eq!(line_column(s, 7), (1, 4));
        assert_eq!(line_column(s, s.len()), (2, 2));
    }

    #[test]
    fn offsets_round_trip() {
        let s = "\u{feff}a: b\r\nimage: é\nlast";
        for (i, _) in s.char_indices().filter(|(i, _)| *i >= 3) {
            let (l, c) = line_column(s, i);
            if s.as_bytes()[i] == b'\n' && s.as_bytes()[i - 1] == b'\r' {
                continue;
            }
            assert_eq!(offset_of(s, l, c), Some(i), "offset {i} ({l}:{c})");
        }
        assert_eq!(line_range(s, 2), Some(9..18));
        assert_eq!(line_range(s, 4), None);
    }

    #[test]
    fn decode_reports_position_of_bad_byte() {
        let err = decode_utf8("f.yaml", b"a: 1\nb: \xff\xfe\n").unwrap_err();
        match err {
            ManifestError::Encoding {
                line,
                column,
                offset,
                ..
            } => {
                assert_eq!((line, column, offset), (2, 4, 8));
            }
            other => panic!("unexpected {other:?}"),
        }
        let err = decode_utf8("f.yaml", b"\xff\xfea\x00").unwrap_err();
        assert!(err.to_string().contains("UTF-16"), "{err}");
    }
}
