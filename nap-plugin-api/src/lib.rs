//! The ABI between nap and its `.so` plugins: a `#[repr(C)]` vtable of optional hooks that take
//! and answer JSON.
//!
//! Rust has no stable ABI, so a plugin is a `cdylib` exporting one C function,
//! `nap_plugin_v1() -> *const PluginVTable`. The vtable carries the ABI version, its own size,
//! the plugin's name, version and flags, one optional function pointer per hook, and the
//! function that frees the buffers the hooks write. Payloads are JSON bytes ([`payload`]), so
//! plugins need not share nap's compiler, and could be written in C.
//!
//! - Plugin authors implement [`Plugin`] and call [`nap_plugin!`]; every hook is wrapped in
//!   `catch_unwind`, so a panic becomes an error return (`plugin panicked: …`) and never crosses
//!   the ABI.
//! - nap (feature `host`) loads libraries with `host::LoadedPlugin::load` and calls hooks
//!   through it. Libraries are never unloaded. Hooks may block: time limits are the caller's job.
//!
//! # Hooks and their contract
//!
//! A hook is `unsafe extern "C" fn(input: *const u8, input_len: usize, out: *mut Buffer) -> i32`.
//! It returns [`HOOK_OK`] (0) and writes the JSON answer into `*out`, or a non-zero code
//! ([`HOOK_ERROR`], [`HOOK_PANICKED`]) and a UTF-8 error message. The buffer belongs to the
//! plugin: nap copies it and passes it to the vtable's `free_buffer`. Hooks may be called from
//! several threads at once.
//!
//! | hook | input | answer |
//! | --- | --- | --- |
//! | `schedule` | [`ScheduleRequest`] | [`ScheduleDecision`]: `{"keep": true}`, `{"pick": "h2"}` or `{"scores": {"h1": 1.0}}` |
//! | `post_start` | [`ContainerStarted`] | any JSON (ignored) |
//!
//! # Versioning
//!
//! - **Adding a hook is not breaking.** New fields are appended to the end of
//!   [`PluginVTable`] and [`ABI_VERSION`] stays the same. An old plugin's `size` is smaller than
//!   the new struct, so nap reads only the fields that fit in `size` and treats the newer hooks
//!   as absent; old plugins keep loading and working. A new plugin loaded by an old nap is read
//!   up to the old nap's struct size; its extra hooks are simply never called.
//! - **Adding a field to a payload is not breaking** when it has a default (`#[serde(default)]`
//!   on the reading side): JSON readers ignore unknown keys and fill in missing ones.
//! - **A breaking change** (changing a field's type or meaning, removing or reordering fields,
//!   changing the hook signature or buffer ownership) bumps [`ABI_VERSION`] and renames the entry
//!   symbol to `nap_plugin_v2`. A nap that speaks only v1 then reports "not a nap plugin" for a
//!   v2 plugin rather than misreading it; a nap may look up both symbols to support both.
//! - `size` must be at least [`MIN_VTABLE_SIZE`] (every ABI-1 field), and `abi_version` must
//!   equal [`ABI_VERSION`]; otherwise loading fails naming the file and both versions.
#![deny(missing_docs)]

pub mod abi;
pub mod author;
#[cfg(feature = "host")]
pub mod host;
pub mod payload;

pub use abi::{
    ABI_VERSION, Buffer, ENTRY_SYMBOL, FLAG_OPTIONAL, HOOK_ERROR, HOOK_OK, HOOK_PANICKED, HookFn,
    MIN_VTABLE_SIZE, PluginVTable,
};
pub use author::{Hooks, Plugin, PluginError};
#[cfg(feature = "host")]
pub use host::{HookError, LoadError, LoadedPlugin};
pub use payload::{
    Candidate, ContainerStarted, DecisionError, DecisionFormError, ScheduleDecision,
    ScheduleRequest,
};

#[doc(hidden)]
pub use author::private as __private;
