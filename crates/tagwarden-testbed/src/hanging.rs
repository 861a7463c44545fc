//! [`HangingServer`]: a host that accepts TCP connections and never answers.
//!
//! The worst registry to meet is not one that is down (connections are refused at once,
//! see [`crate::dead_addr`]) but one that is hung: the kernel completes the handshake, the
//! request is sent, and nothing ever comes back. Every request then costs a full timeout.
//! This server is exactly that. It accepts every connection on a loopback port and keeps
//! it open without reading or writing a byte, until the handle is dropped.
//!
//! It is bounded: at most [`HangingServer::MAX_CONNECTIONS`] connections are held (later
//! ones are accepted and closed at once), and dropping the handle closes them all, stops
//! the accept thread and joins it, so the port refuses connections once `drop` returns.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A loopback server that accepts connections and never answers; see the [module
/// docs](self).
pub struct HangingServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

impl HangingServer {
    /// Most connections held open at once.
    pub const MAX_CONNECTIONS: usize = 1024;

    /// Start on a free `127.0.0.1` port. Panics when no port can be bound.
    pub fn start() -> HangingServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, accepted, open) = (stop.clone(), accepted.clone(), open.clone());
            std::thread::Builder::new()
                .name("hanging-server".into())
                .spawn(move || accept_loop(listener, &stop, &accepted, &open))
                .expect("spawn the accept thread")
        };
        HangingServer {
            addr,
            stop,
            accepted,
            open,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`, as a registry address in an image reference.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Accept until told to stop, polling every few milliseconds (the listener is
/// non-blocking, so stopping needs no wake-up connection).
fn accept_loop(
    listener: TcpListener,
    stop: &AtomicBool,
    accepted: &AtomicUsize,
    open: &Mutex<Vec<TcpStream>>,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                accepted.fetch_add(1, Ordering::SeqCst);
                let mut open = open.lock().expect("hanging server poisoned");
                if open.len() < HangingServer::MAX_CONNECTIONS {
                    open.push(stream);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

impl Drop for HangingServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.open.lock().map(|mut open| open.clear()).ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn accepts_and_never_answers_then_stops_on_drop() {
        let server = HangingServer::start();
        let addr = server.addr();
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream
            .write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 16];
        let err = stream.read(&mut buf).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{err:?}"
        );
        // The accept thread polls; give it a moment to count the connection.
        for _ in 0..100 {
            if server.connections() >= 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(server.connections(), 1);
        drop(server);
        assert!(TcpStream::connect(&addr).is_err(), "the port still accepts");
    }
}
