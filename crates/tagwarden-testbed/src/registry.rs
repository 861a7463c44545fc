//! A real registry process: Debian's `docker-registry` (CNCF distribution 2.8)
//! on a free loopback port with a throw-away filesystem store.
//!
//! # How the registry is configured
//!
//! [`Registry::start`] creates a [`tempfile::TempDir`] (in `/dev/shm` when it
//! exists: the registry writes many small files and tmpfs makes seeding several
//! times faster than ext4) and writes `config.yml` into it (see
//! [`Registry::config_yaml`] for the exact text):
//!
//! - `storage.filesystem.rootdirectory` is `<tempdir>/storage`, deleted with the
//!   `TempDir` when the [`Registry`] is dropped; deletes are enabled and upload
//!   purging is off (it is a background job that only adds noise);
//! - `http.addr` is `127.0.0.1:<port>`, plain HTTP, no auth;
//! - `http.secret` is fixed (otherwise the registry logs a warning and makes one
//!   up), `http.draintimeout` is 1s so SIGTERM ends it quickly;
//! - `log.level: info` with the access log off. The log goes to
//!   `<tempdir>/registry.log`; [`Registry::log`] returns it, and every panic
//!   of this module quotes its tail.
//!
//! # Choosing the port
//!
//! We bind `127.0.0.1:0`, read the port the kernel chose and drop the listener,
//! then hand the port to the registry. Another process may grab the port in
//! between; the registry then dies with `bind: address already in use` and we
//! retry with a new port (a few attempts). "Ready" means all of: the child is
//! alive, its log says `listening on 127.0.0.1:<port>` (proof that *our* process
//! owns the port, not some other server that won the race) and `GET /v2/`
//! answers 200.
//!
//! # Why `PR_SET_PDEATHSIG`, and why a spawner thread
//!
//! `Drop` stops the registry, but `Drop` does not run when the test process is
//! killed (Ctrl-C, a CI timeout, `SIGKILL`) or for a `Registry` kept in a
//! `static`. Without help, every such run would leave a registry process behind.
//! So the child calls `prctl(PR_SET_PDEATHSIG, SIGKILL)` between `fork` and
//! `exec` (via [`std::os::unix::process::CommandExt::pre_exec`]): the kernel
//! then kills it as soon as its parent goes away, however that happens.
//! (Only the process is cleaned up that way; a killed run leaves its small
//! `tagwarden-registry-*` directory behind in `/dev/shm` or `$TMPDIR`.)
//!
//! The catch: Linux sends the death signal when the *thread* that forked the
//! child exits, not the whole process. The test harness runs each `#[test]` on
//! its own thread, so a registry spawned by one test and shared with others
//! (a `OnceLock<Registry>`) would be killed when that first test finished. So
//! all children are spawned by one long-lived thread of this crate
//! (`tagwarden-testbed-spawner`) that lives as long as the process does.
//!
//! Linux only (`prctl`), like the tool's CI.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::Seeder;

/// Where Debian's package installs the registry binary.
pub const DEFAULT_REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// Environment variable that overrides [`DEFAULT_REGISTRY_BIN`].
pub const REGISTRY_BIN_ENV: &str = "TAGWARDEN_TEST_REGISTRY_BIN";

/// How long [`Registry::start`] waits for `GET /v2/` before it gives up.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How many fresh ports [`Registry::start`] tries when a port was taken under it.
const PORT_ATTEMPTS: usize = 5;
/// How long `Drop` waits after SIGTERM before it sends SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// A running, empty registry. Dropping it stops the process and deletes its storage.
///
/// ```no_run
/// let registry = tagwarden_testbed::Registry::start();
/// let seeded = tagwarden_testbed::seed_standard(&registry);
/// println!("{} has clastix/kubectl:v1.31 = {}", registry.url(),
///          seeded.digest("clastix/kubectl", "v1.31"));
/// ```
pub struct Registry {
    child: Child,
    addr: String,
    bin: PathBuf,
    // Dropped after `Drop::drop` has stopped the child: field drop order.
    dir: tempfile::TempDir,
}

