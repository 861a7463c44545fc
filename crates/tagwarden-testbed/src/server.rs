//! Plumbing shared by the in-process HTTP servers of this crate
//! ([`crate::PagingProxy`], [`crate::FaultProxy`], [`crate::TokenServer`], [`crate::CaptureServer`]).
//!
//! Each server binds a loopback port *before* its constructor returns (so it
//! accepts connections at once and the port cannot be stolen), then serves
//! HTTP/1.1 with hyper on its own thread with its own single-threaded tokio
//! runtime. That makes them usable from plain `#[test]` functions and from
//! inside other runtimes alike. Dropping the handle stops the accept loop,
//! drops the runtime (which cancels open connections) and joins the thread,
//! so the port refuses connections once `drop` returns.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr, TcpListener as StdTcpListener};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// Boxed error of a response body.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Every response body of these servers.
pub(crate) type Body = BoxBody<Bytes, BoxError>;

/// The outcome of a handler: an answer, or "drop the connection without one".
pub(crate) type Outcome = Result<Response<Body>, Abort>;

/// Returned by a handler to make hyper close the connection without writing a
/// response (hyper does that whenever a service fails).
#[derive(Debug)]
pub(crate) struct Abort;

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection aborted on purpose by the tagwarden test bed")
    }
}

impl std::error::Error for Abort {}

/// The connection a request arrived on.
#[derive(Clone, Copy)]
pub(crate) struct Conn {
    fd: RawFd,
}

impl Conn {
    /// Arrange for the coming close of this connection to be a TCP reset
    /// (`SO_LINGER` with a zero timeout makes `close` send RST instead of FIN),
    /// and return the [`Abort`] that makes hyper close it.
    pub(crate) fn reset(self) -> Abort {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: `fd` is the socket of the connection whose request is being
        // handled right now; hyper owns it until the handler's future returns,
        // so it is open. The option value is a valid `linger` of the right size.
        unsafe {
            libc::setsockopt(
                self.fd,
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
        Abort
    }
}

/// What a server does with each request.
pub(crate) trait Handler: Send + Sync + 'static {
    fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        conn: Conn,
    ) -> impl Future<Output = Outcome> + Send;
}

/// A server's accept loop running on its own thread with its own single-threaded tokio
/// runtime; dropping it signals shutdown and joins the thread, so the listener is closed
/// (and every open connection dropped with the runtime) once `drop` returns. Shared by
/// [`Server`] and the test API server.
pub(crate) struct ServerThread {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Run `serve(listener, shutdown)` on a thread named after `what` and the address.
    pub(crate) fn spawn<F, Fut>(what: &str, listener: StdTcpListener, serve: F) -> ServerThread
    where
        F: FnOnce(StdTcpListener, tokio::sync::oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        listener
            .set_nonblocking(true)
            .expect("set_nonblocking on a fresh listener");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let name = what.to_string();
        let thread = std::thread::Builder::new()
            .name(format!("tagwarden-{what}-{addr}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap_or_else(|e| panic!("{name}: cannot build a tokio runtime: {e}"));
                rt.block_on(serve(listener, rx));
            })
            .unwrap_or_else(|e| panic!("{what}: cannot spawn its thread: {e}"));
        ServerThread {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// The address the listener is bound to.
    pub(crate) fn socket_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            // A panic on the server thread was already printed; don't panic in drop.
            let _ = t.join();
        }
    }
}

/// A running server; stops when dropped.
pub(crate) struct Server {
    thread: ServerThread,
}

impl Server {
    /// Bind `ip:0` and serve `handler` there. `what` names the server in
    /// thread names and panic messages.
    pub(crate) fn start<H: Handler>(what: &str, ip: IpAddr, handler: Arc<H>) -> Server {
        let listener = StdTcpListener::bind((ip, 0)).unwrap_or_else(|e| {
            panic!(
                "{what}: cannot bind {ip}:0: {e} (addresses other than 127.0.0.1 in \
                 127.0.0.0/8 need Linux, where the whole range is on `lo`)"
            )
        });
        Server {
            thread: ServerThread::spawn(what, listener, move |listener, shutdown| {
                serve(listener, handler, shutdown)
            }),
        }
    }

    /// `IP:PORT` (IPv6 in brackets).
    pub(crate) fn addr(&self) -> String {
        self.thread.socket_addr().to_string()
    }
}

async fn serve<H: Handler>(
    listener: StdTcpListener,
    handler: Arc<H>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let listener =
        tokio::net::TcpListener::from_std(listener).expect("registering a test-bed listener");
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        eprintln!("tagwarden-testbed server: accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let conn = Conn { fd: stream.as_raw_fd() };
                let handler = Arc::clone(&handler);
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        Arc::clone(&handler).handle(req, conn)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }
    }
    // Returning drops the runtime, which cancels open connections.
}

/// Headers that describe one connection, not the message: never forwarded.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(name);
    }
}

pub(crate) fn full_body(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// An answer with `status`, a JSON body and `Content-Type: application/json`.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let body = serde_json::to_vec(value).expect("a JSON value serializes");
    let mut resp = Response::new(full_body(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// A Distribution-style error answer: `{"errors":[{"code","message"}]}`.
pub(crate) fn dist_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    json(
        status,
        &serde_json::json!({ "errors": [{ "code": code, "message": message }] }),
    )
}

/// `(user, password)` of a well-formed `Authorization: Basic …` header;
/// `Some(Err(()))` for a Basic header that does not decode; `None` for none.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    Some(match decoded.as_deref().and_then(|s| s.split_once(':')) {
        Some((u, p)) => Ok((u.to_string(), p.to_string())),
        None => Err(()),
    })
}

/// `Authorization: Basic base64(user:password)`.
pub(crate) fn basic_header(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}
