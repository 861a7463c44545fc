//! Shared helpers for the CLI tests: run the real binary with a clean environment.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What one run of the binary produced.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Run `tagwarden ARGS` with no credentials from the developer's machine.
pub fn tagwarden(args: &[&str]) -> Run {
    tagwarden_with(args, &[])
}

/// Like [`tagwarden`], with extra environment variables (`PATH`, `DOCKER_CONFIG`, …).
pub fn tagwarden_with(args: &[&str], envs: &[(&str, &str)]) -> Run {
    let home = tempfile::tempdir().expect("temp HOME");
    let output: Output = clean_command(args, home.path(), envs)
        .output()
        .expect("run the tagwarden binary");
    run_of(output)
}

/// `tagwarden ARGS` with HOME at `home`, nothing from the developer's machine (no
/// credentials, config, cache home or cluster; tests that want one set it in `envs`), and
/// then `envs`.
pub fn clean_command(args: &[&str], home: &Path, envs: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tagwarden"));
    command.args(args).env("HOME", home);
    for name in [
        "DOCKER_CONFIG",
        "REGISTRY_AUTH_FILE",
        "TAGWARDEN_REGISTRY_CONFIG",
        "TAGWARDEN_LOG",
        "TAGWARDEN_CONFIG",
        "TAGWARDEN_KUBE_VERSION",
        "XDG_CACHE_HOME",
        "KUBECONFIG",
        "HELM_KUBECONTEXT",
        "KUBERNETES_SERVICE_HOST",
        // The developer's proxies would take the test servers' traffic elsewhere; tests
        // that want one set it.
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
        "COLUMNS",
    ] {
        command.env_remove(name);
    }
    for (key, value) in envs {
        command.env(key, value);
    }
    command
}

/// Run `tagwarden ARGS` like [`clean_command`], feeding it `stdin`.
pub fn tagwarden_stdin_in(args: &[&str], stdin: &[u8], home: &Path, envs: &[(&str, &str)]) -> Run {
    let mut child = clean_command(args, home, envs)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the tagwarden binary");
    let mut pipe = child.stdin.take().expect("stdin pipe");
    let input = stdin.to_vec();
    // A writer thread, so that a large output cannot dead-lock against a large input.
    let writer = std::thread::spawn(move || {
        // The binary may exit before reading everything (bad flags): ignore EPIPE.
        let _ = pipe.write_all(&input);
    });
    let output = child.wait_with_output().expect("wait for tagwarden");
    writer.join().expect("stdin writer");
    run_of(output)
}

/// The exit code and the two streams of a finished run.
fn run_of(output: Output) -> Run {
    Run {
        code: output
            .status
            .code()
            .expect("tagwarden was killed by a signal"),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// A tiny HTTP/1.1 server that answers every request with the same status and headers,
/// and counts the requests. It stands in for a registry that is up but failing
/// (503, 429, 401 without a usable challenge), which Debian's registry cannot be made to do.
pub struct CannedServer {
    pub addr: String,
    pub hits: Arc<AtomicUsize>,
}

impl CannedServer {
    pub fn start(status_line: &'static str, headers: &'static [&'static str]) -> CannedServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind canned server");
        let addr = listener.local_addr().unwrap().to_string();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let counter = counter.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    loop {
                        // Read one request head; bodies are never sent by tagwarden here.
                        let mut line = String::new();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        if !line.starts_with(|c: char| c.is_ascii_uppercase()) {
                            return; // a TLS ClientHello or garbage: hang up
                        }
                        loop {
                            let mut header = String::new();
                            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                                return;
                            }
                            if header == "\r\n" {
                                break;
                            }
                        }
                        counter.fetch_add(1, Ordering::SeqCst);
                        let body = "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"canned failure\"}]}";
                        let mut response = format!("HTTP/1.1 {status_line}\r\n");
                        for h in headers {
                            response.push_str(h);
                            response.push_str("\r\n");
                        }
                        response.push_str(&format!(
                            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        ));
                        if stream.write_all(response.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        CannedServer { addr, hits }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