impl Registry {
    /// Start a registry on `127.0.0.1:<free port>` and wait until it answers.
    ///
    /// # Panics
    ///
    /// With an actionable message when the binary is missing, when it exits,
    /// or when it does not answer `GET /v2/` within 20 seconds (the message
    /// quotes the registry's log tail). Tests that need a registry must fail,
    /// never skip, when there is none.
    pub fn start() -> Registry {
        let bin = registry_bin();
        let dir = data_dir();
        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let addr = format!("127.0.0.1:{}", free_port());
            match try_start(&bin, dir.path(), &addr) {
                Ok(child) => {
                    return Registry {
                        child,
                        addr,
                        bin,
                        dir,
                    };
                }
                Err(Failure::PortTaken(log)) => last_log = log,
                Err(Failure::Fatal(msg)) => panic!("{msg}"),
            }
        }
        panic!(
            "docker-registry ({}) could not bind a free loopback port in {PORT_ATTEMPTS} attempts \
             (each time: address already in use). Last log:\n{}",
            bin.display(),
            tail(&last_log, 20)
        );
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A [`Seeder`] that pushes to this registry.
    pub fn seeder(&self) -> Seeder {
        Seeder::new(&self.url())
    }

    /// The registry process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The throw-away directory with `config.yml`, `registry.log` and `storage/`.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The registry binary that was started.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// Everything the registry logged so far (useful in assertion messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The `config.yml` this crate writes for a registry in `data_dir` listening on `addr`.
    pub fn config_yaml(data_dir: &Path, addr: &str) -> String {
        format!(
            "\
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: {addr}
  secret: tagwarden-testbed-secret-not-for-production
  draintimeout: 1s
  headers:
    X-Content-Type-Options: [nosniff]
catalog:
  maxentries: 1000
",
            storage = data_dir.join("storage").display()
        )
    }
}

impl Drop for Registry {
    /// SIGTERM, wait up to 3 s, then SIGKILL; always reap the child.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let pid = self.child.id() as libc::pid_t;
            // SAFETY: plain syscall; `pid` is our own unreaped child, so it
            // cannot have been recycled for another process.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline {
                match self.child.try_wait() {
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                    _ => return,
                }
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A loopback `127.0.0.1:PORT` where nothing listens, for "registry is down" tests.
///
/// The port was free a moment ago (we bound it and let it go); connections to
/// it are refused at once.
pub fn dead_addr() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// A fresh directory in RAM (`/dev/shm`) when there is one, else in `$TMPDIR`.
///
/// The registry's filesystem driver writes several small files per manifest
/// PUT; on a disk-backed ext4 that made seeding 2-5 times slower than on tmpfs.
fn data_dir() -> tempfile::TempDir {
    let mut builder = tempfile::Builder::new();
    builder.prefix("tagwarden-registry-");
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = builder.tempdir_in(shm)
    {
        return dir;
    }
    builder
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temporary directory for the registry: {e}"))
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0 to find a free port: {e}"));
    listener
        .local_addr()
        .expect("a bound listener has an address")
        .port()
}

fn registry_bin() -> PathBuf {
    resolve_bin(std::env::var_os(REGISTRY_BIN_ENV)).unwrap_or_else(|msg| panic!("{msg}"))
}

/// The binary to run given the value of [`REGISTRY_BIN_ENV`], or the panic message.
fn resolve_bin(env: Option<std::ffi::OsString>) -> Result<PathBuf, String> {
    let (bin, from_env) = match env {
        Some(v) if !v.is_empty() => (PathBuf::from(v), true),
        _ => (PathBuf::from(DEFAULT_REGISTRY_BIN), false),
    };
    if bin.is_file() {
        return Ok(bin);
    }
    Err(if from_env {
        format!(
            "docker-registry not found at {} (from ${REGISTRY_BIN_ENV}): point \
             {REGISTRY_BIN_ENV} at a CNCF distribution `registry` binary, or unset it to use \
             {DEFAULT_REGISTRY_BIN} (`apt-get install -y docker-registry`)",
            bin.display()
        )
    } else {
        format!(
            "docker-registry not found at {}: run `apt-get install -y docker-registry` \
             (or set {REGISTRY_BIN_ENV} to a CNCF distribution `registry` binary)",
            bin.display()
        )
    })
}

enum Failure {
    /// The port was taken between our probe and the registry's bind: retry.
    PortTaken(String),
    /// Anything else: give up with this message.
    Fatal(String),
}

fn try_start(bin: &Path, dir: &Path, addr: &str) -> Result<Child, Failure> {
    let config = dir.join("config.yml");
    let log_path = dir.join("registry.log");
    fs::create_dir_all(dir.join("storage"))
        .and_then(|()| fs::write(&config, Registry::config_yaml(dir, addr)))
        .map_err(|e| Failure::Fatal(format!("cannot write {}: {e}", config.display())))?;
    let log = File::create(&log_path)
        .map_err(|e| Failure::Fatal(format!("cannot create {}: {e}", log_path.display())))?;
    let log2 = log
        .try_clone()
        .map_err(|e| Failure::Fatal(format!("cannot dup the log file handle: {e}")))?;

    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .arg(&config)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    die_with_parent(&mut cmd);
    let mut child = spawn(cmd).map_err(|e| {
        Failure::Fatal(format!(
            "cannot run docker-registry at {}: {e}: run `apt-get install -y docker-registry` \
             (or set {REGISTRY_BIN_ENV})",
            bin.display()
        ))
    })?;

    let read_log = || fs::read_to_string(&log_path).unwrap_or_default();
    let listening = format!("listening on {addr}");
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let log = read_log();
                if log.contains("address already in use") {
                    return Err(Failure::PortTaken(log));
                }
                return Err(Failure::Fatal(format!(
                    "docker-registry ({}) exited with {status} before answering on \
                     http://{addr}/v2/. Log tail:\n{}",
                    bin.display(),
                    tail(&log, 20)
                )));
            }
            Ok(None) => {}
            Err(e) => return Err(Failure::Fatal(format!("waiting for docker-registry: {e}"))),
        }
        if read_log().contains(&listening) && probe_v2(addr) == Some(200) {
            return Ok(child);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Failure::Fatal(format!(
                "docker-registry ({}) did not answer GET http://{addr}/v2/ with 200 within {}s. \
                 Log tail:\n{}",
                bin.display(),
                START_TIMEOUT.as_secs(),
                tail(&read_log(), 20)
            )));
        }
        std::thread::sleep(Duration::from_millis(15));
    }
}

