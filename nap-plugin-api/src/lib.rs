//! The ABI between nap and its `.so` plugins (scheduling and post-start hooks).
//!
//! This crate is a placeholder until the plugin issue lands: it defines only the ABI version
//! constant so that the workspace layout is in place. Nothing loads plugins yet.
#![deny(missing_docs)]

/// The version of the plugin ABI that this build of nap speaks.
pub const ABI_VERSION: u32 = 1;
