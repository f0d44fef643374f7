//! nap's Docker clients: every `bollard::Docker` nap uses comes from [`connect`], which
//! builds it on nap's own transport ([`transport`]) instead of bollard's built-in ones, so that
//!
//! - an `https://` daemon is trusted only if its certificate chains to the inventory's
//!   `tls.ca` (no system or webpki roots), with nap's client certificate presented ([`tls`]);
//! - every answer nap buffers is bounded by size, chosen by request path, while the streamed
//!   ones (image export/import, events, logs, exec) stay streamed ([`limits`]);
//! - the local default daemon follows the Docker CLI's conventions (`DOCKER_HOST`,
//!   `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`, `DOCKER_CONTEXT`, `currentContext`)
//!   ([`endpoint`]).
//!
//! [`api`] is the seam the host actor talks through: the Docker calls it makes as a trait
//! ([`DockerApi`]), over bollard ([`BollardDocker`]) or over an in-memory recording fake
//! ([`fake`], in the crate's tests and with the `fakes` feature).
//!
//! This module does not read a host's state (that is `observe`) and does no SSH.

pub mod api;
pub mod connect;
pub mod endpoint;
#[cfg(any(test, feature = "fakes"))]
pub mod fake;
pub mod limits;
pub mod tls;
pub mod transport;

pub use api::{BollardDocker, DockerApi, ImageBuild};
pub use connect::{connect, connect_endpoint};
pub use endpoint::{LocalDaemon, LocalDaemonError, resolve_local_daemon};