/// Make the kernel SIGKILL the child when the thread that spawned it exits.
fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and only makes
    // async-signal-safe syscalls (prctl, getppid); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect: then we
            // have been re-parented already and must not start at all.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

struct SpawnRequest {
    cmd: Command,
    reply: mpsc::Sender<io::Result<Child>>,
}

/// Spawn `cmd` from the process-lifetime spawner thread (see the module docs).
fn spawn(cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnRequest>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("tagwarden-testbed-spawner".into())
            .spawn(move || {
                for mut req in rx {
                    let _ = req.reply.send(req.cmd.spawn());
                }
            })
            .expect("cannot start the spawner thread");
        tx
    });
    let (reply, answer) = mpsc::channel();
    spawner
        .send(SpawnRequest { cmd, reply })
        .expect("the spawner thread never exits");
    answer.recv().expect("the spawner thread always answers")
}

/// `GET /v2/` over a raw socket; the HTTP status, or `None` if nothing answered.
///
/// A raw socket rather than an HTTP client keeps `start` free of any async
/// runtime, so it also works when called from inside one.
fn probe_v2(addr: &str) -> Option<u16> {
    let sock: SocketAddr = addr.parse().ok()?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET /v2/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    // "HTTP/1.1 200 OK"
    let head = std::str::from_utf8(&buf[..got]).ok()?;
    head.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    if all.is_empty() {
        "(empty log)".to_string()
    } else {
        all[start..].join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binary_message_is_actionable() {
        let msg = resolve_bin(Some("/nonexistent/registry".into())).unwrap_err();
        assert!(msg.contains("/nonexistent/registry"), "{msg}");
        assert!(msg.contains(REGISTRY_BIN_ENV), "{msg}");
        assert!(msg.contains("apt-get install -y docker-registry"), "{msg}");
        // empty means unset
        let default = resolve_bin(Some("".into()));
        match default {
            Ok(p) => assert_eq!(p, Path::new(DEFAULT_REGISTRY_BIN)),
            Err(msg) => assert!(msg.starts_with("docker-registry not found at /usr/bin/docker-registry: run `apt-get install -y docker-registry`"), "{msg}"),
        }
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("", 2), "(empty log)");
    }

    #[test]
    fn dead_addr_refuses_connections() {
        let addr: SocketAddr = dead_addr().parse().unwrap();
        assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
    }

    #[test]
    fn config_mentions_addr_and_storage() {
        let y = Registry::config_yaml(Path::new("/x"), "127.0.0.1:1234");
        assert!(y.contains("addr: 127.0.0.1:1234"));
        assert!(y.contains("rootdirectory: /x/storage"));
    }
}
