//! A real registry process: Debian's `docker-registry` (CNCF distribution 2.8)
//! on a free loopback port with a throw-away filesystem store, in one of the
//! three ways registries are met in the wild ([`RegistryMode`]).
//!
//! # How the registry is configured
//!
//! [`Registry::start`] creates a [`tempfile::TempDir`] (in `/dev/shm` when it
//! exists: the registry writes many small files and tmpfs makes seeding several
//! times faster than ext4) and writes `config.yml` into it (see
//! [`Registry::config_yaml`] for the exact text of plain mode, and
//! [`Registry::config`] for what a running registry got):
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
//! # The three modes
//!
//! - [`RegistryMode::Plain`]: the above. Like a local mirror or a CI registry.
//! - [`RegistryMode::Htpasswd`]: HTTPS and HTTP Basic auth, like a private
//!   Harbor, Nexus or Artifactory behind a company CA. A fresh CA and a server
//!   certificate for `127.0.0.1`, `::1` and `localhost` are made in memory
//!   (`rcgen` on aws-lc-rs, no `openssl` process); the CA is written to
//!   `<tempdir>/ca/ca.crt` ([`Registry::ca_cert_path`], alone in its directory
//!   so that [`Registry::ca_cert_dir`] works as `skopeo --cert-dir`), the
//!   server certificate and key to `<tempdir>/certs/`, and `http.tls` points at them;
//!   `auth.htpasswd` points at `<tempdir>/auth/htpasswd`, one bcrypt line for
//!   [`Registry::credentials`] (bcrypt cost 4, the minimum: the registry checks
//!   the hash on *every* request, and the default cost would make seeding
//!   hundreds of times slower). Every request without valid credentials gets
//!   `401` with `WWW-Authenticate: Basic realm="tagwarden-testbed"`.
//! - [`RegistryMode::Token`]: plain HTTP and `auth.token`, like Docker Hub,
//!   GHCR or Quay. The registry answers `401` with a `Bearer` challenge whose
//!   realm is a [`TokenServer`] of this crate (its own port, its own thread;
//!   [`Registry::token_server`]), and trusts the JWTs it signs through
//!   `rootcertbundle`. [`crate::token`] explains the flow and what is granted.
//!
//! [`Registry::seeder`] returns a [`Seeder`] that authenticates as each mode
//! requires, so [`crate::seed_standard`] works in all three.
//!
//! # Choosing the port
//!
//! We bind `127.0.0.1:0`, read the port the kernel chose and drop the listener,
//! then hand the port to the registry. Another process may grab the port in
//! between; the registry then dies with `bind: address already in use` and we
//! retry with a new port (a few attempts). "Ready" means all of: the child is
//! alive, its log says `listening on 127.0.0.1:<port>` (proof that *our* process
//! owns the port, not some other server that won the race) and `GET /v2/`
//! answers as the mode should: 200 in plain mode, 401 with auth (over TLS
//! verified with the fresh CA in htpasswd mode).
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
//! The in-process servers ([`TokenServer`], [`crate::FaultProxy`], …) are
//! threads, so they die with the process anyway.
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
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::token::{DEFAULT_PASSWORD, DEFAULT_USERNAME, TokenServer, TokenServerConfig};
use crate::{Seeder, tls};

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
/// bcrypt cost of the htpasswd line (4 is the minimum; see the module docs).
const BCRYPT_COST: u32 = 4;
/// The `realm` of the registry's Basic challenge in htpasswd mode.
pub const HTPASSWD_REALM: &str = "tagwarden-testbed";

/// How a [`Registry`] authenticates clients (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum RegistryMode {
    /// Plain HTTP, no auth.
    #[default]
    Plain,
    /// HTTPS with a fresh test CA, and HTTP Basic auth from an htpasswd file.
    Htpasswd,
    /// Plain HTTP, and Bearer tokens from this crate's [`TokenServer`].
    Token,
}

