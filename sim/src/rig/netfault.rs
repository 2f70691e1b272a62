//! A fault-injecting TCP proxy, for partitions between real processes on one machine.
//!
//! This kernel has neither netem nor iptables, so, like etcd's test proxy, faults are injected
//! by a small proxy on each link: a process dials the proxy, and the proxy relays to the real
//! address, doing to the bytes of each direction what it is told:
//! - `Pass`: relay at once;
//! - `Delay(d)`: relay every chunk `d` late (in order);
//! - `Hold`: keep the bytes, and deliver them all when the link passes again — what TCP does
//!   across a partition that heals before the connection times out;
//! - `Drop`: discard the bytes (the stream is then corrupt: only for chaos);
//! - `Cut`: close every connection and refuse new ones.
//!
//! Directions are set separately, so a link can be cut one way only.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a link does to the bytes of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Relay at once.
    Pass,
    /// Relay every chunk this much later.
    Delay(Duration),
    /// Keep the bytes; deliver them when the mode changes back.
    Hold,
    /// Discard the bytes.
    Drop,
    /// Close connections and refuse new ones.
    Cut,
}

/// One proxied link: clients dial [`FaultProxy::addr`], the proxy dials the target.
pub struct FaultProxy {
    addr: SocketAddr,
    to_target: watch::Sender<Mode>,
    to_client: watch::Sender<Mode>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port, relaying to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (to_target, _) = watch::channel(Mode::Pass);
        let (to_client, _) = watch::channel(Mode::Pass);
        let accept = tokio::spawn(accept_loop(listener, target, to_target.subscribe(), to_client.subscribe()));
        Ok(Self { addr, to_target, to_client, accept })
    }

    /// The address to dial instead of the target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sets both directions.
    pub fn set(&self, mode: Mode) {
        self.to_target.send_replace(mode);
        self.to_client.send_replace(mode);
    }

    /// Sets the direction towards the target only.
    pub fn set_to_target(&self, mode: Mode) {
        self.to_target.send_replace(mode);
    }

    /// Sets the direction back to the dialling side only.
    pub fn set_to_client(&self, mode: Mode) {
        self.to_client.send_replace(mode);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.set(Mode::Cut);
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    to_target: watch::Receiver<Mode>,
    to_client: watch::Receiver<Mode>,
) {
    while let Ok((inbound, _)) = listener.accept().await {
        if *to_target.borrow() == Mode::Cut || *to_client.borrow() == Mode::Cut {
            continue; // refused: the connection is dropped at once
        }
        let (to_target, to_client) = (to_target.clone(), to_client.clone());
        tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(target).await else { return };
            let _ = (inbound.set_nodelay(true), outbound.set_nodelay(true));
            let (in_read, in_write) = inbound.into_split();
            let (out_read, out_write) = outbound.into_split();
            tokio::join!(pump(in_read, out_write, to_target), pump(out_read, in_write, to_client));
        });
    }
}

/// Relays one direction according to its mode until either side closes or the link is cut.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut held: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let current = *mode.borrow_and_update();
        if current == Mode::Cut {
            return; // dropping both halves closes the connection
        }
        if current != Mode::Hold && !held.is_empty() {
            if to.write_all(&held).await.is_err() {
                return;
            }
            held.clear();
        }
        tokio::select! {
            read = from.read(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => {
                        let _ = to.shutdown().await;
                        return;
                    }
                    Ok(n) => n,
                };
                let mode_now = *mode.borrow();
                let written = match mode_now {
                    Mode::Pass => to.write_all(&buf[..n]).await,
                    Mode::Delay(delay) => {
                        tokio::time::sleep(delay).await;
                        to.write_all(&buf[..n]).await
                    }
                    Mode::Hold => {
                        held.extend_from_slice(&buf[..n]);
                        Ok(())
                    }
                    Mode::Drop => Ok(()),
                    Mode::Cut => return,
                };
                if written.is_err() {
                    return;
                }
            }
            changed = mode.changed() => if changed.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream, message: &[u8], wait: Duration) -> Option<Vec<u8>> {
        stream.write_all(message).await.ok()?;
        let mut buf = vec![0u8; message.len()];
        match tokio::time::timeout(wait, stream.read_exact(&mut buf)).await {
            Ok(Ok(_)) => Some(buf),
            _ => None,
        }
    }

    #[tokio::test]
    async fn passes_holds_delivers_late_and_cuts() {
        let proxy = FaultProxy::start(echo_server().await).await.unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut stream, b"one", Duration::from_secs(2)).await.as_deref(), Some(&b"one"[..]));

        proxy.set_to_client(Mode::Hold); // one way: the reply is held
        assert_eq!(
            round_trip(&mut stream, b"two", Duration::from_millis(200)).await,
            None,
            "held bytes must not arrive"
        );
        proxy.set(Mode::Pass);
        let mut late = [0u8; 3];
        tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut late)).await.unwrap().unwrap();
        assert_eq!(&late, b"two", "held bytes arrive once the link heals");

        proxy.set(Mode::Cut);
        let mut buf = [0u8; 1];
        let closed = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await.unwrap();
        assert!(matches!(closed, Ok(0) | Err(_)), "a cut closes the connection");
        let mut fresh = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(
            round_trip(&mut fresh, b"x", Duration::from_millis(300)).await,
            None,
            "a cut link refuses new connections"
        );

        proxy.set(Mode::Delay(Duration::from_millis(100)));
        let mut again = TcpStream::connect(proxy.addr()).await.unwrap();
        let started = std::time::Instant::now();
        assert_eq!(round_trip(&mut again, b"slow", Duration::from_secs(2)).await.as_deref(), Some(&b"slow"[..]));
        assert!(started.elapsed() >= Duration::from_millis(200), "delayed both ways");
    }
}
