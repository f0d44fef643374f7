//! nap's side of the ABI (feature `host`): loading a plugin library, checking its vtable and
//! calling its hooks with JSON payloads.
//!
//! Libraries are loaded once and never unloaded: the [`libloading::Library`] is leaked, so the
//! vtable and its strings stay valid for the life of the process. Hooks run synchronously on the
//! calling thread and may block for as long as the plugin likes; time limits are the caller's
//! job (run hooks on a blocking thread and stop waiting for them). This module decides nothing
//! about placement: applying a decision is [`ScheduleDecision::ranked`].

use std::ffi::CStr;
use std::path::{Path, PathBuf};

use crate::abi::{
    ABI_VERSION, Buffer, ENTRY_SYMBOL, ENTRY_SYMBOL_NUL, FLAG_OPTIONAL, HOOK_OK, HOOK_PANICKED,
    HookFn, MIN_VTABLE_SIZE, PluginVTable,
};
use crate::payload::{ContainerStarted, ScheduleDecision, ScheduleRequest};

/// Why a plugin library could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file is missing or is not a shared library this process can load.
    #[error("{}: not a loadable library: {message}", path.display())]
    NotALibrary {
        /// The plugin file.
        path: PathBuf,
        /// The dynamic loader's message (kept as text: libloading's error repeats it as its
        /// own source, which would print it twice in an error chain).
        message: String,
    },
    /// The library has no entry point.
    #[error("{}: not a nap plugin (no `{ENTRY_SYMBOL}` symbol)", path.display())]
    NotAPlugin {
        /// The plugin file.
        path: PathBuf,
    },
    /// The entry point returned no vtable (for Rust plugins: the constructor panicked).
    #[error("{}: plugin failed to initialise (`{ENTRY_SYMBOL}` returned null)", path.display())]
    InitFailed {
        /// The plugin file.
        path: PathBuf,
    },
    /// The plugin speaks another ABI version.
    #[error(
        "{}: plugin built against nap plugin ABI {found}, this nap expects ABI {expected}",
        path.display()
    )]
    AbiMismatch {
        /// The plugin file.
        path: PathBuf,
        /// The version in the plugin's vtable.
        found: u32,
        /// [`ABI_VERSION`].
        expected: u32,
    },
    /// The vtable is smaller than ABI 1 requires.
    #[error("{}: plugin vtable is {found} bytes, ABI {ABI_VERSION} needs at least {minimum}", path.display())]
    VTableTooSmall {
        /// The plugin file.
        path: PathBuf,
        /// The `size` field of the plugin's vtable.
        found: usize,
        /// [`MIN_VTABLE_SIZE`].
        minimum: usize,
    },
    /// The vtable's name or version pointer is null.
    #[error("{}: plugin vtable has a null {field}", path.display())]
    NullString {
        /// The plugin file.
        path: PathBuf,
        /// `name` or `version`.
        field: &'static str,
    },
}

/// Why a hook call failed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The hook returned an error code.
    #[error("plugin `{plugin}` {hook} hook failed: {message}")]
    Failed {
        /// The plugin's name.
        plugin: String,
        /// `schedule` or `post_start`.
        hook: &'static str,
        /// The code the hook returned.
        code: i32,
        /// The hook's error message.
        message: String,
    },
    /// The hook panicked; the plugin caught the panic.
    #[error("plugin `{plugin}` {hook} hook failed: {message}")]
    Panicked {
        /// The plugin's name.
        plugin: String,
        /// `schedule` or `post_start`.
        hook: &'static str,
        /// `plugin panicked: …`.
        message: String,
    },
    /// The hook's answer is not the JSON nap expects.
    #[error("plugin `{plugin}` {hook} hook answered invalid JSON: {source}")]
    InvalidAnswer {
        /// The plugin's name.
        plugin: String,
        /// `schedule` or `post_start`.
        hook: &'static str,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The request could not be serialized (not expected in practice).
    #[error("plugin `{plugin}` {hook} hook: cannot encode request: {source}")]
    InvalidRequest {
        /// The plugin's name.
        plugin: String,
        /// `schedule` or `post_start`.
        hook: &'static str,
        /// The serialization error.
        source: serde_json::Error,
    },
}