/// Options for [`Registry::builder`]; [`RegistryBuilder::start`] runs it.
#[derive(Clone, Debug)]
pub struct RegistryBuilder {
    mode: RegistryMode,
    username: String,
    password: String,
    anonymous_pull: bool,
    token_expires_in: u64,
    refresh_token: Option<String>,
    extra_users: Vec<(String, String)>,
}

impl Default for RegistryBuilder {
    fn default() -> Self {
        RegistryBuilder {
            mode: RegistryMode::Plain,
            username: DEFAULT_USERNAME.to_string(),
            password: DEFAULT_PASSWORD.to_string(),
            anonymous_pull: true,
            token_expires_in: TokenServerConfig::default().expires_in,
            refresh_token: None,
            extra_users: Vec::new(),
        }
    }
}

impl RegistryBuilder {
    /// The mode (default [`RegistryMode::Plain`]).
    pub fn mode(mut self, mode: RegistryMode) -> Self {
        self.mode = mode;
        self
    }

    /// The one user (default `testuser` / `testpassword`). Must not contain
    /// `:` (Basic auth and htpasswd split there) or a line break.
    pub fn credentials(mut self, username: &str, password: &str) -> Self {
        assert!(
            !username.is_empty() && !username.contains([':', '\n', '\r']),
            "user name {username:?} must be non-empty and free of ':' and line breaks"
        );
        assert!(
            !password.contains(['\n', '\r']),
            "the password must be free of line breaks"
        );
        self.username = username.to_string();
        self.password = password.to_string();
        self
    }

    /// Htpasswd mode: more users, each with their own password, besides the one of
    /// [`RegistryBuilder::credentials`] (to test many distinct credentials against one
    /// registry). Same rules as there for names and passwords.
    pub fn extra_users<I, U, P>(mut self, users: I) -> Self
    where
        I: IntoIterator<Item = (U, P)>,
        U: Into<String>,
        P: Into<String>,
    {
        for (username, password) in users {
            let (username, password) = (username.into(), password.into());
            assert!(
                !username.is_empty() && !username.contains([':', '\n', '\r']),
                "user name {username:?} must be non-empty and free of ':' and line breaks"
            );
            assert!(
                !password.contains(['\n', '\r']),
                "the password must be free of line breaks"
            );
            self.extra_users.push((username, password));
        }
        self
    }

    /// Token mode: whether anonymous callers get `pull` (default `true`).
    pub fn anonymous_pull(mut self, on: bool) -> Self {
        self.anonymous_pull = on;
        self
    }

    /// Token mode: `expires_in` of the tokens, in seconds (default 300).
    pub fn token_expires_in(mut self, seconds: u64) -> Self {
        self.token_expires_in = seconds;
        self
    }

    /// Token mode: a fixed refresh token the token server accepts for the
    /// user (e.g. to write into a Docker `config.json` as `identitytoken`).
    pub fn refresh_token(mut self, token: &str) -> Self {
        self.refresh_token = Some(token.to_string());
        self
    }

    /// Start the registry (and, in token mode, its token server first).
    ///
    /// # Panics
    ///
    /// As [`Registry::start`].
    pub fn start(self) -> Registry {
        Registry::launch(self)
    }
}

/// A running, empty registry. Dropping it stops the process and deletes its storage.
///
/// ```no_run
/// let registry = tagwarden_testbed::Registry::start();
/// let seeded = tagwarden_testbed::seed_standard(&registry);
/// println!("{} has clastix/kubectl:v1.31 = {}", registry.url(),
///          seeded.digest("clastix/kubectl", "v1.31"));
/// ```
///
/// With auth:
///
/// ```no_run
/// use tagwarden_testbed::{Registry, RegistryMode, seed_standard};
///
/// let registry = Registry::start_with(RegistryMode::Htpasswd);
/// seed_standard(&registry); // the seeder logs in by itself
/// let (user, password) = registry.credentials();
/// let ca = registry.ca_cert_path().unwrap(); // trust this to reach registry.url()
/// # let _ = (user, password, ca);
/// ```
pub struct Registry {
    child: Child,
    addr: String,
    bin: PathBuf,
    mode: RegistryMode,
    credentials: (String, String),
    ca_cert: Option<PathBuf>,
    token_server: Option<TokenServer>,
    // Dropped after `Drop::drop` has stopped the child: field drop order.
    dir: tempfile::TempDir,
}

