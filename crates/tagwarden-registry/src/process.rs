//! The one way tagwarden runs another program for credentials: docker credential helpers
//! (`docker-credential-NAME get`) and the kubelet's credential-provider plugins.
//!
//! - The request goes to its stdin; stdout and stderr are read on threads to their end,
//!   keeping at most a bound of each (the rest is drained), so a chatty program never
//!   blocks on a full pipe and cannot fill memory.
//! - It runs in a process group of its own; when it has not exited within the timeout,
//!   the whole group is killed (a helper's own children too), and it is waited for.
//! - The pipes are read for at most [`PIPE_GRACE`] after it ended: a grandchild that
//!   kept them open cannot hang the caller.

use std::io::{Read, Write as _};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long to wait for the pipes after the program has exited or been killed.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// What a program that ran said.
#[derive(Debug)]
pub(crate) struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why a program gave no answer.
#[derive(Debug)]
pub(crate) enum Failed {
    /// It could not be started (not installed, not executable).
    Start(std::io::Error),
    /// It did not exit within the timeout and was killed, with what it said on stderr.
    TimedOut { stderr: Vec<u8> },
    /// It could not be waited for.
    Wait(std::io::Error),
}

/// The most of each stream kept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub stdout: u64,
    pub stderr: u64,
}

/// Runs `command` with `input` on its stdin, until it exits or `timeout` passes; see the
/// [module documentation](self).
pub(crate) fn run(
    command: &mut Command,
    input: &[u8],
    timeout: Duration,
    limits: Limits,
) -> Result<Output, Failed> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        command.process_group(0);
    }
    let mut child = command.spawn().map_err(Failed::Start)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A program that exits without reading is judged by its exit status, not here.
        let _ = stdin.write_all(input);
    }
    let stdout = read_on_thread(child.stdout.take(), limits.stdout);
    let stderr = read_on_thread(child.stderr.take(), limits.stderr);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                kill_group(&mut child);
                let stderr = stderr.recv_timeout(PIPE_GRACE).unwrap_or_default();
                return Err(Failed::TimedOut { stderr });
            }
            Err(e) => {
                kill_group(&mut child);
                return Err(Failed::Wait(e));
            }
        }
    };
    Ok(Output {
        status,
        stdout: stdout.recv_timeout(PIPE_GRACE).unwrap_or_default(),
        stderr: stderr.recv_timeout(PIPE_GRACE).unwrap_or_default(),
    })
}

/// Reads a pipe to its end on a thread, keeping at most `limit` bytes (the rest is
/// drained); the kept bytes arrive on the channel.
fn read_on_thread(pipe: Option<impl Read + Send + 'static>, limit: u64) -> mpsc::Receiver<Vec<u8>> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(pipe) = pipe {
            let mut kept = pipe.take(limit);
            let _ = kept.read_to_end(&mut buf);
            let _ = std::io::copy(&mut kept.into_inner(), &mut std::io::sink());
        }
        let _ = send.send(buf);
    });
    receive
}

/// Kills the program and everything it started (its process group), and reaps it.
fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals the process group created for this
        // child (process_group(0) makes its pid the group id); no memory is touched.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        stdout: 16,
        stderr: 1024,
    };

    #[test]
    fn input_goes_in_and_output_is_kept_within_its_limit() {
        let mut command = Command::new("sh");
        command.args(["-c", "cat; head -c 100000 /dev/zero | tr '\\0' x"]);
        let output = run(&mut command, b"hello", Duration::from_secs(10), LIMITS).unwrap();
        assert!(output.status.success());
        assert_eq!(
            output.stdout, b"helloxxxxxxxxxxx",
            "16 bytes kept, the rest drained"
        );
    }

    #[test]
    fn a_program_that_hangs_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("child.pid");
        let mut command = Command::new("sh");
        // A grandchild that keeps the pipes open and would outlive a plain kill.
        command.args([
            "-c",
            &format!(
                "sleep 600 & echo $! > {}; echo waiting >&2; wait",
                pid_file.display()
            ),
        ]);
        let started = Instant::now();
        let failed = run(&mut command, b"", Duration::from_millis(500), LIMITS).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        let Failed::TimedOut { stderr } = failed else {
            panic!("not a timeout: {failed:?}");
        };
        assert_eq!(stderr, b"waiting\n");
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Killed, it is gone or a zombie until whoever inherited it reaps it.
        let running = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| Some(stat.rsplit_once(") ")?.1.starts_with(['R', 'S', 'D'])))
                .unwrap_or(false)
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!running(), "the grandchild {pid} was left running");
    }

    #[test]
    fn a_missing_program_cannot_be_started() {
        let mut command = Command::new("/nonexistent/docker-credential-none");
        let failed = run(&mut command, b"", Duration::from_secs(1), LIMITS).unwrap_err();
        assert!(
            matches!(&failed, Failed::Start(e) if e.kind() == std::io::ErrorKind::NotFound),
            "{failed:?}"
        );
    }
}
