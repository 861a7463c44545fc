//! Debian's `promtool` (package `prometheus`), the reference linter of the Prometheus
//! exposition formats, for tests of `/metrics`.

use std::io::Write;
use std::process::{Command, Stdio};

/// `promtool check metrics` on `text`, which must pass: a lint problem, or a missing
/// promtool (`scripts/test.sh` installs it), fails the calling test with promtool's words
/// and the text.
///
/// # Panics
///
/// When promtool cannot run or refuses the text.
pub fn check_metrics(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "promtool is needed ({e}): run scripts/test.sh, or apt-get install -y prometheus"
            )
        });
    child
        .stdin
        .take()
        .expect("promtool's stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let output = child.wait_with_output().expect("wait for promtool");
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}\n--- the text:\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
