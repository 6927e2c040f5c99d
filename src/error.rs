//! Configuration errors that point at a file and, where there is one, a line.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem found while loading `zones/` or the GeoIP database.
///
/// Loading collects every error it can find rather than stopping at the first, so that
/// `geosteer check` shows an operator the whole list at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// The line, 1-based, where there is one.
    pub line: Option<usize>,
    /// The column, 1-based in characters, where the problem is inside a value (a rule's
    /// condition).
    pub column: Option<usize>,
    /// What is wrong, for the operator.
    pub message: String,
}

impl ConfigError {
    /// A problem at a line of `file`.
    pub fn at(file: &Path, line: usize, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: Some(line),
            column: None,
            message: message.into(),
        }
    }

    /// A problem at a line and column of `file`.
    pub fn at_column(file: &Path, line: usize, column: usize, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }

    /// A problem with `file` as a whole.
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: None,
            column: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(col)) => {
                write!(f, "{}:{line}:{col}: {}", self.file.display(), self.message)
            }
            (Some(line), None) => write!(f, "{}:{}: {}", self.file.display(), line, self.message),
            (None, _) => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A list of errors; what a failed load returns.
#[derive(Debug, Clone, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