/// A loaded plugin library. Cheap to share: hooks take `&self` and may run concurrently.
#[derive(Debug)]
pub struct LoadedPlugin {
    path: PathBuf,
    name: String,
    version: String,
    flags: u32,
    schedule: Option<HookFn>,
    post_start: Option<HookFn>,
    free_buffer: unsafe extern "C" fn(Buffer),
}

impl LoadedPlugin {
    /// Loads the library at `path`, finds `nap_plugin_v1` and checks the vtable's ABI version
    /// and size. The library is never unloaded.
    pub fn load(path: &Path) -> Result<LoadedPlugin, LoadError> {
        let path_buf = path.to_path_buf();
        // SAFETY: loading a library runs its initialisers; nap trusts the plugins its
        // inventory names (they run with nap's privileges anyway).
        let library =
            unsafe { libloading::Library::new(path) }.map_err(|error| LoadError::NotALibrary {
                path: path_buf.clone(),
                // `dlopen failed`, and as its source what the loader said.
                message: std::error::Error::source(&error)
                    .map_or_else(|| error.to_string(), ToString::to_string),
            })?;
        // Leak first: whatever happens next, symbols of this library may already be in use
        // (its initialisers ran), and plugins are never unloaded.
        let library: &'static libloading::Library = Box::leak(Box::new(library));
        // SAFETY: the symbol's type is the one the ABI fixes for `nap_plugin_v1`.
        let entry = unsafe {
            library.get::<unsafe extern "C" fn() -> *const PluginVTable>(ENTRY_SYMBOL_NUL)
        }
        .map_err(|_| LoadError::NotAPlugin {
            path: path_buf.clone(),
        })?;
        // SAFETY: calling the entry point is the ABI's contract.
        let vtable = unsafe { entry() };
        if vtable.is_null() {
            return Err(LoadError::InitFailed { path: path_buf });
        }
        // SAFETY: every ABI version starts with `abi_version: u32, size: usize`; read those
        // before trusting the rest of the layout.
        let (found, size) = unsafe {
            (
                (&raw const (*vtable).abi_version).read(),
                (&raw const (*vtable).size).read(),
            )
        };
        if found != ABI_VERSION {
            return Err(LoadError::AbiMismatch {
                path: path_buf,
                found,
                expected: ABI_VERSION,
            });
        }
        if size < MIN_VTABLE_SIZE {
            return Err(LoadError::VTableTooSmall {
                path: path_buf,
                found: size,
                minimum: MIN_VTABLE_SIZE,
            });
        }
        // SAFETY: the version and size checks say the whole ABI-1 vtable is there; it lives in
        // the leaked library.
        let vtable: &'static PluginVTable = unsafe { &*vtable };
        let name = read_string(vtable.name, &path_buf, "name")?;
        let version = read_string(vtable.version, &path_buf, "version")?;
        Ok(LoadedPlugin {
            path: path_buf,
            name,
            version,
            flags: vtable.flags,
            schedule: vtable.schedule,
            post_start: vtable.post_start,
            free_buffer: vtable.free_buffer,
        })
    }

    /// The file the plugin was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Whether nap may fall back to its own placement when the schedule hook fails.
    pub fn optional(&self) -> bool {
        self.flags & FLAG_OPTIONAL != 0
    }