/// What `GET /v2/` must answer for the registry to count as ready.
struct Probe {
    tls: Option<Arc<rustls::ClientConfig>>,
    status: u16,
}

impl Registry {
    /// Start a plain-HTTP registry without auth on `127.0.0.1:<free port>`
    /// and wait until it answers.
    ///
    /// # Panics
    ///
    /// With an actionable message when the binary is missing, when it exits,
    /// or when it does not answer `GET /v2/` within 20 seconds (the message
    /// quotes the registry's log tail). Tests that need a registry must fail,
    /// never skip, when there is none.
    pub fn start() -> Registry {
        Registry::builder().start()
    }

    /// Start a registry in `mode` with the default user (see [`Registry::credentials`]).
    ///
    /// # Panics
    ///
    /// As [`Registry::start`].
    pub fn start_with(mode: RegistryMode) -> Registry {
        Registry::builder().mode(mode).start()
    }

    /// Options beyond the mode: credentials, token server behaviour.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    fn launch(opts: RegistryBuilder) -> Registry {
        let bin = registry_bin();
        let dir = data_dir();
        let mut token_server = None;
        let mut ca_cert = None;
        let (extra, probe) = match opts.mode {
            RegistryMode::Plain => (
                Extra::default(),
                Probe {
                    tls: None,
                    status: 200,
                },
            ),
            RegistryMode::Htpasswd => {
                let (extra, ca) = write_htpasswd_mode(dir.path(), &opts);
                let config = tls::client_config(Some(&ca));
                ca_cert = Some(ca);
                (
                    extra,
                    Probe {
                        tls: Some(Arc::new(config)),
                        status: 401,
                    },
                )
            }
            RegistryMode::Token => {
                let server = TokenServer::start(TokenServerConfig {
                    username: opts.username.clone(),
                    password: opts.password.clone(),
                    anonymous_pull: opts.anonymous_pull,
                    expires_in: opts.token_expires_in,
                    refresh_token: opts.refresh_token.clone(),
                    ..TokenServerConfig::default()
                });
                let extra = Extra {
                    tls: String::new(),
                    auth: format!(
                        "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    \
                         rootcertbundle: {}\n",
                        server.realm(),
                        server.service(),
                        server.issuer(),
                        server.signer_cert_path().display()
                    ),
                };
                token_server = Some(server);
                (
                    extra,
                    Probe {
                        tls: None,
                        status: 401,
                    },
                )
            }
        };
        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let addr = format!("127.0.0.1:{}", free_port());
            match try_start(&bin, dir.path(), &addr, &extra, &probe) {
                Ok(child) => {
                    return Registry {
                        child,
                        addr,
                        bin,
                        mode: opts.mode,
                        credentials: (opts.username, opts.password),
                        ca_cert,
                        token_server,
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

    /// The mode it was started in.
    pub fn mode(&self) -> RegistryMode {
        self.mode
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `http://127.0.0.1:PORT`, or `https://127.0.0.1:PORT` in htpasswd mode.
    pub fn url(&self) -> String {
        match self.mode {
            RegistryMode::Htpasswd => format!("https://{}", self.addr),
            RegistryMode::Plain | RegistryMode::Token => format!("http://{}", self.addr),
        }
    }

    /// `(user, password)` the registry (htpasswd mode) or its token server
    /// (token mode) accepts; default `testuser` / `testpassword`. A plain
    /// registry accepts everyone and ignores them.
    pub fn credentials(&self) -> (String, String) {
        self.credentials.clone()
    }

    /// The PEM file of the CA that signed the registry's certificate
    /// (htpasswd mode); `None` for the plain-HTTP modes.
    pub fn ca_cert_path(&self) -> Option<&Path> {
        self.ca_cert.as_deref()
    }

    /// The directory that holds only [`Registry::ca_cert_path`] as `ca.crt`:
    /// the layout of Docker's `/etc/docker/certs.d/HOST:PORT/` and of
    /// `skopeo --cert-dir` (htpasswd mode; `None` otherwise).
    pub fn ca_cert_dir(&self) -> Option<&Path> {
        self.ca_cert.as_deref().and_then(Path::parent)
    }

    /// The token server (token mode only).
    pub fn token_server(&self) -> Option<&TokenServer> {
        self.token_server.as_ref()
    }

    /// A [`Seeder`] that pushes to this registry: it trusts the CA and logs in
    /// (Basic in htpasswd mode, tokens for `pull,push` in token mode).
    pub fn seeder(&self) -> Seeder {
        self.seeder_for(&self.url())
    }

    /// A [`Seeder`] with this registry's CA and credentials that pushes
    /// through `base_url`, e.g. a [`crate::FaultProxy`] or
    /// [`crate::PagingProxy`] in front of it.
    pub fn seeder_for(&self, base_url: &str) -> Seeder {
        let mut builder = Seeder::builder(base_url);
        if let Some(ca) = &self.ca_cert {
            builder = builder.ca_cert(ca);
        }
        if self.mode != RegistryMode::Plain {
            builder = builder.credentials(&self.credentials.0, &self.credentials.1);
        }
        builder.build()
    }

    /// The registry process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The throw-away directory with `config.yml`, `registry.log`, `storage/`
    /// (and `ca/`, `certs/`, `auth/` in htpasswd mode).
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

    /// The `config.yml` the registry runs with.
    pub fn config(&self) -> String {
        fs::read_to_string(self.dir.path().join("config.yml")).unwrap_or_default()
    }

    /// The `config.yml` this crate writes for a plain registry in `data_dir`
    /// listening on `addr`.
    pub fn config_yaml(data_dir: &Path, addr: &str) -> String {
        config_text(data_dir, addr, &Extra::default())
    }
}

/// The mode-specific parts of `config.yml`.
#[derive(Default)]
struct Extra {
    /// Lines inside `http:` (indented by two).
    tls: String,
    /// A top-level `auth:` section.
    auth: String,
}

fn config_text(data_dir: &Path, addr: &str, extra: &Extra) -> String {
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
{tls}{auth}catalog:
  maxentries: 1000
",
        storage = data_dir.join("storage").display(),
        tls = extra.tls,
        auth = extra.auth,
    )
}

/// Write the CA, the server certificate and the htpasswd file into `dir`;
/// returns the config parts and the CA path.
fn write_htpasswd_mode(dir: &Path, opts: &RegistryBuilder) -> (Extra, PathBuf) {
    let write = |path: &Path, text: &str| {
        if let Some(parent) = path.parent() {
            let _ = fs::create_dir_all(parent);
        }
        fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    };
    let pki = tls::ServerPki::generate();
    // The CA gets a directory of its own: containers/image (skopeo) reads
    // every `*.key` in a `--cert-dir` as a client key, so the server key
    // must not sit next to it.
    let certs = dir.join("certs");
    let (ca, cert, key) = (
        dir.join("ca").join("ca.crt"),
        certs.join("server.crt"),
        certs.join("server.key"),
    );
    write(&ca, &pki.ca_cert_pem);
    write(&cert, &pki.server_cert_pem);
    write(&key, &pki.server_key_pem);
    let mut lines = String::new();
    let users = std::iter::once((&opts.username, &opts.password))
        .chain(opts.extra_users.iter().map(|(u, p)| (u, p)));
    for (username, password) in users {
        let hash = bcrypt::hash(password, BCRYPT_COST)
            .unwrap_or_else(|e| panic!("cannot bcrypt the test password: {e}"));
        lines.push_str(&format!("{username}:{hash}\n"));
    }
    let htpasswd = dir.join("auth").join("htpasswd");
    write(&htpasswd, &lines);
    let extra = Extra {
        tls: format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            cert.display(),
            key.display()
        ),
        auth: format!(
            "auth:\n  htpasswd:\n    realm: {HTPASSWD_REALM}\n    path: {}\n",
            htpasswd.display()
        ),
    };
    (extra, ca)
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
/// The port is held by a socket that is bound but never listens, kept open for the rest
/// of the process: connections to it are refused at once, and no other server (of this
/// test binary, or of a test binary running beside it) can take the port over and
/// answer in its place, as a port that was merely "free a moment ago" could.
pub fn dead_addr() -> String {
    format!("127.0.0.1:{}", held_dead_port())
}

/// Bind a TCP socket to `127.0.0.1:0` without `listen`, leak it, and return its port.
fn held_dead_port() -> u16 {
    // SAFETY: plain socket calls on a descriptor this function owns; every result is
    // checked, and the address structs are fully initialised before use.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
        addr.sin_port = 0;
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let bound = libc::bind(fd, (&raw const addr).cast::<libc::sockaddr>(), len);
        assert!(
            bound == 0,
            "bind 127.0.0.1:0: {}",
            io::Error::last_os_error()
        );
        let mut out: libc::sockaddr_in = std::mem::zeroed();
        let mut out_len = len;
        let named = libc::getsockname(fd, (&raw mut out).cast::<libc::sockaddr>(), &mut out_len);
        assert!(named == 0, "getsockname: {}", io::Error::last_os_error());
        // Never closed: the port stays reserved, and refusing, until the process ends.
        u16::from_be(out.sin_port)
    }
}

/// A fresh directory in RAM (`/dev/shm`) when there is one, else in `$TMPDIR`.
///
/// The registry's filesystem driver writes several small files per manifest
/// PUT; on a disk-backed ext4 that made seeding 2-5 times slower than on tmpfs.
fn data_dir() -> tempfile::TempDir {
    scratch_dir("tagwarden-registry-")
}

/// A fresh directory named `<prefix>…` in `/dev/shm` when possible, else in `$TMPDIR`.
///
/// Each directory records its owner (this process's pid and start time). A registry kept
/// for a whole test binary (a `static`) is never dropped, so its directory outlives the
/// process; the first directory a later process creates sweeps away those whose owner is
/// gone, so `/dev/shm` (RAM) does not fill up over many test runs.
pub(crate) fn scratch_dir(prefix: &str) -> tempfile::TempDir {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir()
        && let Ok(dir) = builder.tempdir_in(shm)
    {
        dir
    } else {
        builder
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory for the test bed: {e}"))
    };
    if let Some(me) = process_identity(std::process::id()) {
        let _ = std::fs::write(dir.path().join(OWNER_FILE), me);
    }
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| {
        if let Some(parent) = dir.path().parent() {
            sweep_orphans(parent);
        }
    });
    dir
}

const OWNER_FILE: &str = ".tagwarden-testbed-owner";

/// `PID STARTTIME` of a live process (start time from `/proc/PID/stat`, so a reused pid
/// does not count as the same owner).
fn process_identity(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it are plain.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let start_time = after_name.split_whitespace().nth(19)?;
    Some(format!("{pid} {start_time}"))
}

/// Remove test bed directories whose owning process has exited.
fn sweep_orphans(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with("tagwarden-registry-") && !name.starts_with("tagwarden-token-") {
            continue;
        }
        let Ok(owner) = std::fs::read_to_string(entry.path().join(OWNER_FILE)) else {
            continue; // not ours to judge
        };
        let pid = owner
            .split_whitespace()
            .next()
            .and_then(|p| p.parse::<u32>().ok());
        let alive = pid
            .and_then(process_identity)
            .is_some_and(|now| now == owner.trim());
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

pub(crate) fn free_port() -> u16 {
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

fn try_start(
    bin: &Path,
    dir: &Path,
    addr: &str,
    extra: &Extra,
    probe: &Probe,
) -> Result<Child, Failure> {
    let config = dir.join("config.yml");
    let log_path = dir.join("registry.log");
    fs::create_dir_all(dir.join("storage"))
        .and_then(|()| fs::write(&config, config_text(dir, addr, extra)))
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

    let scheme = if probe.tls.is_some() { "https" } else { "http" };
    let read_log = || fs::read_to_string(&log_path).unwrap_or_default();
    let listening = format!("listening on {addr}");
    let deadline = Instant::now() + START_TIMEOUT;
    let mut last_probe = String::from("not probed yet: the log never said `listening on`");
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let log = read_log();
                if log.contains("address already in use") {
                    return Err(Failure::PortTaken(log));
                }
                return Err(Failure::Fatal(format!(
                    "docker-registry ({}) exited with {status} before answering on \
                     {scheme}://{addr}/v2/. Log tail:\n{}",
                    bin.display(),
                    tail(&log, 20)
                )));
            }
            Ok(None) => {}
            Err(e) => return Err(Failure::Fatal(format!("waiting for docker-registry: {e}"))),
        }
        if read_log().contains(&listening) {
            match probe_v2(addr, probe.tls.as_ref()) {
                Ok(status) if status == probe.status => return Ok(child),
                Ok(status) => last_probe = format!("GET /v2/ answered {status}"),
                Err(e) => last_probe = e,
            }
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Failure::Fatal(format!(
                "docker-registry ({}) did not answer GET {scheme}://{addr}/v2/ with {} within \
                 {}s (last probe: {last_probe}). Log tail:\n{}",
                bin.display(),
                probe.status,
                START_TIMEOUT.as_secs(),
                tail(&read_log(), 20)
            )));
        }
        std::thread::sleep(Duration::from_millis(15));
    }
}

