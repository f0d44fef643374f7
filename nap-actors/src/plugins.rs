//! Plugins as nap uses them: loads the `.so` files named by `--plugin` and by the
//! inventory's `plugins:` before anything is deployed (a file that is not a plugin, or one
//! built for another ABI, stops the command with the file named), and calls their
//! `post_start` hook for every container a deployment starts — on a blocking thread, never an
//! actor's, and with a time limit, so a plugin that panics, fails, hangs or answers nonsense
//! costs a warning naming it and nothing else. Plugins are loaded once and never unloaded.
//!
//! [`PluginPolicy`] puts the `schedule` hooks behind the scheduler's [`PlacementPolicy`]: every
//! replica nap places is offered to each placement plugin in load order, with the candidates
//! that passed nap's filters (and that the plugins before it kept); the first host left is the
//! choice. A hook runs on its plugin's own thread with the same time limit; an answer naming a
//! host outside the candidates, an error, a panic or a timeout fails the plan naming the
//! plugin — or, for a plugin marked optional, costs a warning and keeps nap's order.
//!
//! Loading a plugin runs its code as the user (its constructors run at `dlopen`), so nap loads
//! only what the user chose: `--plugin` files, and the `plugins:` of an inventory the user
//! named (`--hosts`, `$NAP_HOSTS`). An inventory nap found by itself beside the compose file
//! came with the project — perhaps a cloned repository — and its plugins load only with
//! `--allow-plugins` (or `NAP_ALLOW_PLUGINS=1`); otherwise the command stops before any
//! `dlopen`, saying how to allow it. A plugin file, and every folder above it, must be owned
//! by the user or root and writable by no one else, as OpenSSH asks of its key files; nap
//! loads the checked, symlink-free path.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use nap_core::inventory::{Inventory, InventoryOrigin};
use nap_core::scheduler::{self, PlacementPolicy, ServiceDemand};
use nap_plugin_api::host::{HookError, LoadError, LoadedPlugin};
use nap_plugin_api::payload::{Candidate, ContainerStarted, ScheduleDecision, ScheduleRequest};
use serde::Serialize;

/// How long a hook may take before nap gives up on it (the call's thread is left to finish).
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// One loaded plugin with its settings.
#[derive(Debug)]
pub struct Plugin {
    /// The library.
    pub loaded: LoadedPlugin,
    /// The inventory's `config:` for it (`null` without one).
    pub config: serde_json::Value,
    /// Marked optional by the plugin or the inventory.
    pub optional: bool,
}

/// Every plugin of a command, in load order.
#[derive(Debug, Clone, Default)]
pub struct Plugins {
    /// The plugins.
    pub list: Vec<Arc<Plugin>>,
}

/// What `nap plugins` prints of one plugin.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The hooks it has.
    pub hooks: Vec<String>,
    /// The file.
    pub path: PathBuf,
    /// Whether a failing schedule hook falls back to nap's choice.
    pub optional: bool,
}

/// Why the plugins of a command could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PluginsError {
    /// The library itself would not load.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// An inventory nap found by itself lists plugins, and the user has not allowed them.
    #[error(
        "{}: lists the plugin {}, and nap found this inventory by itself beside the compose \
         file, so it may have come with the project; a plugin runs code as you, so nap loads \
         one only from an inventory you name: pass --hosts {}, set NAP_HOSTS, or pass \
         --allow-plugins (NAP_ALLOW_PLUGINS=1) if you trust it; no plugin was loaded",
        inventory.display(),
        plugin.display(),
        inventory.display()
    )]
    NotAllowed {
        /// The inventory file.
        inventory: PathBuf,
        /// Its first plugin.
        plugin: PathBuf,
    },
    /// A plugin file, or a folder above it, could be changed by someone other than the user.
    #[error("{}: refusing to load this plugin: {reason}; no plugin was loaded", plugin.display())]
    Unsafe {
        /// The plugin file.
        plugin: PathBuf,
        /// What is wrong, naming the file or folder.
        reason: String,
    },
}

/// Whether the inventory's `plugins:` may be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginConsent {
    /// Only if the user named the inventory (`--hosts`, `$NAP_HOSTS`).
    IfNamed,
    /// `--allow-plugins` / `NAP_ALLOW_PLUGINS=1`: also from an inventory nap found.
    Allowed,
}

