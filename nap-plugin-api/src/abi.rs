//! The `#[repr(C)]` types that cross the library boundary: the vtable a plugin exports and the
//! byte buffers its hooks write their answers into.
//!
//! This module holds layout only. It does not serialize payloads (see [`crate::payload`]), call
//! hooks (see `host`, feature `host`) or wrap plugin code (see [`crate::author`]).

use std::ffi::c_char;
use std::mem::ManuallyDrop;

/// The version of the plugin ABI that this build of nap speaks.
///
/// A plugin whose vtable carries another version is refused at load time.
pub const ABI_VERSION: u32 = 1;

/// The symbol every plugin exports: `extern "C" fn nap_plugin_v1() -> *const PluginVTable`.
///
/// A breaking change to the ABI renames it (`nap_plugin_v2`), so an old nap never finds a new
/// plugin's entry point and vice versa.
pub const ENTRY_SYMBOL: &str = "nap_plugin_v1";

/// [`ENTRY_SYMBOL`] with its terminating NUL, as `libloading` wants it.
pub const ENTRY_SYMBOL_NUL: &[u8] = b"nap_plugin_v1\0";

/// Vtable flag: nap may fall back to its own placement when this plugin's schedule hook fails.
///
/// Without it, a failing schedule hook fails the placement of that replica.
pub const FLAG_OPTIONAL: u32 = 1;

/// Hook return code: success, the buffer holds the JSON answer.
pub const HOOK_OK: i32 = 0;

/// Hook return code: the hook failed, the buffer holds a UTF-8 error message.
pub const HOOK_ERROR: i32 = 1;

/// Hook return code: the hook panicked (the panic was caught), the buffer holds
/// `plugin panicked: …`. Any other non-zero code is treated as [`HOOK_ERROR`].
pub const HOOK_PANICKED: i32 = 2;

/// The signature of every JSON hook: request bytes in, answer (or error message) out.
///
/// The hook writes a [`Buffer`] it allocated into `*out` and returns [`HOOK_OK`], or an error
/// code with a UTF-8 message in the buffer. nap hands the buffer back to the plugin's
/// [`PluginVTable::free_buffer`] once it has copied the bytes.
pub type HookFn = unsafe extern "C" fn(input: *const u8, input_len: usize, out: *mut Buffer) -> i32;

/// What a plugin exports (by returning a pointer to it from [`ENTRY_SYMBOL`]).
///
/// The pointee must live as long as the library is loaded (in practice: a `static`). Fields are
/// only ever appended; `size` tells nap how many of them this plugin knows about.
#[repr(C)]
pub struct PluginVTable {
    /// The ABI version the plugin was built against; must equal [`ABI_VERSION`].
    pub abi_version: u32,
    /// `size_of::<PluginVTable>()` as the plugin saw it; fields past it are absent.
    pub size: usize,
    /// The plugin's name, a NUL-terminated UTF-8 string that lives as long as the library.
    pub name: *const c_char,
    /// The plugin's version, a NUL-terminated UTF-8 string that lives as long as the library.
    pub version: *const c_char,
    /// Bit set of `FLAG_*` constants ([`FLAG_OPTIONAL`]).
    pub flags: u32,
    /// Placement hook: [`crate::ScheduleRequest`] in, [`crate::ScheduleDecision`] out.
    pub schedule: Option<HookFn>,
    /// Post-start hook: [`crate::ContainerStarted`] in, any JSON (ignored) out.
    pub post_start: Option<HookFn>,
    /// Frees a buffer that one of this plugin's hooks wrote.
    pub free_buffer: unsafe extern "C" fn(buffer: Buffer),
}

/// The smallest vtable an ABI-1 nap accepts: every field up to and including `free_buffer`.
pub const MIN_VTABLE_SIZE: usize = size_of::<PluginVTable>();

/// A byte buffer owned by the side that allocated it (for hook answers: the plugin).
///
/// In Rust it is a `Vec<u8>` taken apart; the other side reads `len` bytes from `ptr` and gives
/// the buffer back to the allocator's free function, never to its own allocator.
#[repr(C)]
#[derive(Debug)]
pub struct Buffer {
    /// Start of the bytes; null for an empty buffer.
    pub ptr: *mut u8,
    /// Number of initialised bytes.
    pub len: usize,
    /// Allocated capacity (needed by the allocator to free it).
    pub cap: usize,
}

impl Buffer {
    /// An empty buffer that owns nothing (what nap passes in before a hook writes its answer).
    pub const fn empty() -> Buffer {
        Buffer {
            ptr: std::ptr::null_mut(),
            len: 0,
            cap: 0,
        }
    }

    /// Takes a `Vec` apart into a buffer; free it with [`free_buffer`] from the same library.
    pub fn from_vec(bytes: Vec<u8>) -> Buffer {
        let mut bytes = ManuallyDrop::new(bytes);
        Buffer {
            ptr: bytes.as_mut_ptr(),
            len: bytes.len(),
            cap: bytes.capacity(),
        }
    }

    /// The bytes of the buffer.
    ///
    /// # Safety
    /// `ptr` must be null or point to `len` initialised bytes that stay valid while the returned
    /// slice is used.
    pub unsafe fn as_bytes(&self) -> &[u8] {
        if self.ptr.is_null() || self.len == 0 {
            &[]
        } else {
            // SAFETY: the caller guarantees `ptr` points to `len` readable bytes.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }
}

/// Frees a [`Buffer`] made by [`Buffer::from_vec`] in this copy of the crate.
///
/// Plugins built with [`crate::nap_plugin!`] put this function in their vtable; since each
/// library links its own copy, it frees with the allocator that made the buffer.
///
/// # Safety
/// `buffer` must come from [`Buffer::from_vec`] in the same library (or be empty) and must not
/// be used afterwards.
pub unsafe extern "C" fn free_buffer(buffer: Buffer) {
    if !buffer.ptr.is_null() {
        // SAFETY: the caller guarantees the parts come from a `Vec<u8>` of this allocator.
        drop(unsafe { Vec::from_raw_parts(buffer.ptr, buffer.len, buffer.cap) });
    }
}