    /// The names of the hooks the plugin implements (`schedule`, `post_start`).
    pub fn hooks(&self) -> Vec<&'static str> {
        let mut hooks = Vec::new();
        if self.schedule.is_some() {
            hooks.push("schedule");
        }
        if self.post_start.is_some() {
            hooks.push("post_start");
        }
        hooks
    }

    /// Asks the plugin where a replica goes; [`ScheduleDecision::Keep`] if it has no schedule
    /// hook. Blocks for as long as the hook runs.
    pub fn schedule(&self, request: &ScheduleRequest) -> Result<ScheduleDecision, HookError> {
        let Some(hook) = self.schedule else {
            return Ok(ScheduleDecision::Keep);
        };
        let answer = self.call(hook, "schedule", request)?;
        serde_json::from_slice(&answer).map_err(|source| HookError::InvalidAnswer {
            plugin: self.name.clone(),
            hook: "schedule",
            source,
        })
    }

    /// Tells the plugin a container started; does nothing if it has no post-start hook. Blocks
    /// for as long as the hook runs.
    pub fn post_start(&self, event: &ContainerStarted) -> Result<(), HookError> {
        let Some(hook) = self.post_start else {
            return Ok(());
        };
        let answer = self.call(hook, "post_start", event)?;
        serde_json::from_slice::<serde_json::Value>(&answer)
            .map(drop)
            .map_err(|source| HookError::InvalidAnswer {
                plugin: self.name.clone(),
                hook: "post_start",
                source,
            })
    }

    /// Serializes `payload`, calls `hook`, copies its answer and frees the plugin's buffer.
    fn call(
        &self,
        hook: HookFn,
        hook_name: &'static str,
        payload: &impl serde::Serialize,
    ) -> Result<Vec<u8>, HookError> {
        let input = serde_json::to_vec(payload).map_err(|source| HookError::InvalidRequest {
            plugin: self.name.clone(),
            hook: hook_name,
            source,
        })?;
        let mut out = Buffer::empty();
        // SAFETY: `input` is a live slice, `out` a valid slot; the hook follows `HookFn`.
        let code = unsafe { hook(input.as_ptr(), input.len(), &mut out) };
        // SAFETY: the hook wrote a buffer of `len` bytes (or left it empty).
        let answer = unsafe { out.as_bytes() }.to_vec();
        // SAFETY: the buffer came from this plugin's allocator and is not used again.
        unsafe { (self.free_buffer)(out) };
        match code {
            HOOK_OK => Ok(answer),
            HOOK_PANICKED => Err(HookError::Panicked {
                plugin: self.name.clone(),
                hook: hook_name,
                message: String::from_utf8_lossy(&answer).into_owned(),
            }),
            code => Err(HookError::Failed {
                plugin: self.name.clone(),
                hook: hook_name,
                code,
                message: String::from_utf8_lossy(&answer).into_owned(),
            }),
        }
    }
}

fn read_string(
    pointer: *const std::ffi::c_char,
    path: &Path,
    field: &'static str,
) -> Result<String, LoadError> {
    if pointer.is_null() {
        return Err(LoadError::NullString {
            path: path.to_path_buf(),
            field,
        });
    }
    // SAFETY: the ABI requires a NUL-terminated string living as long as the library.
    Ok(unsafe { CStr::from_ptr(pointer) }
        .to_string_lossy()
        .into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::free_buffer;

    /// A hook answering bytes that are not a decision.
    unsafe extern "C" fn answers_nonsense(_: *const u8, _: usize, out: *mut Buffer) -> i32 {
        // SAFETY: `out` is the valid slot `LoadedPlugin::call` passes.
        unsafe { out.write(Buffer::from_vec(b"{\"pick\": 42".to_vec())) };
        HOOK_OK
    }

    /// A hook returning an error code other than the known ones.
    unsafe extern "C" fn fails_with_code_7(_: *const u8, _: usize, out: *mut Buffer) -> i32 {
        // SAFETY: as above.
        unsafe { out.write(Buffer::from_vec(b"disk on fire".to_vec())) };
        7
    }

    fn plugin(schedule: HookFn) -> LoadedPlugin {
        LoadedPlugin {
            path: PathBuf::from("/plugins/fake.so"),
            name: "fake".to_owned(),
            version: "1".to_owned(),
            flags: 0,
            schedule: Some(schedule),
            post_start: None,
            free_buffer,
        }
    }

    fn request() -> ScheduleRequest {
        ScheduleRequest {
            project: "p".to_owned(),
            service: "s".to_owned(),
            replica: 1,
            candidates: Vec::new(),
            config: serde_json::Value::Null,
        }
    }

    #[test]
    fn nonsense_json_is_an_error_naming_the_plugin() {
        let error = plugin(answers_nonsense).schedule(&request()).unwrap_err();
        assert!(
            matches!(
                error,
                HookError::InvalidAnswer {
                    hook: "schedule",
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .starts_with("plugin `fake` schedule hook answered invalid JSON")
        );
    }

    #[test]
    fn an_unknown_error_code_is_a_failure_with_the_plugins_message() {
        let error = plugin(fails_with_code_7).schedule(&request()).unwrap_err();
        assert!(
            matches!(error, HookError::Failed { code: 7, .. }),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "plugin `fake` schedule hook failed: disk on fire"
        );
    }

    #[test]
    fn absent_hooks_keep_nap_order_and_do_nothing() {
        let mut plugin = plugin(answers_nonsense);
        plugin.schedule = None;
        assert!(plugin.hooks().is_empty());
        assert_eq!(plugin.schedule(&request()).unwrap(), ScheduleDecision::Keep);
    }
}
