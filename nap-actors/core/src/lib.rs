//! nap's pure core: everything that decides, with no daemon touched.
//!
//! - [`build`]: `.dockerignore` matching and the content hash of a build context;
//! - [`compose`]: the compose model and loader (`nap config`);
//! - [`inventory`]: the host inventory (`nap-hosts.yml`);
//! - [`graph`]: the service dependency graph;
//! - [`scheduler`]: which replica runs on which host;
//! - [`plan`]: `reconcile(desired, observed) → Plan`, the operations that make it so;
//! - [`hosts_file`]: a container's hosts file with nap's name table block, from nap's data only;
//! - [`routes`]: routed mode's route and firewall commands, from typed values only.
//!
//! Invariant: this crate does no network I/O and depends on no async runtime, Docker client,
//! SSH client, file watcher or plugin loader. The only I/O is reading files, and the compose
//! loader and inventory reader do that through a [`compose::FileSystem`] that tests replace.

pub mod build;
pub mod compose;
pub mod graph;
pub mod hosts_file;
pub mod inventory;
pub mod plan;
pub mod routes;
pub mod scheduler;
pub mod units;
