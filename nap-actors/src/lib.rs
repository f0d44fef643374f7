//! nap's runtime: loading a deployment from files, talking to Docker hosts over their API and
//! SSH, and the actors that carry out plans.
//!
//! - [`actors`]: the coordinator, host and service actors that carry out a plan;
//! - [`build`]: build contexts (`.dockerignore`, content hash, tar) and build requests;
//! - [`deployment`]: compose project + host inventory, loaded and validated together;
//! - [`pipeline`]: connect → observe → desired → plan, the stages every verb shares;
//! - [`deploy`]: `up`, `watch`'s passes and `down`: the pipeline, then the [`actors`]
//!   execute the plan;
//! - [`exec`]: `nap exec` in a replica on whatever host runs it ([`terminal`]: raw mode);
//! - [`lifecycle`]: stop, start, restart, kill, pause, unpause, rm across hosts;
//! - [`query`]: top, images, ls, events across hosts;
//! - [`docker`]: the one way nap makes Docker clients (trust, bounds, local default);
//! - [`ssh`]: sessions, known_hosts, login;
//! - [`observe`]: reads each host's labelled containers, networks, volumes and images into
//!   the core's `ObservedState` over the Docker API;
//! - [`watch`], [`status`] (`ps`, `logs`), [`plugins`], [`progress`], [`lock`], [`spec`].
//!
//! Decisions (placement, reconcile) are the pure core's (`nap-core`); this crate performs I/O.

pub mod actors;
pub mod build;
pub mod cp;
pub mod deploy;
pub mod deployment;
pub mod docker;
pub mod exec;
pub mod host_lock;
pub mod lifecycle;
pub mod lock;
pub mod observe;
pub mod pipeline;
pub mod plugins;
pub mod progress;
pub mod pull;
pub mod query;
pub mod records;
pub mod rmi;
pub mod run;
pub mod spec;
pub mod ssh;
pub mod status;
pub mod terminal;
pub mod volumes;
pub mod watch;

// The actors' old paths, used across the crate and by the binary.
pub use actors::coordinator;
pub use actors::host as host_actor;
pub use actors::service as service_actor;
