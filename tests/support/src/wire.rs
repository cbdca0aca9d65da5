//! A TCP proxy in front of PostgreSQL that counts round trips: every
//! ReadyForQuery ('Z') message the server sends ends one exchange in which
//! the client waited for the server; and statements: one CommandComplete
//! ('C') per statement run. Used by tests and the benchmarks to count both
//! exactly instead of inferring them from timings.
//!
//! Connect through it with TLS off (`PgSslMode::Disable`): the proxy reads
//! the server's messages, so they must be plaintext.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The running proxy; stops accepting when dropped.
#[derive(Debug)]
pub struct RoundTripProxy {
    addr: SocketAddr,
    counts: Arc<Counts>,
    accept: tokio::task::JoinHandle<()>,
}

/// What the proxy has seen, on every connection.
#[derive(Debug, Default)]
struct Counts {
    ready: AtomicU64,
    complete: AtomicU64,
}

impl RoundTripProxy {
    /// Listens on an ephemeral port of 127.0.0.1 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(Counts::default());
        let counter = counts.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        let _ = forward(client, server, counter).await;
                    }
                });
            }
        });
        Ok(Self {
            addr,
            counts,
            accept,
        })
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// ReadyForQuery messages seen so far, on all connections.
    pub fn round_trips(&self) -> u64 {
        self.counts.ready.load(Ordering::SeqCst)
    }

    /// CommandComplete messages (statements run) seen so far.
    pub fn statements(&self) -> u64 {
        self.counts.complete.load(Ordering::SeqCst)
    }
}

impl Drop for RoundTripProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn forward(client: TcpStream, server: TcpStream, counts: Arc<Counts>) -> io::Result<()> {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream =
        tokio::spawn(async move { tokio::io::copy(&mut client_read, &mut server_write).await });
    // Server messages: a type byte, then a big-endian length that counts
    // itself but not the type byte.
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = server_read.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        let mut at = 0;
        while pending.len() - at >= 5 {
            let len = u32::from_be_bytes([
                pending[at + 1],
                pending[at + 2],
                pending[at + 3],
                pending[at + 4],
            ]) as usize;
            if pending.len() - at < 1 + len {
                break;
            }
            match pending[at] {
                b'Z' => counts.ready.fetch_add(1, Ordering::SeqCst),
                b'C' => counts.complete.fetch_add(1, Ordering::SeqCst),
                _ => 0,
            };
            at += 1 + len;
        }
        pending.drain(..at);
        client_write.write_all(&buf[..n]).await?;
    }
    upstream.abort();
    Ok(())
}
