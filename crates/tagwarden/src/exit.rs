//! Exit codes, the same for every command (README.md, "Exit codes"):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success: everything exists, or it was resolved |
//! | 1 | a finding: something is missing, or there is no fallback within the policy |
//! | 2 | bad usage or bad input: flags, version strings, references, YAML |
//! | 3 | could not decide: unreachable, denied, rate-limited, or a malformed registry answer |

use std::process::ExitCode;

/// What a command concluded, when it ran to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Exit 0.
    Success,
    /// Exit 1: the command found something (missing image, no fallback).
    Finding,
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> Self {
        match status {
            Status::Success => ExitCode::from(0),
            Status::Finding => ExitCode::from(1),
        }
    }
}

/// Why a command stopped early.
#[derive(Debug)]
pub enum Failure {
    /// Exit 2: the input or the flags are wrong; the user must change them.
    BadInput(anyhow::Error),
    /// Exit 3: a registry (or cluster) did not let us decide.
    Undecided(anyhow::Error),
    /// A failure already shown to the user in full (a YAML error as a snippet, on a
    /// terminal): its exit code, and no second `error:` line.
    Shown(Box<Failure>),
}

impl Failure {
    pub fn bad_input(error: impl Into<anyhow::Error>) -> Self {
        Failure::BadInput(error.into())
    }

    pub fn undecided(error: impl Into<anyhow::Error>) -> Self {
        Failure::Undecided(error.into())
    }

    /// Marks this failure as already shown: `main` prints nothing more for it.
    pub fn shown(self) -> Self {
        match self {
            Failure::Shown(_) => self,
            other => Failure::Shown(Box::new(other)),
        }
    }

    /// True when the user has already seen this failure in full.
    pub fn is_shown(&self) -> bool {
        matches!(self, Failure::Shown(_))
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::BadInput(_) => ExitCode::from(2),
            Failure::Undecided(_) => ExitCode::from(3),
            Failure::Shown(inner) => inner.exit_code(),
        }
    }

    pub fn error(&self) -> &anyhow::Error {
        match self {
            Failure::BadInput(e) | Failure::Undecided(e) => e,
            Failure::Shown(inner) => inner.error(),
        }
    }
}

impl From<tagwarden_registry::RegistryError> for Failure {
    fn from(error: tagwarden_registry::RegistryError) -> Self {
        if error.is_config() {
            Failure::BadInput(error.into())
        } else {
            Failure::Undecided(error.into())
        }
    }
}

impl From<tagwarden_registry::ResolveError> for Failure {
    fn from(error: tagwarden_registry::ResolveError) -> Self {
        match error {
            tagwarden_registry::ResolveError::Input(message) => {
                Failure::BadInput(anyhow::anyhow!(message))
            }
            tagwarden_registry::ResolveError::Registry(error) => error.into(),
        }
    }
}

pub type CommandResult = Result<Status, Failure>;
