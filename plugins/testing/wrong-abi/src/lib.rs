//! Test plugin: exports by hand a vtable claiming ABI version 999, which nap must refuse.

use nap_plugin_api::{Buffer, PluginVTable, abi::free_buffer};

/// Makes the vtable, which holds raw pointers, storable in a `static`.
struct SyncVTable(PluginVTable);

// SAFETY: the vtable points only to string literals and functions, and is never mutated.
unsafe impl Sync for SyncVTable {}

static VTABLE: SyncVTable = SyncVTable(PluginVTable {
    abi_version: 999,
    size: size_of::<PluginVTable>(),
    name: c"testing-wrong-abi".as_ptr(),
    version: c"0.0.0".as_ptr(),
    flags: 0,
    schedule: None,
    post_start: None,
    free_buffer: free,
});

unsafe extern "C" fn free(buffer: Buffer) {
    // SAFETY: nap hands back only buffers this library made (none, as it has no hooks).
    unsafe { free_buffer(buffer) }
}

/// The entry point, with the ABI-1 symbol name but a version-999 vtable.
#[unsafe(no_mangle)]
pub extern "C" fn nap_plugin_v1() -> *const PluginVTable {
    &VTABLE.0
}