impl Plugins {
    /// Loads `--plugin` files (relative to the working folder), then the inventory's, once
    /// `consent` allows them and every file passed [`check_plugin_file`]: nothing is loaded
    /// unless everything may be.
    pub fn load(
        flags: &[PathBuf],
        inventory: &Inventory,
        consent: PluginConsent,
    ) -> Result<Plugins, PluginsError> {
        if let Some(first) = inventory.plugins.first()
            && inventory.origin == InventoryOrigin::Discovered
            && consent != PluginConsent::Allowed
        {
            return Err(PluginsError::NotAllowed {
                inventory: inventory.source.clone().unwrap_or_default(),
                plugin: first.path.clone(),
            });
        }
        let from_flags = flags
            .iter()
            .map(|path| (path.clone(), serde_json::Value::Null, false));
        let from_inventory = inventory
            .plugins
            .iter()
            .map(|entry| (entry.path.clone(), entry.config.clone(), entry.optional));
        let mut checked = Vec::new();
        for (path, config, optional) in from_flags.chain(from_inventory) {
            // Absolute, so `--plugin libx.so` is the file here and not a search of the
            // dynamic loader's library path (what dlopen does with a name without a slash).
            let path = std::path::absolute(&path).unwrap_or(path);
            let path = check_plugin_file(&path)?;
            checked.push((path, config, optional));
        }
        let mut list = Vec::new();
        for (path, config, optional) in checked {
            let loaded = LoadedPlugin::load(&path)?;
            let optional = optional || loaded.optional();
            list.push(Arc::new(Plugin {
                loaded,
                config,
                optional,
            }));
        }
        Ok(Plugins { list })
    }

    /// What is loaded.
    pub fn describe(&self) -> Vec<PluginInfo> {
        self.list
            .iter()
            .map(|plugin| PluginInfo {
                name: plugin.loaded.name().to_string(),
                version: plugin.loaded.version().to_string(),
                hooks: plugin
                    .loaded
                    .hooks()
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
                path: plugin.loaded.path().to_path_buf(),
                optional: plugin.optional,
            })
            .collect()
    }

    /// The scheduler's policy for `project`, asking the plugins that have a `schedule` hook.
    pub fn placement_policy(&self, project: &str) -> PluginPolicy {
        PluginPolicy {
            project: project.to_string(),
            placers: self
                .list
                .iter()
                .filter(|plugin| plugin.loaded.hooks().contains(&"schedule"))
                .map(|plugin| Placer {
                    plugin: plugin.clone(),
                    worker: None,
                    hung: false,
                })
                .collect(),
            at_fault: String::from("plugins"),
            warnings: Vec::new(),
        }
    }

    /// Calls every plugin's `post_start` with `event`; returns one message per plugin that
    /// failed (naming it), after at most [`HOOK_TIMEOUT`] each.
    pub async fn post_start(&self, event: &ContainerStarted) -> Vec<String> {
        let mut failures = Vec::new();
        for plugin in &self.list {
            if !plugin.loaded.hooks().contains(&"post_start") {
                continue;
            }
            let mut event = event.clone();
            event.config = plugin.config.clone();
            let call = {
                let plugin = plugin.clone();
                tokio::task::spawn_blocking(move || plugin.loaded.post_start(&event))
            };
            let name = plugin.loaded.name().to_string();
            match tokio::time::timeout(HOOK_TIMEOUT, call).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => failures.push(error.to_string()),
                Ok(Err(join)) => failures.push(format!("plugin {name:?}: post_start: {join}")),
                Err(_) => failures.push(format!(
                    "plugin {name:?}: post_start did not answer within {} s; nap goes on without it",
                    HOOK_TIMEOUT.as_secs()
                )),
            }
        }
        failures
    }
}

/// The scheduler's [`PlacementPolicy`] backed by the plugins' `schedule` hooks (see the module
/// docs). Made by [`Plugins::placement_policy`] for one scheduling run; the threads it starts
/// end when it is dropped (a hung hook's thread ends when the hook returns).
pub struct PluginPolicy {
    /// The compose project, passed in every request.
    project: String,
    /// The plugins with a schedule hook, in load order.
    placers: Vec<Placer>,
    /// The plugin named by the last error, for the scheduler's message.
    at_fault: String,
    /// Failures of optional plugins: the plugin, its first failure, how many replicas failed.
    warnings: Vec<(String, String, usize)>,
}

/// One placement plugin and the thread its hook runs on.
struct Placer {
    plugin: Arc<Plugin>,
    /// Started on the first call; dropped when a call times out.
    worker: Option<Worker>,
    /// A call timed out: the plugin is not asked again in this run.
    hung: bool,
}

/// A thread that runs one plugin's schedule hook, one request at a time.
struct Worker {
    requests: mpsc::Sender<ScheduleRequest>,
    answers: mpsc::Receiver<Result<ScheduleDecision, HookError>>,
}

impl Worker {
    fn start(plugin: Arc<Plugin>) -> Worker {
        let (requests, inbox) = mpsc::channel::<ScheduleRequest>();
        let (outbox, answers) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("nap-plugin-{}", plugin.loaded.name()))
            .spawn(move || {
                for request in inbox {
                    if outbox.send(plugin.loaded.schedule(&request)).is_err() {
                        break;
                    }
                }
            })
            .expect("spawning a plugin thread");
        Worker { requests, answers }
    }
}

