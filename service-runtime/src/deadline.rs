//! An accepted connection that ends by itself at a deadline: how the
//! grace after `--max-connection-age` is enforced (see
//! [`crate::limits::Limits::apply`] for why not by tonic).
//!
//! tonic sends the GOAWAY at the age; the streams still open then drain.
//! If some are still open at age + grace, the next read or write of the
//! connection fails, hyper drops it, and the socket closes: the client's
//! streams end with UNAVAILABLE and the server's sessions end as they do
//! when a client vanishes (their tasks see the stream broken).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// A TCP connection that fails every read and write once its deadline has
/// passed (never, without one).
#[derive(Debug)]
pub struct Deadlined {
    io: TcpStream,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl Deadlined {
    /// `io`, ending `lifetime` from now if given.
    pub fn new(io: TcpStream, lifetime: Option<Duration>) -> Self {
        Self {
            io,
            deadline: lifetime.map(|d| Box::pin(tokio::time::sleep(d))),
        }
    }

    /// Err once the deadline has passed; else registers for its wake-up,
    /// so that even an idle connection is closed at the deadline (hyper
    /// always has a read pending on it).
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.deadline.as_mut().map(|d| d.as_mut().poll(cx)) {
            Some(Poll::Ready(())) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the connection's maximum age and grace are over",
            )),
            _ => Ok(()),
        }
    }
}

impl AsyncRead for Deadlined {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Deadlined {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl Connected for Deadlined {
    type ConnectInfo = TcpConnectInfo;

    /// The TCP addresses, so that `Request::remote_addr` still works.
    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}
