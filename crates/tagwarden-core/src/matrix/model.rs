//! The parsed, validated matrix and the errors of a matrix file.

use std::fmt;

use super::grammar::{AppRange, ImageTemplate, KubeRange};

/// One row of the matrix, with the file's defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The application versions of this row.
    pub app: AppRange,
    /// The Kubernetes minors they support.
    pub kubernetes: KubeRange,
    /// The image they ask for (the entry's own, or the file's default).
    pub image: Option<ImageTemplate>,
    /// Platforms every promised tag must provide (the entry's, or the file's default), as
    /// written, each normalised platform once; they parse with [`Platform::parse`](crate::platform::Platform::parse).
    pub platforms: Vec<String>,
    /// Free text, for the rendered table ([`Matrix::to_markdown`]).
    pub notes: Option<String>,
    /// The line of the entry in the file (1-based).
    pub line: u64,
}

/// A parsed, validated compatibility matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    /// The application's name, if the file gives one.
    pub name: Option<String>,
    /// The rows, in file order.
    pub entries: Vec<Entry>,
}

/// One problem in a matrix file, at a 1-based line and column (in characters).
/// Line 0 means the position is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixError {
    /// 1-based line, 0 when unknown.
    pub line: u64,
    /// 1-based column in characters, 0 when unknown.
    pub column: u64,
    /// What is wrong.
    pub message: String,
}

impl MatrixError {
    /// `FILE:LINE:COLUMN: message` (just `FILE: message` when the position is unknown).
    pub fn in_file(&self, file: &str) -> String {
        if self.line == 0 {
            format!("{file}: {}", self.message)
        } else {
            format!("{file}:{}:{}: {}", self.line, self.column, self.message)
        }
    }
}

impl fmt::Display for MatrixError {
    /// `LINE:COLUMN: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "{}:{}: {}", self.line, self.column, self.message)
        }
    }
}

/// Every problem found in a matrix file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixErrors(pub Vec<MatrixError>);

impl fmt::Display for MatrixErrors {
    /// One problem per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for MatrixErrors {}
