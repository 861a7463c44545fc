//! A spinner on stderr while a command waits for registries, so that a slow registry does
//! not look like a hang. Only on a terminal: piped or redirected, stderr gets no spinner.
//!
//! ```ignore
//! let spinner = progress::Spinner::start("resolving clastix/kubectl:v1.32");
//! let answer = ask_the_registry().await?;   // an early return clears it too
//! drop(spinner);                            // before printing the answer
//! ```
//!
//! While a spinner runs, messages written with [`crate::output::errln!`] and log lines
//! pause it, print above it, and let it go on ([`suspend`]).

use std::borrow::Cow;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The spinner on screen, if any, for [`suspend`].
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// A spinner with a message and the time elapsed; cleared when dropped.
#[must_use = "the spinner disappears when dropped"]
pub struct Spinner {
    bar: Option<ProgressBar>,
}

impl Spinner {
    /// Shows `message` with a spinner on stderr, when stderr is a terminal.
    pub fn start(message: impl Into<Cow<'static, str>>) -> Spinner {
        if !crate::output::stderr_is_terminal() {
            return Spinner { bar: None };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(message);
        bar.tick();
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut active) = ACTIVE.lock() {
            *active = Some(bar.clone());
        }
        Spinner { bar: Some(bar) }
    }

    /// Changes the message (what is being waited for now).
    pub fn set_message(&self, message: impl Into<Cow<'static, str>>) {
        if let Some(bar) = &self.bar {
            bar.set_message(message);
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            if let Ok(mut active) = ACTIVE.lock() {
                *active = None;
            }
        }
    }
}

/// Runs `write` with the spinner (if any) hidden, so that a line written to stderr is not
/// drawn over.
pub fn suspend<R>(write: impl FnOnce() -> R) -> R {
    let active = ACTIVE.lock().ok().and_then(|active| active.clone());
    match active {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

/// stderr for log lines, pausing the spinner around each one (a `tracing` writer).
pub struct StderrAroundSpinner;

impl std::io::Write for StderrAroundSpinner {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        suspend(|| std::io::stderr().write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        suspend(|| std::io::stderr().write_all(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// A progress bar on stderr, only when stderr is a terminal and there is something to wait for.
pub fn progress_bar(total: usize) -> Option<indicatif::ProgressBar> {
    if total < 2 || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("checking images {bar:30} {pos}/{len} {elapsed}")
    {
        bar.set_style(style);
    }
    Some(bar)
}
