//! The one error type of this crate.

use std::ops::Range;

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};

use crate::text;

/// Everything that can go wrong while reading, parsing, searching or rewriting a YAML stream.
///
/// Every variant that points into a file displays on one line as `file:LINE:COL: message`
/// (1-based line and column, the column in characters), the format compilers use and editors
/// understand. [`ManifestError::snippet`] renders the offending line for people.
/// All of these are bad input, except [`ManifestError::Io`] on a
/// file that could not be read and [`ManifestError::Edit`], which is a bug in the caller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The input is not valid YAML.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        /// File name as given by the caller.
        file: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error, in characters.
        column: usize,
        /// What the parser expected or found, e.g. `mapping values are not allowed in this context`.
        message: String,
    },
    /// The input exceeds a resource limit (nesting depth, alias count, alias dereferences).
    /// See [`crate::Limits`].
    #[error("{file}:{line}:{column}: {message}")]
    Limit {
        /// File name as given by the caller.
        file: String,
        /// 1-based line where the limit was hit.
        line: usize,
        /// 1-based column where the limit was hit.
        column: usize,
        /// Which limit, and its value.
        message: String,
    },
    /// The input is not UTF-8 text (binary data, UTF-16, …).
    #[error("{file}:{line}:{column}: {message}")]
    Encoding {
        /// File name as given by the caller.
        file: String,
        /// 1-based line of the first bad byte.
        line: usize,
        /// 1-based column (in characters) of the first bad byte.
        column: usize,
        /// Byte offset of the first bad byte.
        offset: usize,
        /// Description, e.g. `invalid UTF-8 (byte 0xFF at offset 8); is this a binary file?`.
        message: String,
    },
    /// The input is larger than [`crate::Limits::max_input_bytes`].
    #[error("{file}: the input is larger than the limit of {limit} bytes")]
    TooLarge {
        /// File name as given by the caller.
        file: String,
        /// The configured limit in bytes.
        limit: usize,
    },
    /// A file, folder or stdin could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The path (or `<stdin>`).
        file: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A `KIND:PATH` image-path rule could not be parsed. See [`crate::ImagePath`].
    #[error("invalid image path `{spec}`: {message}")]
    ImagePath {
        /// The rule as given.
        spec: String,
        /// What is wrong with it.
        message: String,
    },
    /// An [`crate::Edit`] does not fit the source it is applied to (out of bounds, overlapping
    /// another edit, not the kind of scalar it claims to be, or a value that cannot be written
    /// in a block scalar). This is a bug in the caller or a stale edit, never bad user input.
    #[error("cannot apply edit at bytes {}..{}: {message}", span.start, span.end)]
    Edit {
        /// The span of the edit.
        span: Range<usize>,
        /// Why it cannot be applied.
        message: String,
    },
}

impl ManifestError {
    /// The file this error is about, when it is about one.
    pub fn file(&self) -> Option<&str> {
        match self {
            Self::Syntax { file, .. }
            | Self::Limit { file, .. }
            | Self::Encoding { file, .. }
            | Self::TooLarge { file, .. }
            | Self::Io { file, .. } => Some(file),
            Self::ImagePath { .. } | Self::Edit { .. } => None,
        }
    }

    /// 1-based line and column (in characters), for errors that point into a file.
    pub fn line_column(&self) -> Option<(usize, usize)> {
        match self {
            Self::Syntax { line, column, .. }
            | Self::Limit { line, column, .. }
            | Self::Encoding { line, column, .. } => Some((*line, *column)),
            _ => None,
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Syntax { message, .. }
            | Self::Limit { message, .. }
            | Self::Encoding { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// Renders the error with the offending line of `source` underlined, without colours:
    ///
    /// ```text
    /// error: mapping values are not allowed in this context
    ///  --> deploy.yaml:3:8
    ///   |
    /// 3 |   image: nginx: 1
    ///   |        ^
    /// ```
    ///
    /// `source` must be the text the error came from (for [`ManifestError::Encoding`], the
    /// bytes up to the bad one, decoded lossily, are fine). Errors without a position render
    /// as their one-line [`Display`](std::fmt::Display).
    pub fn snippet(&self, source: &str) -> String {
        self.render(source, &Renderer::plain())
    }

    /// Like [`ManifestError::snippet`], with ANSI colours for a terminal.
    pub fn snippet_styled(&self, source: &str) -> String {
        self.render(source, &Renderer::styled())
    }

    fn render(&self, source: &str, renderer: &Renderer) -> String {
        let (Some(file), Some((line, column))) = (self.file(), self.line_column()) else {
            return self.to_string();
        };
        let Some(range) = text::line_range(source, line) else {
            return self.to_string();
        };
        let Some(offset) = text::offset_of(source, line, column) else {
            return self.to_string();
        };
        let line_text = &source[range.clone()];
        // Underline one character (or the end of the line).
        let start = offset - range.start;
        let end = line_text[start..]
            .chars()
            .next()
            .map_or(start, |c| start + c.len_utf8());
        let message = self.message();
        let report = &[Level::ERROR.primary_title(message.as_str()).element(
            Snippet::source(line_text)
                .line_start(line)
                .path(file)
                .annotation(AnnotationKind::Primary.span(start..end)),
        )];
        renderer.render(report)
    }
}
