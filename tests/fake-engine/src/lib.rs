//! A fake Docker Engine for measuring and testing nap at scale without Docker: many
//! independent in-memory engines, one per unix socket, served by one process, speaking the
//! subset of the Engine API that nap's bollard calls use, each call delayed by a configurable
//! latency and counted.
//!
//! [`engine`] is the state and the API's behaviour (no I/O); [`server`] serves engines over
//! HTTP on unix sockets. The `nap-fake-engine` binary is the command-line front
//! (`nap-fake-engine --dir /tmp/fake --hosts 200 --latency-ms 5`); tests can start one
//! in-process with [`server::BackgroundFake`]. It is not a container runtime: nothing runs.

pub mod engine;
pub mod server;

pub use engine::EngineConfig;
pub use server::{BackgroundFake, Fake, FakeConfig};