/// Make the kernel SIGKILL the child when the thread that spawned it exits.
pub(crate) fn die_with_parent(cmd: &mut Command) {
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
pub(crate) fn spawn(cmd: Command) -> io::Result<Child> {
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

/// `GET /v2/` over a raw socket (through rustls when `tls` is given); the
/// HTTP status, or why there was none.
///
/// A blocking socket rather than an HTTP client keeps `start` free of any
/// async runtime, so it also works when called from inside one.
fn probe_v2(addr: &str, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<u16, String> {
    let sock: SocketAddr = addr
        .parse()
        .map_err(|e| format!("bad address {addr}: {e}"))?;
    let tcp = TcpStream::connect_timeout(&sock, Duration::from_millis(500))
        .map_err(|e| format!("connect: {e}"))?;
    let timeout = Some(Duration::from_secs(2));
    tcp.set_read_timeout(timeout)
        .and_then(|()| tcp.set_write_timeout(timeout))
        .map_err(|e| format!("socket timeouts: {e}"))?;
    match tls {
        None => http_status(tcp, addr),
        Some(config) => {
            let name = rustls::pki_types::ServerName::IpAddress(sock.ip().into());
            let conn = rustls::ClientConnection::new(Arc::clone(config), name)
                .map_err(|e| format!("TLS setup: {e}"))?;
            http_status(rustls::StreamOwned::new(conn, tcp), addr)
                .map_err(|e| format!("{e} (over TLS, verified with the test CA)"))
        }
    }
}

fn http_status(mut s: impl Read + Write, addr: &str) -> Result<u16, String> {
    write!(
        s,
        "GET /v2/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .and_then(|()| s.flush())
    .map_err(|e| format!("write: {e}"))?;
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        match s.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    // "HTTP/1.1 200 OK"
    let head = String::from_utf8_lossy(&buf[..got]);
    head.strip_prefix("HTTP/1.")
        .and_then(|h| h.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {head:?}"))
}

pub(crate) fn tail(text: &str, lines: usize) -> String {
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
