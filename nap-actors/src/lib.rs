//! nap's runtime: loading a deployment from files, talking to Docker hosts, and the actors
//! that carry out plans.
//!
//! - [`actors`]: the coordinator, host, service and patcher actors that carry out a plan;
//! - [`deployment`]: compose project + host inventory, loaded and validated together;
//! - [`docker`]: the one way nap makes Docker clients (trust, bounds, local default);
//! - [`observe`]: reads each host's labelled containers, networks, volumes and images into
//!   the core's `ObservedState` over the Docker API.
//!
//! Decisions (placement, reconcile) are the pure core's (`nap-core`); this crate performs I/O.

pub mod actors;
pub mod deploy;
pub mod deployment;
pub mod docker;
pub mod lock;
pub mod observe;
pub mod plugins;
pub mod progress;
pub mod spec;
pub mod ssh;
pub mod status;
pub mod watch;

// The actors' old paths, used across the crate and by the binary.
pub use actors::host as host_actor;
pub use actors::service as service_actor;
pub use actors::{coordinator, patcher};
