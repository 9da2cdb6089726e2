//! What keeps `lookout serve` up under slow and hostile clients: a connection limit, and idle
//! timeouts on every connection's reads and writes (so a client that stops sending, or stops
//! reading its answer, lets go of its connection). Header-read and body timeouts are set on
//! hyper and in the app.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_io_timeout::TimeoutStream;

/// Limits on connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections served at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// A connection with no read or write progress for this long is closed.
    pub idle: Duration,
    /// The time a client has to send a request's headers.
    pub headers: Duration,
}

impl ConnectionLimits {
    /// `lookout serve`'s limits unless its flags say otherwise.
    pub const DEFAULT: Self = Self {
        max_connections: 512,
        idle: Duration::from_secs(30),
        headers: Duration::from_secs(10),
    };
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// An acceptor that admits up to the limit and puts idle timeouts on each connection.
#[derive(Clone)]
pub struct Guard {
    permits: Arc<Semaphore>,
    idle: Duration,
}

impl Guard {
    /// A guard for `limits`.
    pub fn new(limits: &ConnectionLimits) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            idle: limits.idle,
        }
    }
}

impl<S> Accept<TcpStream, S> for Guard {
    type Stream = Guarded;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Guarded, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            tracing::warn!("connection limit reached; closing a new connection");
            return std::future::ready(Err(io::Error::other("connection limit reached")));
        };
        let _ = stream.set_nodelay(true);
        let mut io = TimeoutStream::new(stream);
        io.set_read_timeout(Some(self.idle));
        io.set_write_timeout(Some(self.idle));
        std::future::ready(Ok((
            Guarded {
                io: Box::pin(io),
                _permit: permit,
            },
            service,
        )))
    }
}

/// A connection holding its place under the limit until it closes.
pub struct Guarded {
    io: Pin<Box<TimeoutStream<TcpStream>>>,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_shutdown(cx)
    }
}
