//! nap's runtime: loading a deployment from files, talking to Docker hosts over their API and
//! SSH, and the actors that carry out plans.
//!
//! - [`deployment`]: compose project + host inventory, loaded and validated together;
//! - [`pipeline`]: connect → observe → desired → plan, the stages every verb shares;
//! - [`deploy`]: `up`, `watch`'s passes and `down`: the pipeline, then the actors
//!   ([`coordinator`], [`host_actor`], [`service_actor`], [`patcher`]) execute the plan;
//! - [`docker`]: the one way nap makes Docker clients (trust, bounds, local default);
//! - [`ssh`]: sessions, known_hosts, login;
//! - [`observe`]: reads each host's labelled containers, networks, volumes and images into
//!   the core's `ObservedState` over the Docker API;
//! - [`watch`], [`status`] (`ps`, `logs`), [`plugins`], [`progress`], [`lock`], [`spec`].
//!
//! Decisions (placement, reconcile) are the pure core's (`nap-core`); this crate performs I/O.

pub mod coordinator;
pub mod deploy;
pub mod deployment;
pub mod docker;
pub mod exec;
pub mod host_actor;
pub mod lock;
pub mod observe;
pub mod patcher;
pub mod pipeline;
pub mod plugins;
pub mod progress;
pub mod service_actor;
pub mod spec;
pub mod ssh;
pub mod status;
pub mod terminal;
pub mod watch;
