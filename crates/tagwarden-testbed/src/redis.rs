//! A real, throw-away Redis: Debian's `redis-server` on a free loopback port, for the
//! shared cache of `serve` (answers, single flight, budgets across processes).
//!
//! [`RedisServer::start`] runs it without persistence (`save ""`, no AOF) in a fresh
//! directory, with `requirepass` when a password is given ([`RedisBuilder::password`]),
//! and over TLS only when asked ([`RedisBuilder::tls`]: a fresh test CA and a server
//! certificate for the loopback names, as the HTTPS registry gets; clients are not asked
//! for certificates). It is ready when its log says `Ready to accept connections`; a port
//! taken between the probe and the bind is retried on another. The child dies with the
//! test process (`PR_SET_PDEATHSIG`), and [`RedisServer::kill`] stops it mid-test (Redis
//! down) for the fallback tests.
//!
//! Requires `/usr/bin/redis-server` (`apt-get install -y redis-server`) or
//! `TAGWARDEN_TEST_REDIS_BIN`; tests fail with that advice when it is missing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::registry::{die_with_parent, free_port, scratch_dir, spawn, tail};
use crate::tls::ServerPki;

/// Where `redis-server` is looked for, unless [`REDIS_BIN_ENV`] says otherwise.
pub const DEFAULT_REDIS_BIN: &str = "/usr/bin/redis-server";
/// The environment variable naming another `redis-server` binary.
pub const REDIS_BIN_ENV: &str = "TAGWARDEN_TEST_REDIS_BIN";

const PORT_ATTEMPTS: usize = 5;
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// How to start a [`RedisServer`].
#[derive(Debug, Default, Clone)]
#[must_use]
pub struct RedisBuilder {
    password: Option<String>,
    tls: bool,
}

impl RedisBuilder {
    /// Require AUTH with this password (`requirepass`).
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_string());
        self
    }

    /// Serve TLS only (`rediss://`), with a fresh test CA ([`RedisServer::ca_cert_path`]).
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// Start it and wait until it accepts connections.
    ///
    /// # Panics
    ///
    /// When the binary is missing, exits, or is not ready within 15 s (with its log tail).
    pub fn start(self) -> RedisServer {
        let bin = redis_bin();
        let dir = scratch_dir("tagwarden-registry-redis-");
        let ca_cert = self.tls.then(|| write_pki(dir.path()));
        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            match try_start(&bin, dir.path(), port, &self) {
                Ok(child) => {
                    return RedisServer {
                        child: Mutex::new(child),
                        addr: format!("127.0.0.1:{port}"),
                        password: self.password,
                        ca_cert,
                        dir,
                    };
                }
                Err(log) => last_log = log,
            }
        }
        panic!(
            "redis-server could not bind a free loopback port in {PORT_ATTEMPTS} attempts. \
             Last log:\n{}",
            tail(&last_log, 20)
        );
    }
}

/// A running `redis-server`; stopped on drop.
pub struct RedisServer {
    child: Mutex<Child>,
    addr: String,
    password: Option<String>,
    ca_cert: Option<PathBuf>,
    // Dropped after the child is stopped: field drop order.
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Plain TCP, no password.
    pub fn start() -> RedisServer {
        RedisServer::builder().start()
    }

    /// Options: a password, TLS.
    pub fn builder() -> RedisBuilder {
        RedisBuilder::default()
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `redis://127.0.0.1:PORT`, or `rediss://…` with TLS (never with the password).
    pub fn url(&self) -> String {
        let scheme = if self.ca_cert.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The AUTH password, if it has one.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The test CA that signed its certificate (TLS only).
    pub fn ca_cert_path(&self) -> Option<&Path> {
        self.ca_cert.as_deref()
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// SIGKILL it now and reap it (Redis gone mid-run); later calls do nothing.
    pub fn kill(&self) {
        let mut child = self.child.lock().expect("redis child poisoned");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// True while the process runs.
    pub fn is_running(&self) -> bool {
        let mut child = self.child.lock().expect("redis child poisoned");
        matches!(child.try_wait(), Ok(None))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn redis_bin() -> PathBuf {
    let bin = match std::env::var_os(REDIS_BIN_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_REDIS_BIN),
    };
    assert!(
        bin.is_file(),
        "redis-server not found at {}: run `apt-get install -y redis-server` (or set \
         {REDIS_BIN_ENV} to a redis-server or valkey-server binary)",
        bin.display()
    );
    bin
}

/// Write the CA, the server certificate and key into `dir/tls`; returns the CA's path.
fn write_pki(dir: &Path) -> PathBuf {
    let pki = ServerPki::generate();
    let tls = dir.join("tls");
    let write = |name: &str, text: &str| {
        let path = tls.join(name);
        fs::create_dir_all(&tls)
            .and_then(|()| fs::write(&path, text))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    };
    write("server.crt", &pki.server_cert_pem);
    write("server.key", &pki.server_key_pem);
    write("ca.crt", &pki.ca_cert_pem)
}

fn config_text(dir: &Path, port: u16, opts: &RedisBuilder) -> String {
    let mut text = format!(
        "bind 127.0.0.1\nprotected-mode no\ndir {dir}\nlogfile {dir}/redis.log\n\
         save \"\"\nappendonly no\ndaemonize no\n",
        dir = dir.display()
    );
    if opts.tls {
        let tls = dir.join("tls");
        text.push_str(&format!(
            "port 0\ntls-port {port}\ntls-cert-file {t}/server.crt\ntls-key-file {t}/server.key\n\
             tls-ca-cert-file {t}/ca.crt\ntls-auth-clients no\n",
            t = tls.display()
        ));
    } else {
        text.push_str(&format!("port {port}\n"));
    }
    if let Some(password) = &opts.password {
        text.push_str(&format!("requirepass {password}\n"));
    }
    text
}

/// Start on `port`: the child once ready; `Err(log)` when the port was taken.
fn try_start(bin: &Path, dir: &Path, port: u16, opts: &RedisBuilder) -> Result<Child, String> {
    let config = dir.join("redis.conf");
    let log_path = dir.join("redis.log");
    let _ = fs::remove_file(&log_path);
    fs::write(&config, config_text(dir, port, opts))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", config.display()));
    let mut cmd = Command::new(bin);
    cmd.arg(&config)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    die_with_parent(&mut cmd);
    let mut child = spawn(cmd).unwrap_or_else(|e| {
        panic!(
            "cannot run {}: {e}: run `apt-get install -y redis-server`",
            bin.display()
        )
    });
    let read_log = || fs::read_to_string(&log_path).unwrap_or_default();
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = read_log();
            if log.contains("Address already in use") {
                return Err(log);
            }
            panic!(
                "redis-server ({}) exited with {status} before it was ready. Log tail:\n{}",
                bin.display(),
                tail(&log, 20)
            );
        }
        if read_log().contains("Ready to accept connections") {
            return Ok(child);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "redis-server ({}) was not ready within {}s. Log tail:\n{}",
                bin.display(),
                START_TIMEOUT.as_secs(),
                tail(&read_log(), 20)
            );
        }
        std::thread::sleep(Duration::from_millis(15));
    }
}
