//! [`ConnectProxy`]: a real forward proxy on loopback, as a company's egress proxy is met.
//!
//! One port speaks the three protocols clients use to go through a proxy:
//!
//! - **HTTP `CONNECT host:port`**: a TCP tunnel (what every client does for an `https://`
//!   URL through an `http://` proxy: the proxy sees the host name, never the TLS inside);
//! - **plain HTTP in absolute form** (`GET http://host:port/path HTTP/1.1`): what clients
//!   send for an `http://` URL; the request is passed on in origin form;
//! - **SOCKS5** (no authentication, `CONNECT` only), with the host name sent to the proxy
//!   (`socks5://` in kubeconfig `proxy-url`, as Go and kube-rs use it).
//!
//! It **resolves names itself**: the test names of [`crate::TEST_HOST_NAMES`]
//! (`kubernetes.tagwarden.test`, `registry.tagwarden.test`) and `localhost` are
//! `127.0.0.1`; a loopback IP is itself. Those names resolve nowhere else, so a client
//! that reached a server by one of them went through the proxy. Every other destination
//! (a public name, a non-loopback IP) is refused: `403` for HTTP, reply code `2`
//! ("connection not allowed by ruleset") for SOCKS5. Nothing leaves the machine.
//!
//! Every request it forwarded (or refused) is logged ([`ConnectProxy::requests`]), with
//! whether it carried an `Authorization` header (a proxy must never see a registry's or
//! cluster's credentials through a `CONNECT` tunnel).
//!
//! Threads, std networking, no runtime: it works under plain `#[test]` functions. It stops
//! accepting when dropped (open tunnels end when either side closes).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::tls::TEST_HOST_NAMES;

/// How a client asked the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyProtocol {
    /// `CONNECT host:port` (a tunnel).
    Connect,
    /// A plain HTTP request in absolute form.
    Http,
    /// SOCKS5 `CONNECT`.
    Socks5,
}

/// One request the proxy received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxiedRequest {
    /// How it was asked.
    pub protocol: ProxyProtocol,
    /// `host:port` as the client named it (`kubernetes.tagwarden.test:40123`).
    pub target: String,
    /// For plain HTTP: `GET /v2/`; empty otherwise.
    pub request_line: String,
    /// Whether the request the proxy could read had an `Authorization` header.
    pub authorization: bool,
    /// Whether it was forwarded (false: refused, or the upstream did not answer).
    pub forwarded: bool,
}

/// A running forward proxy; see the [module docs](self). Stops on drop.
pub struct ConnectProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<ProxiedRequest>>>,
    thread: Option<JoinHandle<()>>,
}

