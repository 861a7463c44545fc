//! Writing to stdout and stderr without ever panicking.
//!
//! `println!` and `eprintln!` panic when a write fails (exit 101): `tagwarden check -o json |
//! head -c100` closes the pipe early, and `> /dev/full` has no space left. Every command
//! writes through this module instead:
//!
//! - **stdout** is the data. [`outln!`], [`out!`] and [`json`] return a `Result`:
//!   - a **broken pipe** is not an error. The reader has what it wanted; the command
//!     writes nothing more and says nothing, as ripgrep does. It still exits with its own
//!     status, so a gate that found a missing image does not turn into exit 0 because the
//!     reader stopped early;
//!   - **any other write error** (`/dev/full`, an I/O error) is a one-line
//!     `error: cannot write to stdout: …` and exit 2.
//! - **stderr** is commentary: explanations, warnings, summaries and the final `error:`
//!   line. [`errln!`] writes it on a best-effort basis: when stderr itself cannot be
//!   written, there is nowhere left to report that, and the command's exit status
//!   still tells the truth.
//!
//! Colour: only messages on stderr are ever coloured, and only when [`stderr_color`] says
//! so (`--color`, `NO_COLOR`, a terminal); stdout is data and never coloured.
//!
//! ```ignore
//! outln!("{resolved}")?;          // data, on stdout
//! errln!("note: {explanation}");  // commentary, on stderr
//! output::json(&report)?;         // a JSON document, on stdout
//! ```

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::anyhow;

use crate::exit::Failure;

/// Set once a write to stdout found the pipe closed: later writes are skipped.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether messages on stderr get colours (`--color`, `NO_COLOR`); set once by `main`.
static STDERR_COLOR: AtomicBool = AtomicBool::new(false);

/// Decides, once, whether stderr is coloured (see [`crate::cli::ColorChoice`]).
pub fn set_stderr_color(on: bool) {
    STDERR_COLOR.store(on, Ordering::Relaxed);
}

/// Whether messages on stderr get colours: a YAML snippet, log lines.
pub fn stderr_color() -> bool {
    STDERR_COLOR.load(Ordering::Relaxed)
}

/// Whether stderr is a terminal: snippets and progress are for people watching.
pub fn stderr_is_terminal() -> bool {
    use std::io::IsTerminal;
    io::stderr().is_terminal()
}

/// Writes formatted text to stdout, then flushes it (see the module docs for errors).
pub fn write_stdout(args: fmt::Arguments<'_>) -> Result<(), Failure> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut stdout = io::stdout().lock();
    let written = stdout.write_fmt(args).and_then(|()| stdout.flush());
    stdout_result(written)
}

/// Writes bytes to stdout as they are (post-render's manifests), then flushes.
pub fn write_stdout_bytes(bytes: &[u8]) -> Result<(), Failure> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut stdout = io::stdout().lock();
    let written = stdout.write_all(bytes).and_then(|()| stdout.flush());
    stdout_result(written)
}

/// Writes a value as pretty JSON on stdout, followed by a newline.
pub fn json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::bad_input(anyhow!("cannot write the output as JSON: {e}")))?;
    write_stdout(format_args!("{text}\n"))
}

/// Writes a value as one line of compact JSON on stdout (`gaps -o github-matrix`).
pub fn json_line(value: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string(value)
        .map_err(|e| Failure::bad_input(anyhow!("cannot write the output as JSON: {e}")))?;
    write_stdout(format_args!("{text}\n"))
}

/// Writes formatted text to stderr, ignoring failure (see the module docs).
pub fn write_stderr(args: fmt::Arguments<'_>) {
    crate::progress::suspend(|| {
        let mut stderr = io::stderr().lock();
        let _ = stderr.write_fmt(args).and_then(|()| stderr.flush());
    });
}

fn stdout_result(written: io::Result<()>) -> Result<(), Failure> {
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(Failure::bad_input(anyhow!("cannot write to stdout: {e}"))),
    }
}

/// `println!` for data on stdout: returns `Result<(), Failure>` instead of panicking.
macro_rules! outln {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for data on stdout: returns `Result<(), Failure>` instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!($($arg)*))
    };
}

/// `eprintln!` for commentary on stderr: best effort, never panics.
macro_rules! errln {
    () => {
        $crate::output::write_stderr(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {errln, out, outln};