impl PluginPolicy {
    /// What optional plugins got wrong, one line per plugin, naming it.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
            .into_iter()
            .map(|(plugin, first, count)| {
                let more = match count {
                    1 => String::new(),
                    n => format!(" (and {} more replicas)", n - 1),
                };
                format!(
                    "placement plugin {plugin:?} is optional, so nap placed without it: {first}{more}"
                )
            })
            .collect()
    }

    /// Asks one plugin to rank `candidates`; `Err` carries the message for a failure.
    fn ask(placer: &mut Placer, request: ScheduleRequest) -> Result<Vec<String>, String> {
        if placer.hung {
            return Err(format!(
                "an earlier call did not answer within {} s",
                HOOK_TIMEOUT.as_secs()
            ));
        }
        let worker = placer
            .worker
            .get_or_insert_with(|| Worker::start(placer.plugin.clone()));
        let candidates = request.candidates.clone();
        if worker.requests.send(request).is_err() {
            return Err("its thread ended".to_string());
        }
        let decision = match worker.answers.recv_timeout(HOOK_TIMEOUT) {
            Ok(Ok(decision)) => decision,
            Ok(Err(error)) => return Err(error.to_string()),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                placer.worker = None;
                placer.hung = true;
                return Err(format!(
                    "did not answer within {} s",
                    HOOK_TIMEOUT.as_secs()
                ));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                placer.worker = None;
                return Err("its thread ended".to_string());
            }
        };
        decision
            .ranked(&candidates)
            .map(|names| names.into_iter().map(str::to_string).collect())
            .map_err(|error| format!("answered {error}"))
    }
}

impl PlacementPolicy for PluginPolicy {
    fn name(&self) -> &str {
        &self.at_fault
    }

    fn choose(
        &mut self,
        service: &ServiceDemand,
        replica: u32,
        candidates: &[scheduler::Candidate<'_>],
    ) -> Result<Option<String>, scheduler::PolicyError> {
        // Nap's order, narrowed and reordered by each plugin in turn.
        let mut ranked: Vec<&scheduler::Candidate<'_>> = candidates.iter().collect();
        for placer in &mut self.placers {
            let request = ScheduleRequest {
                project: self.project.clone(),
                service: service.name.clone(),
                replica,
                candidates: ranked
                    .iter()
                    .map(|candidate| Candidate {
                        name: candidate.host.name.clone(),
                        labels: candidate.host.labels.clone(),
                        containers: candidate.containers as usize,
                        service_replicas: candidate.service_replicas as usize,
                    })
                    .collect(),
                config: placer.plugin.config.clone(),
            };
            match Self::ask(placer, request) {
                Ok(names) => {
                    ranked = names
                        .iter()
                        .filter_map(|name| ranked.iter().copied().find(|c| c.host.name == *name))
                        .collect();
                }
                Err(message) => {
                    let name = placer.plugin.loaded.name();
                    if !placer.plugin.optional {
                        self.at_fault = name.to_string();
                        return Err(scheduler::PolicyError::new(message));
                    }
                    match self.warnings.iter_mut().find(|(plugin, ..)| plugin == name) {
                        Some((_, _, count)) => *count += 1,
                        None => self.warnings.push((
                            name.to_string(),
                            format!("service {:?} replica {replica}: {message}", service.name),
                            1,
                        )),
                    }
                }
            }
        }
        Ok(ranked.first().map(|candidate| candidate.host.name.clone()))
    }

    fn inspects_candidates(&self) -> bool {
        !self.placers.is_empty()
    }
}

/// Checks that only the user (or root) can change the plugin file at `path`: the file and
/// every folder above it must be owned by the user or root and not writable by group or
/// others (a root-owned sticky folder such as `/tmp` is fine: no one else can rename what
/// is in it). Returns the path without symlinks, which is what nap then loads. A file that
/// does not exist is returned as given, for the loader to report.
pub fn check_plugin_file(path: &Path) -> Result<PathBuf, PluginsError> {
    let canonical = match std::fs::canonicalize(path) {
        Ok(canonical) => canonical,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(path.to_path_buf());
        }
        Err(error) => {
            return Err(PluginsError::Unsafe {
                plugin: path.to_path_buf(),
                reason: format!("cannot resolve it: {error}"),
            });
        }
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let unsafe_because = |reason: String| PluginsError::Unsafe {
        plugin: path.to_path_buf(),
        reason,
    };
    for (depth, item) in canonical.ancestors().enumerate() {
        let metadata = std::fs::metadata(item)
            .map_err(|e| unsafe_because(format!("cannot read {}: {e}", item.display())))?;
        let what = if depth == 0 { "the file" } else { "the folder" };
        let owner = metadata.uid();
        if owner != me && owner != 0 {
            return Err(unsafe_because(format!(
                "{what} {} is owned by uid {owner}, not by you (uid {me}) or root",
                item.display()
            )));
        }
        let mode = metadata.mode();
        let writable_by_others = mode & 0o022 != 0;
        let sticky_root_folder = depth > 0 && mode & 0o1000 != 0 && owner == 0;
        if writable_by_others && !sticky_root_folder {
            return Err(unsafe_because(format!(
                "{what} {} is writable by {} (mode {:04o}); run chmod go-w on it",
                item.display(),
                if mode & 0o002 != 0 {
                    "everyone"
                } else {
                    "its group"
                },
                mode & 0o7777
            )));
        }
    }
    Ok(canonical)
}
