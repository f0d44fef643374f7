//! nap's transport for bollard (`Docker::connect_with_custom_transport`): each request gets its
//! own HTTP/1 connection (a Unix socket, plain TCP, or TLS trusting only the configured CA),
//! read through a [`CountedStream`] that fails the request once the answer passes the bound
//! [`limits::answer_limit`] chose for its path. A hostile or broken daemon that streams an
//! endless container listing thus ends in an error naming the request and the bound, not in
//! an out-of-memory kill. Connection upgrades (exec, attach) are kept.
//!
//! This module carries bytes; it knows nothing of what the requests mean.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bollard::{BollardRequest, errors::Error as BollardError};
use hyper::body::Incoming;
use hyper::{Response, Uri};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use super::limits;

/// Where and how to dial the daemon.
#[derive(Clone)]
pub enum Dialer {
    /// A Unix socket.
    Unix(PathBuf),
    /// Plain TCP (`tcp://`, unauthenticated).
    Tcp {
        /// Address or name.
        host: String,
        /// Port.
        port: u16,
    },
    /// TLS over TCP (`https://`), with a configuration from [`super::tls::client_config`].
    Tls {
        /// Address or name, also the name the daemon's certificate must hold.
        host: String,
        /// Port.
        port: u16,
        /// Only the inventory's CA as roots; nap's client certificate.
        config: Arc<ClientConfig>,
    },
}

impl Dialer {
    /// The `Host` header sent with each request.
    fn host_header(&self) -> String {
        match self {
            Dialer::Unix(_) => "docker".to_string(),
            Dialer::Tcp { host, port } | Dialer::Tls { host, port, .. } => {
                if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                }
            }
        }
    }

    async fn dial(&self) -> io::Result<Box<dyn Stream>> {
        match self {
            Dialer::Unix(path) => Ok(Box::new(UnixStream::connect(path).await.map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot connect to {}: {e}", path.display()),
                )
            })?)),
            Dialer::Tcp { host, port } => {
                let stream = connect_tcp(host, *port).await?;
                Ok(Box::new(stream))
            }
            Dialer::Tls { host, port, config } => {
                let name = ServerName::try_from(host.clone()).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidInput, format!("{host:?}: {e}"))
                })?;
                let stream = connect_tcp(host, *port).await?;
                let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
                let stream = connector.connect(name, stream).await.map_err(|e| {
                    io::Error::new(e.kind(), format!("tls handshake with {host}:{port}: {e}"))
                })?;
                Ok(Box::new(stream))
            }
        }
    }
}

/// How long a TCP connection to a daemon may take to open: an address that does not answer
/// (a host that is gone, a stale inventory) fails in seconds, naming itself.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A TCP connection to `host:port`, within [`CONNECT_TIMEOUT`], errors naming the address.
async fn connect_tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let connecting = TcpStream::connect((host, port));
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot connect to {host}:{port}: {e}"),
            ));
        }
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "cannot connect to {host}:{port}: no answer within {} s (is the address right and the host up?)",
                    CONNECT_TIMEOUT.as_secs()
                ),
            ));
        }
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// A byte stream nap can speak HTTP over.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// A stream that fails reading once more than `limit` bytes came in.
pub struct CountedStream {
    inner: Box<dyn Stream>,
    read: u64,
    limit: Option<u64>,
    request: String,
}

impl CountedStream {
    /// Wraps `inner`; `request` (`GET /containers/json`) names the request in the error.
    pub fn new(inner: Box<dyn Stream>, limit: Option<u64>, request: String) -> CountedStream {
        CountedStream {
            inner,
            read: 0,
            limit,
            request,
        }
    }
}

impl AsyncRead for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(limit) = self.limit
            && self.read > limit
        {
            return Poll::Ready(Err(io::Error::other(format!(
                "the daemon's answer to {} is larger than {}, nap's bound for it",
                self.request,
                limits::describe_bytes(limit)
            ))));
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            let n = (buf.filled().len() - before) as u64;
            self.read = self.read.saturating_add(n);
            if let Some(limit) = self.limit
                && self.read > limit
            {
                return Poll::Ready(Err(io::Error::other(format!(
                    "the daemon's answer to {} is larger than {}, nap's bound for it",
                    self.request,
                    limits::describe_bytes(limit)
                ))));
            }
        }
        result
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The transport handed to bollard.
#[derive(Clone)]
pub struct NapTransport {
    dialer: Arc<Dialer>,
    /// Whether container archives are bounded or streamed.
    archives: limits::Archives,
}

impl NapTransport {
    /// A transport dialling with `dialer`.
    pub fn new(dialer: Dialer) -> NapTransport {
        NapTransport {
            dialer: Arc::new(dialer),
            archives: limits::Archives::Bounded,
        }
    }

    /// The transport with container archives streamed, unbounded (`nap cp`).
    pub fn streaming_archives(mut self) -> NapTransport {
        self.archives = limits::Archives::Streamed;
        self
    }

    /// Sends one request on a new connection.
    pub fn send(
        &self,
        request: BollardRequest,
    ) -> impl Future<Output = Result<Response<Incoming>, BollardError>> + Send + use<> {
        let dialer = Arc::clone(&self.dialer);
        let archives = self.archives;
        async move {
            let (mut parts, body) = request.into_parts();
            let path_and_query = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".to_string());
            let limit = limits::answer_limit_with(&parts.method, parts.uri.path(), archives);
            let description = format!("{} {}", parts.method, parts.uri.path());
            // Origin form on the wire, as the Docker CLI sends it.
            parts.uri = path_and_query.parse::<Uri>().map_err(BollardError::from)?;
            let host_header = dialer.host_header();
            parts.headers.insert(
                hyper::header::HOST,
                host_header
                    .parse()
                    .map_err(|e: hyper::header::InvalidHeaderValue| {
                        BollardError::from(io::Error::new(io::ErrorKind::InvalidInput, e))
                    })?,
            );
            let stream = dialer.dial().await?;
            let stream = CountedStream::new(stream, limit, description);
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                if let Err(error) = connection.with_upgrades().await {
                    tracing::debug!(%error, "docker connection ended");
                }
            });
            let request = BollardRequest::from_parts(parts, body);
            Ok(sender.send_request(request).await?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_names_the_address() {
        // A port nothing listens on, on loopback: refused at once.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let error = connect_tcp("127.0.0.1", port).await.unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with(&format!("cannot connect to 127.0.0.1:{port}: ")),
            "{error}"
        );
    }
}
