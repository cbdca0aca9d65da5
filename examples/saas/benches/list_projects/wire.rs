//! A TCP proxy in front of PostgreSQL that counts two of the server's
//! messages: ReadyForQuery ('Z'), which ends every exchange the client
//! waited for (a round trip), and CommandComplete ('C'), one per statement
//! run. Connect through it with TLS off: it reads the server's messages.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Round trips and statements seen so far, on every connection.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    ready: AtomicU64,
    complete: AtomicU64,
}

impl Counts {
    /// `(round trips, statements)`.
    pub(crate) fn read(&self) -> (u64, u64) {
        (
            self.ready.load(Ordering::SeqCst),
            self.complete.load(Ordering::SeqCst),
        )
    }
}

/// The running proxy; stops accepting when dropped.
pub(crate) struct MessageCounter {
    pub(crate) port: u16,
    pub(crate) counts: Arc<Counts>,
    accept: tokio::task::JoinHandle<()>,
}

impl MessageCounter {
    /// Listens on an ephemeral port of 127.0.0.1, forwarding to `upstream`.
    pub(crate) async fn start(upstream: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let counts = Arc::new(Counts::default());
        let shared = counts.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counts = shared.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        let _ = relay(client, server, counts).await;
                    }
                });
            }
        });
        Ok(Self {
            port,
            counts,
            accept,
        })
    }
}

impl Drop for MessageCounter {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Copies both ways; the server's side is split into messages (a type
/// byte, then a big-endian length that counts itself) as it passes.
async fn relay(client: TcpStream, server: TcpStream, counts: Arc<Counts>) -> io::Result<()> {
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let upstream =
        tokio::spawn(async move { tokio::io::copy(&mut from_client, &mut to_server).await });
    let mut unparsed: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while let n @ 1.. = from_server.read(&mut chunk).await? {
        unparsed.extend_from_slice(&chunk[..n]);
        let mut at = 0;
        while let Some(header) = unparsed.get(at..at + 5) {
            let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
            if unparsed.len() < at + 1 + len {
                break;
            }
            match header[0] {
                b'Z' => counts.ready.fetch_add(1, Ordering::SeqCst),
                b'C' => counts.complete.fetch_add(1, Ordering::SeqCst),
                _ => 0,
            };
            at += 1 + len;
        }
        unparsed.drain(..at);
        to_client.write_all(&chunk[..n]).await?;
    }
    upstream.abort();
    Ok(())
}
