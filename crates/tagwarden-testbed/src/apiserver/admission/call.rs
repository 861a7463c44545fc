//! One webhook call as kube-apiserver makes it: `POST` of the review to
//! `https://NAME.NAMESPACE.svc:PORT/PATH?timeout=Ns` (or the `url`), the
//! certificate verified against `caBundle` for the server name
//! `NAME.NAMESPACE.svc` (the `url`'s host), the whole exchange bounded by
//! `timeoutSeconds`. Errors read as Go's `net/http` ones, since kube's
//! messages quote them: `Post "https://…": dial tcp …: connect: connection
//! refused`, `… context deadline exceeded`, `tls: failed to verify
//! certificate: x509: certificate signed by unknown authority`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};

use super::config::{ClientConfig, Endpoint};

/// The largest webhook answer read.
const MAX_ANSWER: usize = 3 * 1024 * 1024;

/// Where a call goes: the URL as kube prints it, the TLS server name, and
/// the address to connect to (`None`: nothing listens there).
struct Destination {
    url: String,
    https: bool,
    server_name: String,
    host_header: String,
    path_and_query: String,
    addr: Option<SocketAddr>,
    /// How a refused connection names the address (`dial tcp ADDR`).
    dial: String,
}

/// Why a call failed, worded as kube's `ErrCallingWebhook` reasons.
pub(crate) type CallError = String;

/// `POST` `review` to the webhook; its answer as JSON. `route`: the address
/// a `service` endpoint reaches (`None`: nothing, connection refused).
pub(crate) async fn post(
    client: &ClientConfig,
    route: Option<SocketAddr>,
    timeout: Duration,
    review: &Value,
) -> Result<Value, CallError> {
    let dest = destination(client, route, timeout)?;
    let body = serde_json::to_vec(review).expect("a JSON value serializes");
    let exchange = exchange(client, &dest, body);
    let answer = match tokio::time::timeout(timeout, exchange).await {
        Err(_) => Err("context deadline exceeded".to_string()),
        Ok(r) => r,
    }
    .map_err(|why| format!("failed to call webhook: Post \"{}\": {why}", dest.url))?;
    let (status, bytes) = answer;
    if !(200..300).contains(&status) {
        let text = String::from_utf8_lossy(&bytes).trim().to_string();
        let shown = if text.is_empty() {
            "unknown".to_string()
        } else {
            text
        };
        return Err(format!(
            "failed to call webhook: an error on the server ({shown:?}) has prevented the \
             request from succeeding (status {status})"
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("received invalid webhook response: {e}"))
}

fn destination(
    client: &ClientConfig,
    route: Option<SocketAddr>,
    timeout: Duration,
) -> Result<Destination, CallError> {
    let query = format!("timeout={}s", timeout.as_secs().max(1));
    match &client.endpoint {
        Endpoint::Service {
            namespace,
            name,
            path,
            port,
        } => {
            let host = format!("{name}.{namespace}.svc");
            let path_and_query = format!("{}?{query}", if path.is_empty() { "/" } else { path });
            Ok(Destination {
                url: format!("https://{host}:{port}{path}?{query}"),
                https: true,
                server_name: host.clone(),
                host_header: format!("{host}:{port}"),
                path_and_query,
                addr: route,
                dial: format!("{host}:{port}"),
            })
        }
        Endpoint::Url(text) => {
            let mut url = url::Url::parse(text)
                .map_err(|e| format!("failed to call webhook: bad url {text:?}: {e}"))?;
            let joined = match url.query() {
                Some(q) if !q.is_empty() => format!("{q}&{query}"),
                _ => query,
            };
            url.set_query(Some(&joined));
            let host = url.host_str().unwrap_or_default().to_string();
            let port = url.port_or_known_default().unwrap_or(443);
            let addr = url
                .socket_addrs(|| Some(port))
                .ok()
                .and_then(|a| a.into_iter().next());
            let path_and_query = format!("{}?{}", url.path(), url.query().unwrap_or_default());
            Ok(Destination {
                https: url.scheme() == "https",
                server_name: host.trim_matches(['[', ']']).to_string(),
                host_header: url[url::Position::BeforeHost..url::Position::AfterPort].to_string(),
                dial: addr.map_or(host.clone(), |a| a.to_string()),
                url: url.to_string(),
                path_and_query,
                addr,
            })
        }
    }
}

/// Connect, (TLS), `POST`, read: the status and the body.
async fn exchange(
    client: &ClientConfig,
    dest: &Destination,
    body: Vec<u8>,
) -> Result<(u16, Bytes), String> {
    let refused = || format!("dial tcp {}: connect: connection refused", dest.dial);
    let addr = dest.addr.ok_or_else(refused)?;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => refused(),
            _ => format!("dial tcp {}: {e}", dest.dial),
        })?;
    let _ = tcp.set_nodelay(true);
    if !dest.https {
        return send(tcp, dest, body).await;
    }
    let name = ServerName::try_from(dest.server_name.clone())
        .map_err(|e| format!("invalid server name {:?}: {e}", dest.server_name))?;
    let tls = tokio_rustls::TlsConnector::from(tls_config(client.ca_pem.as_deref())?)
        .connect(name, tcp)
        .await
        .map_err(|e| tls_error(&e))?;
    send(tls, dest, body).await
}

async fn send<S>(stream: S, dest: &Destination, body: Vec<u8>) -> Result<(u16, Bytes), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = hyper::Request::post(dest.path_and_query.as_str())
        .header(header::HOST, dest.host_header.as_str())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, */*")
        .header(header::USER_AGENT, "kube-apiserver-admission")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| {
        if e.is_incomplete_message() || e.is_closed() {
            "EOF".to_string()
        } else {
            e.to_string()
        }
    })?;
    let status = resp.status().as_u16();
    let bytes = Limited::new(resp.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?
        .to_bytes();
    Ok((status, bytes))
}

/// Trust exactly `ca_pem` (no system roots in this test bed).
fn tls_config(ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = ca_pem {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("unable to load root certificates: {e}"))?;
        if certs.is_empty() {
            return Err("unable to load root certificates: no certificates found".into());
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("unable to load root certificates: {e}"))?;
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("aws-lc-rs supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A handshake error as Go's `crypto/tls` and `crypto/x509` word it.
fn tls_error(e: &std::io::Error) -> String {
    use rustls::CertificateError as C;
    let Some(rustls::Error::InvalidCertificate(cert)) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return match e.kind() {
            std::io::ErrorKind::UnexpectedEof => "EOF".to_string(),
            _ => format!("remote error: tls: {e}"),
        };
    };
    let x509 = match cert {
        // A CA of the same name that did not sign it is still unknown to Go.
        C::UnknownIssuer | C::BadSignature => "certificate signed by unknown authority".to_string(),
        C::NotValidForNameContext {
            expected,
            presented,
        } => {
            // webpki shows them as `DnsName("a.b")`; Go lists the DNS names.
            let names: Vec<&str> = presented
                .iter()
                .filter_map(|p| p.strip_prefix("DnsName(\"")?.strip_suffix("\")"))
                .collect();
            match names.is_empty() {
                true => format!(
                    "certificate is not valid for any names, but wanted to match {}",
                    expected.to_str()
                ),
                false => format!(
                    "certificate is valid for {}, not {}",
                    names.join(", "),
                    expected.to_str()
                ),
            }
        }
        C::NotValidForName => "certificate is not valid for the requested name".to_string(),
        C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. } => {
            "certificate has expired or is not yet valid".to_string()
        }
        other => format!("{other:?}"),
    };
    format!("tls: failed to verify certificate: x509: {x509}")
}
