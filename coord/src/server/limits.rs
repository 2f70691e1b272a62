//! Limits at the edge of the network: connections per node and watches per connection.
//! (Requests per connection are HTTP/2's own concurrent-stream limit, set on the server;
//! request sizes are checked where requests are converted; forwarded writes in `forward`.)
//!
//! A connection over the limit is closed as soon as it is accepted, with a warning in the
//! node's log naming the flag: before the HTTP/2 handshake there is no way to send it a gRPC
//! status. A watch over its connection's limit is refused with `LimitReached`.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::error::CoordError;

/// An accepted connection holding its place under the node's connection limit until closed.
pub struct LimitedStream {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl Connected for LimitedStream {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Accepted connections, with Nagle's algorithm off (requests and Raft messages are small and
/// latency-bound; Nagle plus delayed ACKs would add ~40 ms to many of them — tonic's own
/// `tcp_nodelay` applies only to listeners it binds itself), at most `max` at once: one more
/// is closed at once and logged.
pub fn limited_incoming(listener: TcpListener, max: usize) -> impl Stream<Item = io::Result<LimitedStream>> {
    let slots = Arc::new(Semaphore::new(max));
    TcpListenerStream::new(listener).filter_map(move |accepted| {
        let slots = slots.clone();
        async move {
            let stream = match accepted {
                Ok(stream) => stream,
                Err(e) => return Some(Err(e)),
            };
            let Ok(slot) = slots.try_acquire_owned() else {
                let peer = stream.peer_addr().map_or_else(|_| "?".to_string(), |a| a.to_string());
                tracing::warn!(
                    %peer,
                    max,
                    "refused a connection: {max} connections are open (the node's --connections-max); close idle clients or raise it"
                );
                return None; // dropped: closed
            };
            if let Err(e) = stream.set_nodelay(true) {
                return Some(Err(e));
            }
            Some(Ok(LimitedStream { stream, _slot: slot }))
        }
    })
}

/// Watches open per connection (by the peer's address, which names one connection).
#[derive(Clone)]
pub struct WatchCounter {
    open: Arc<Mutex<HashMap<SocketAddr, usize>>>,
    max: usize,
}

/// One open watch; its connection's count goes down when it is dropped.
pub struct WatchSlot {
    counter: WatchCounter,
    peer: Option<SocketAddr>,
}

impl WatchCounter {
    /// A counter allowing `max` watches per connection.
    pub fn new(max: usize) -> Self {
        Self { open: Arc::default(), max }
    }

    /// Takes a place for one more watch on the connection from `peer`, or `LimitReached`.
    /// A request whose peer is unknown (not over TCP) is not counted.
    pub fn open(&self, peer: Option<SocketAddr>) -> Result<WatchSlot, CoordError> {
        if let Some(peer) = peer {
            let mut open = self.open.lock().expect("watch counter poisoned");
            let count = open.entry(peer).or_default();
            if *count >= self.max {
                return Err(CoordError::LimitReached {
                    what: "watches on this connection".into(),
                    max: self.max,
                    flag: "the node's --watches-per-connection-max".into(),
                    advice: "close watches you no longer need, watch a common prefix instead of many nodes, or open another connection".into(),
                });
            }
            *count += 1;
        }
        Ok(WatchSlot { counter: self.clone(), peer })
    }

    /// Watches open on the connection from `peer`.
    pub fn count(&self, peer: SocketAddr) -> usize {
        self.open.lock().expect("watch counter poisoned").get(&peer).copied().unwrap_or(0)
    }
}

impl Drop for WatchSlot {
    fn drop(&mut self) {
        if let Some(peer) = self.peer {
            let mut open = self.counter.open.lock().expect("watch counter poisoned");
            if let Some(count) = open.get_mut(&peer) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&peer);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_are_counted_per_connection_and_freed_when_dropped() {
        let counter = WatchCounter::new(2);
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:1001".parse().unwrap();
        let first = counter.open(Some(a)).unwrap();
        let _second = counter.open(Some(a)).unwrap();
        let refused = counter.open(Some(a)).err().expect("a third watch on one connection is refused");
        assert!(matches!(refused, CoordError::LimitReached { max: 2, .. }), "{refused}");
        assert!(refused.to_string().contains("--watches-per-connection-max"), "{refused}");
        let _other = counter.open(Some(b)).expect("another connection has its own limit");
        drop(first);
        assert_eq!(counter.count(a), 1);
        let _again = counter.open(Some(a)).expect("a freed place can be taken again");
        assert!(counter.open(None).is_ok(), "requests without a peer address are not counted");
    }
}