impl ConnectProxy {
    /// Start on a free `127.0.0.1` port. Panics when no port can be bound.
    pub fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, log) = (stop.clone(), log.clone());
            std::thread::Builder::new()
                .name("connect-proxy".into())
                .spawn(move || accept_loop(&listener, &stop, &log))
                .expect("spawn the proxy's accept thread")
        };
        ConnectProxy {
            addr,
            stop,
            log,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, for `HTTPS_PROXY` or a kubeconfig `proxy-url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `socks5://127.0.0.1:PORT`, for a kubeconfig `proxy-url`.
    pub fn socks5_url(&self) -> String {
        format!("socks5://{}", self.addr)
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<ProxiedRequest> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The `host:port` of every forwarded request, in order.
    pub fn targets(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.forwarded)
            .map(|r| r.target)
            .collect()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Log = Mutex<Vec<ProxiedRequest>>;

fn accept_loop(listener: &TcpListener, stop: &AtomicBool, log: &Arc<Log>) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let log = log.clone();
                let _ = stream.set_nonblocking(false);
                std::thread::spawn(move || {
                    let _ = serve(stream, &log);
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Where a name goes: the test names and `localhost` to 127.0.0.1, loopback IPs to
/// themselves; `None` (refused) for everything else.
fn resolve(host: &str) -> Option<IpAddr> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let lower = host.to_ascii_lowercase();
    if lower == "localhost" || TEST_HOST_NAMES.contains(&lower.as_str()) {
        return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    host.parse::<IpAddr>().ok().filter(IpAddr::is_loopback)
}

/// `host:port` split at the last colon (IPv6 in brackets keeps its colons).
fn split_target(target: &str, default_port: u16) -> (String, u16) {
    if let Some((host, port)) = target.rsplit_once(':')
        && !host.ends_with(':')
        && let Ok(port) = port.parse()
    {
        return (host.to_string(), port);
    }
    (target.to_string(), default_port)
}

fn connect(host: &str, port: u16) -> Option<TcpStream> {
    let ip = resolve(host)?;
    TcpStream::connect_timeout(&SocketAddr::new(ip, port), Duration::from_secs(5)).ok()
}

fn record(log: &Log, request: ProxiedRequest) {
    log.lock().unwrap_or_else(|e| e.into_inner()).push(request);
}

fn serve(client: TcpStream, log: &Log) -> std::io::Result<()> {
    let mut first = [0u8; 1];
    if client.peek(&mut first)? == 0 {
        return Ok(());
    }
    if first[0] == 5 {
        return socks5(client, log);
    }
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let end = line == "\r\n" || line == "\n";
        head.push(line);
        if end {
            break;
        }
    }
    let request_line = head[0].trim_end().to_string();
    let mut parts = request_line.split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let authorization = head
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("authorization:"));
    if method == "CONNECT" {
        let (host, port) = split_target(target, 443);
        let upstream = connect(&host, port);
        record(
            log,
            ProxiedRequest {
                protocol: ProxyProtocol::Connect,
                target: target.to_string(),
                request_line: String::new(),
                authorization,
                forwarded: upstream.is_some(),
            },
        );
        let mut client = client;
        let Some(upstream) = upstream else {
            client.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")?;
            return Ok(());
        };
        client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
        // Bytes the reader already buffered belong to the tunnel.
        let buffered = reader.buffer().to_vec();
        return pipe(client, upstream, &buffered);
    }
    forward_http(client, reader, head, method, target, authorization, log)
}

/// A plain HTTP request in absolute form: sent on in origin form, `Connection: close`.
fn forward_http(
    mut client: TcpStream,
    reader: BufReader<TcpStream>,
    head: Vec<String>,
    method: &str,
    target: &str,
    authorization: bool,
    log: &Log,
) -> std::io::Result<()> {
    let rest = target.strip_prefix("http://").unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = split_target(authority, 80);
    let upstream = if authority.is_empty() {
        None
    } else {
        connect(&host, port)
    };
    record(
        log,
        ProxiedRequest {
            protocol: ProxyProtocol::Http,
            target: format!("{host}:{port}"),
            request_line: format!("{method} {path}"),
            authorization,
            forwarded: upstream.is_some(),
        },
    );
    let Some(mut upstream) = upstream else {
        client.write_all(
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return Ok(());
    };
    let mut out = format!("{method} {path} HTTP/1.1\r\n");
    for header in &head[1..head.len() - 1] {
        let lower = header.to_ascii_lowercase();
        if lower.starts_with("proxy-") || lower.starts_with("connection:") {
            continue;
        }
        out.push_str(header.trim_end());
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    upstream.write_all(out.as_bytes())?;
    let buffered = reader.buffer().to_vec();
    pipe(client, upstream, &buffered)
}

/// SOCKS5 without authentication, `CONNECT` only (RFC 1928).
fn socks5(mut client: TcpStream, log: &Log) -> std::io::Result<()> {
    let mut greeting = [0u8; 2];
    client.read_exact(&mut greeting)?;
    let mut methods = vec![0u8; usize::from(greeting[1])];
    client.read_exact(&mut methods)?;
    if !methods.contains(&0) {
        client.write_all(&[5, 0xff])?;
        return Ok(());
    }
    client.write_all(&[5, 0])?;
    let mut request = [0u8; 4];
    client.read_exact(&mut request)?;
    let host = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip)?;
            Ipv4Addr::from(ip).to_string()
        }
        3 => {
            let mut length = [0u8; 1];
            client.read_exact(&mut length)?;
            let mut name = vec![0u8; usize::from(length[0])];
            client.read_exact(&mut name)?;
            String::from_utf8_lossy(&name).into_owned()
        }
        4 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip)?;
            format!("[{}]", std::net::Ipv6Addr::from(ip))
        }
        _ => return Ok(()),
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port)?;
    let port = u16::from_be_bytes(port);
    let upstream = if request[1] == 1 {
        connect(&host, port)
    } else {
        None
    };
    record(
        log,
        ProxiedRequest {
            protocol: ProxyProtocol::Socks5,
            target: format!("{host}:{port}"),
            request_line: String::new(),
            authorization: false,
            forwarded: upstream.is_some(),
        },
    );
    let Some(upstream) = upstream else {
        // 2: connection not allowed by ruleset.
        client.write_all(&[5, 2, 0, 1, 0, 0, 0, 0, 0, 0])?;
        return Ok(());
    };
    client.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0])?;
    pipe(client, upstream, &[])
}

/// Copies both ways until each side has closed; `early` goes upstream first.
fn pipe(client: TcpStream, mut upstream: TcpStream, early: &[u8]) -> std::io::Result<()> {
    if !early.is_empty() {
        upstream.write_all(early)?;
    }
    let (mut client_read, mut upstream_write) = (client.try_clone()?, upstream.try_clone()?);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut upstream_write);
        let _ = upstream_write.shutdown(Shutdown::Write);
    });
    let (mut upstream_read, mut client_write) = (upstream, client);
    let _ = std::io::copy(&mut upstream_read, &mut client_write);
    let _ = client_write.shutdown(Shutdown::Write);
    let _ = up.join();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_test_names_and_loopback_resolve() {
        assert_eq!(
            resolve("kubernetes.tagwarden.test"),
            Some(Ipv4Addr::LOCALHOST.into())
        );
        assert_eq!(resolve("127.0.0.1"), Some(Ipv4Addr::LOCALHOST.into()));
        assert_eq!(resolve("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(resolve("example.com"), None);
        assert_eq!(resolve("10.0.0.1"), None);
    }

    #[test]
    fn a_connect_tunnel_reaches_a_test_name_and_is_logged() {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = echo.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = echo.accept().unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).unwrap();
            s.write_all(&buf).unwrap();
        });
        let proxy = ConnectProxy::start();
        let mut c = TcpStream::connect(proxy.addr()).unwrap();
        write!(
            c,
            "CONNECT registry.tagwarden.test:{port} HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(c.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{line}");
        reader.read_line(&mut line).unwrap();
        c.write_all(b"ping").unwrap();
        let mut back = [0u8; 4];
        reader.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"ping");
        assert_eq!(proxy.targets(), [format!("registry.tagwarden.test:{port}")]);
        let mut refused = TcpStream::connect(proxy.addr()).unwrap();
        write!(refused, "CONNECT example.com:443 HTTP/1.1\r\n\r\n").unwrap();
        let mut answer = String::new();
        BufReader::new(refused).read_line(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    }
}
