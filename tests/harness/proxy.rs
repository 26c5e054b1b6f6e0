//! A TCP proxy between the ORM and a database server, run on the test's own
//! runtime, for the cancellation and failure tests.
//!
//! Two uses:
//!
//! * **Every round trip is an await point.** On loopback a server may answer
//!   before the client's first read, so a statement can complete in a
//!   single poll and a test that cancels "at every poll" would never cancel
//!   it mid-flight. Bytes through this proxy are forwarded by tasks of the
//!   same current-thread runtime as the test, which can only run when the
//!   test's future is pending: every reply reaches the client strictly
//!   after it has waited for it at least once.
//! * **Connections can be cut** at any moment ([`Proxy::sever`]), the way a
//!   network failure or a server restart cuts them (the server sees the
//!   client go away and rolls back).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// A running proxy; stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    /// Reads from clients, each forwarded to the server as one write.
    sends: Arc<AtomicUsize>,
    pumps: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target` (host:port).
    pub async fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let pumps: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let target = target.to_string();
        let registry = pumps.clone();
        let sends: Arc<AtomicUsize> = Arc::default();
        let counter = sends.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&target).await else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                let up = tokio::spawn(pump(cr, sw, Some(counter.clone())));
                let down = tokio::spawn(pump(sr, cw, None));
                let mut list = registry.lock().unwrap();
                list.retain(|h| !h.is_finished());
                list.push(up.abort_handle());
                list.push(down.abort_handle());
            }
        })
        .abort_handle();
        Proxy {
            addr,
            sends,
            pumps,
            accept,
        }
    }

    /// `host:port` clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many times a client sent bytes to the server so far. A client
    /// that waits for each reply sends once per round trip, so the
    /// difference over a run of statements counts their round trips (a
    /// ping on each checkout or return would double it).
    pub fn sends(&self) -> usize {
        self.sends.load(Ordering::SeqCst)
    }

    /// Cuts every connection open through the proxy now (new ones still work).
    pub fn sever(&self) -> usize {
        let list = std::mem::take(&mut *self.pumps.lock().unwrap());
        let live = list.iter().filter(|h| !h.is_finished()).count();
        for h in list {
            h.abort();
        }
        live / 2
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.sever();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    sends: Option<Arc<AtomicUsize>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Some(c) = &sends {
                    c.fetch_add(1, Ordering::SeqCst);
                }
                // Let the other side's task run first: the bytes are
                // delivered at the next turn of the runtime at the soonest.
                tokio::task::yield_now().await;
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

/// `url` with its host and port replaced by the proxy's.
pub fn through(url: &str, proxy: &Proxy) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[scheme_end..];
    let host_start = rest.find('@').map_or(0, |i| i + 1);
    let host_end = rest[host_start..]
        .find(['/', '?'])
        .map_or(rest.len(), |i| host_start + i);
    format!(
        "{}{}{}{}",
        &url[..scheme_end],
        &rest[..host_start],
        proxy.addr(),
        &rest[host_end..]
    )
}

/// The `host:port` of a server URL.
pub fn host_port(url: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[scheme_end..];
    let host_start = rest.find('@').map_or(0, |i| i + 1);
    let host_end = rest[host_start..]
        .find(['/', '?'])
        .map_or(rest.len(), |i| host_start + i);
    rest[host_start..host_end].to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_are_rewritten_to_the_proxy() {
        assert_eq!(
            super::host_port("postgres://postgres@127.0.0.1:5432/test?options[x]=y"),
            "127.0.0.1:5432"
        );
        assert_eq!(
            super::host_port("mysql://root@127.0.0.1:3306/t_1"),
            "127.0.0.1:3306"
        );
    }
}
