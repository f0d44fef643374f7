//! `nap watch`: keeps the deployment in step with the files it was built from.
//!
//! It deploys once, as `nap up` does, then watches every file the model came from (compose
//! files, `.env` / `--env-file`, every `env_file`, `extends` files), the host inventory and
//! the build contexts ([`Watched`]: a saved source file the context sends rebuilds that
//! image once, ships it and rolls it out by the service's `update_config`; a file its
//! `.dockerignore` leaves out is no change).
//! It watches their folders, not the files, because editors save by writing a new file and
//! renaming it over the old one, and a watch on the old inode goes silent. A burst of
//! events is gathered into one change ([`next_change`]). Each change re-loads the files: an
//! invalid file is reported with its file and line and the running deployment is left exactly
//! as it is; a valid one goes through [`deploy::up`], the same observe → reconcile → execute
//! path as `nap up` (with `--remove-orphans`: a service deleted from the file is removed), so
//! only what changed is touched. Between changes the last deployment's
//! host actors stay alive (their clients and SSH sessions are reused); a container that
//! restarts needs nothing from the watch (its hosts file is nap's, bind-mounted). A shutdown signal (Ctrl-C, SIGTERM) ends the watch after any deployment in
//! progress has finished; the deployment keeps running.
//!
//! A change that finds a host unreachable changes nothing anywhere (as `nap up` would refuse);
//! the watch says so, keeps the running deployment as it is, and tries the latest files again every [`RETRY_UNREACHABLE`] until the host
//! answers, then reconciles.
//!
//! The file watcher sits behind [`FolderWatcher`] and the deployment behind [`Deployer`]
//! ([`ActorDeployer`] is the real one), so the loop can be driven by fakes ([`watch_with`]).

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::deploy::{self, DeploymentActors, UpOptions};
use crate::deployment::{self, Deployment, DeploymentOptions};
use crate::progress::{Event, Progress};

/// How long the files must stay quiet before a change is applied. Saving is rarely one event:
/// editors write a temporary file, rename it, and touch its mode; `git checkout` or a script
/// rewrites several files in a row. 300 ms gathers such a burst into one reload (one plan, not
/// three half-finished ones), yet is short enough that applying still feels immediate.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// How often a change that found a host unreachable is tried again. Observing a host that
/// does not answer takes up to the connect timeout (5 s), so a shorter interval would only
/// keep the watch busy; a longer one delays the reconcile after the host returns.
pub const RETRY_UNREACHABLE: Duration = Duration::from_secs(5);

/// The operating system refused to watch files.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {}: {source}", folder.as_ref().map_or("files".to_string(), |folder| folder.display().to_string()))]
pub struct WatcherError {
    /// The folder that could not be watched (`None`: the watcher could not start).
    pub folder: Option<PathBuf>,
    /// Why.
    #[source]
    pub source: notify::Error,
}

/// Something that reports changes under folders as paths on a channel.
pub trait FolderWatcher {
    /// Watches exactly these folders from now on (non-recursively).
    fn watch_folders(&mut self, folders: &BTreeSet<PathBuf>) -> Result<(), WatcherError>;

    /// Watches exactly these folders and everything under them from now on (build contexts).
    fn watch_trees(&mut self, trees: &BTreeSet<PathBuf>) -> Result<(), WatcherError>;
}

/// [`FolderWatcher`] on the operating system's notifications (inotify on Linux).
pub struct NotifyWatcher {
    watcher: notify::RecommendedWatcher,
    watched: BTreeSet<PathBuf>,
    /// The folders watched recursively.
    trees: BTreeSet<PathBuf>,
}

impl NotifyWatcher {
    /// A watcher that sends every changed path to `paths`.
    pub fn new(paths: mpsc::UnboundedSender<PathBuf>) -> Result<NotifyWatcher, WatcherError> {
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if matches!(event.kind, notify::EventKind::Access(_)) {
                return;
            }
            for path in event.paths {
                let _ = paths.send(path);
            }
        })
        .map_err(|source| WatcherError {
            folder: None,
            source,
        })?;
        Ok(NotifyWatcher {
            watcher,
            watched: BTreeSet::new(),
            trees: BTreeSet::new(),
        })
    }
}

impl FolderWatcher for NotifyWatcher {
    fn watch_folders(&mut self, folders: &BTreeSet<PathBuf>) -> Result<(), WatcherError> {
        use notify::Watcher;
        for gone in self.watched.difference(folders) {
            let _ = self.watcher.unwatch(gone);
        }
        for folder in folders.difference(&self.watched) {
            self.watcher
                .watch(folder, notify::RecursiveMode::NonRecursive)
                .map_err(|source| WatcherError {
                    folder: Some(folder.clone()),
                    source,
                })?;
        }
        self.watched = folders.clone();
        Ok(())
    }

    fn watch_trees(&mut self, trees: &BTreeSet<PathBuf>) -> Result<(), WatcherError> {
        use notify::Watcher;
        for gone in self.trees.difference(trees) {
            let _ = self.watcher.unwatch(gone);
        }
        for tree in trees.difference(&self.trees) {
            self.watcher
                .watch(tree, notify::RecursiveMode::Recursive)
                .map_err(|source| WatcherError {
                    folder: Some(tree.clone()),
                    source,
                })?;
        }
        self.trees = trees.clone();
        Ok(())
    }
}

/// What a watch follows: the files the model came from, and the build contexts — a change
/// to a file a context sends to the builder (not one its `.dockerignore` leaves out) is a
/// change, so the image is built again, shipped and rolled out.
#[derive(Debug, Clone, Default)]
pub struct Watched {
    /// The model's files (compose files, `.env`, `env_file`s, the inventory, Dockerfiles).
    pub files: BTreeSet<PathBuf>,
    /// Each build context's folder and its `.dockerignore`.
    pub contexts: Vec<(PathBuf, nap_core::build::IgnoreFile)>,
}

impl Watched {
    /// What `deployment` is built from.
    pub fn of(deployment: &Deployment) -> Watched {
        let mut files = watched_files(deployment);
        let mut contexts = Vec::new();
        for (service, folder) in crate::build::context_folders(&deployment.project) {
            let folder = std::path::absolute(&folder).unwrap_or(folder);
            // An unreadable `.dockerignore` is the deployment's error to report; here every
            // file of the context counts.
            let ignore = std::fs::read_to_string(folder.join(".dockerignore"))
                .ok()
                .and_then(|text| nap_core::build::IgnoreFile::parse(&text).ok())
                .unwrap_or_default();
            let build = &deployment.project.services[&service].build;
            if let Some(dockerfile) = build.as_ref().and_then(|build| build.dockerfile.as_ref()) {
                files.insert(folder.join(dockerfile));
            }
            contexts.push((folder, ignore));
        }
        Watched { files, contexts }
    }

    /// Whether a change of `path` is a change of what the deployment is built from.
    pub fn contains(&self, path: &Path) -> bool {
        self.files.contains(path)
            || self.contexts.iter().any(|(folder, ignore)| {
                path.strip_prefix(folder).is_ok_and(|relative| {
                    let relative = relative.to_string_lossy();
                    !relative.is_empty() && !ignore.excludes(&relative)
                })
            })
    }

    /// The context folders, watched with everything under them.
    fn trees(&self) -> BTreeSet<PathBuf> {
        self.contexts
            .iter()
            .map(|(folder, _)| folder.clone())
            .collect()
    }

    /// Everything watched, for the `Watching` event.
    fn names(&self) -> Vec<String> {
        self.files
            .iter()
            .chain(self.contexts.iter().map(|(folder, _)| folder))
            .map(|path| path.display().to_string())
            .collect()
    }
}

/// Waits for a change to one of `files`, then until no further change to them has come for
/// `quiet`; returns the files that changed (`None` when the event channel closed). Events for
/// other files in the same folders are ignored and do not delay the change.
pub async fn next_change(
    events: &mut mpsc::UnboundedReceiver<PathBuf>,
    files: &BTreeSet<PathBuf>,
    quiet: Duration,
) -> Option<BTreeSet<PathBuf>> {
    next_change_of(events, &|path| files.contains(path), quiet).await
}

/// [`next_change`] for the paths `watched` accepts.
pub async fn next_change_of(
    events: &mut mpsc::UnboundedReceiver<PathBuf>,
    watched: &dyn Fn(&Path) -> bool,
    quiet: Duration,
) -> Option<BTreeSet<PathBuf>> {
    let mut changed = BTreeSet::new();
    while changed.is_empty() {
        let path = events.recv().await?;
        if watched(&path) {
            changed.insert(path);
        }
    }
    let mut deadline = Instant::now() + quiet;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(path)) => {
                if watched(&path) {
                    changed.insert(path);
                    deadline = Instant::now() + quiet;
                }
            }
            Ok(None) | Err(_) => return Some(changed),
        }
    }
}

/// Every file a deployment was built from, with absolute paths.
pub fn watched_files(deployment: &Deployment) -> BTreeSet<PathBuf> {
    let mut files: BTreeSet<PathBuf> = deployment.project.source_files.iter().cloned().collect();
    if let Some(inventory) = &deployment.inventory.source {
        files.insert(inventory.clone());
    }
    files
        .into_iter()
        .map(|file| std::path::absolute(&file).unwrap_or(file))
        .collect()
}

fn folders_of(files: &BTreeSet<PathBuf>) -> BTreeSet<PathBuf> {
    files
        .iter()
        .filter_map(|file| file.parent().map(Path::to_path_buf))
        .collect()
}

/// Why watching could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The files are invalid at the start (nothing to keep running yet).
    #[error(transparent)]
    Load(#[from] deployment::DeploymentError),
    /// The first deployment could not start (a host unreachable, no host fits…).
    #[error(transparent)]
    Deploy(#[from] deploy::DeployError),
    /// The files cannot be watched.
    #[error(transparent)]
    Watcher(#[from] WatcherError),
}

/// What a watch did, when it ends.
#[derive(Debug, Clone, Default)]
pub struct WatchSummary {
    /// Changes applied (deployments run after the first).
    pub applied: usize,
    /// Changes whose files were invalid and left the deployment as it was.
    pub rejected: usize,
    /// Changes whose deployment had failed operations or could not start.
    pub failed: usize,
}

/// A deployment under way, as [`Deployer::deploy`] answers it.
pub type DeployFuture<'a> = Pin<Box<dyn Future<Output = Result<bool, deploy::DeployError>> + 'a>>;

/// What a watch runs for its first deployment and for every change.
pub trait Deployer {
    /// Deploys `deployment`; answers whether every operation succeeded.
    fn deploy<'a>(
        &'a mut self,
        deployment: &'a Deployment,
        options: &'a UpOptions,
        progress: &'a Progress,
    ) -> DeployFuture<'a>;

    /// The watch ends: stops what the deployments left running, and waits until it has.
    fn finish(&mut self) -> Pin<Box<dyn Future<Output = ()> + '_>>;
}

/// [`Deployer`] through [`deploy::up_reusing`]: each deployment reuses the previous one's
/// actors where it can; the last ones are kept (their connections reused) until
/// the next deployment replaces them or the watch ends.
#[derive(Default)]
pub struct ActorDeployer {
    /// The last deployment's actors, from its end until the next one replaces them (the old
    /// ones are stopped then) or [`Deployer::finish`] stops them.
    actors: Option<DeploymentActors>,
}

impl Deployer for ActorDeployer {
    /// Runs one deployment with the previous one's actors where they can be reused, keeping
    /// its actors (stopping the previous ones when they were replaced).
    fn deploy<'a>(
        &'a mut self,
        deployment: &'a Deployment,
        options: &'a UpOptions,
        progress: &'a Progress,
    ) -> DeployFuture<'a> {
        Box::pin(async move {
            let actors = &mut self.actors;
            let report = deploy::up_reusing(deployment, options, progress, actors.as_ref()).await?;
            if let Some(new) = report.actors {
                let same = actors
                    .as_ref()
                    .is_some_and(|old| old.generation == new.generation);
                if !same && let Some(old) = actors.replace(new) {
                    old.stop().await;
                }
            }
            for failed in &report.execution.failed {
                progress.emit(Event::Warning {
                    message: format!("failed: {}", failed.error),
                });
            }
            Ok(report.execution.is_success())
        })
    }

    fn finish(&mut self) -> Pin<Box<dyn Future<Output = ()> + '_>> {
        Box::pin(async move {
            if let Some(actors) = self.actors.take() {
                actors.stop().await;
            }
        })
    }
}

/// Deploys, then follows every change of the files until `shutdown` resolves. Must run in an
/// actix System.
pub async fn watch(
    options: &DeploymentOptions,
    up_options: &UpOptions,
    progress: &Progress,
    watcher: &mut dyn FolderWatcher,
    events: &mut mpsc::UnboundedReceiver<PathBuf>,
    shutdown: Pin<Box<dyn Future<Output = ()>>>,
) -> Result<WatchSummary, WatchError> {
    let mut deployer = ActorDeployer::default();
    watch_with(
        options,
        up_options,
        progress,
        watcher,
        events,
        shutdown,
        &mut deployer,
    )
    .await
}

/// [`watch`], deploying through `deployer`.
pub async fn watch_with(
    options: &DeploymentOptions,
    up_options: &UpOptions,
    progress: &Progress,
    watcher: &mut dyn FolderWatcher,
    events: &mut mpsc::UnboundedReceiver<PathBuf>,
    mut shutdown: Pin<Box<dyn Future<Output = ()>>>,
    deployer: &mut dyn Deployer,
) -> Result<WatchSummary, WatchError> {
    let mut summary = WatchSummary::default();
    let deployment = deployment::load(options)?;
    for warning in &deployment.warnings {
        progress.emit(Event::Warning {
            message: warning.to_string(),
        });
    }
    let mut watched = Watched::of(&deployment);
    // Watch before deploying, so an edit made during the first deployment is not missed.
    watcher
        .watch_folders(&folders_of(&watched.files))
        .map_err(WatchError::Watcher)?;
    watcher
        .watch_trees(&watched.trees())
        .map_err(WatchError::Watcher)?;
    deployer.deploy(&deployment, up_options, progress).await?;
    // Set while a change waits for an unreachable host: the files are loaded and applied
    // again after RETRY_UNREACHABLE (or at the next change, whichever comes first).
    let mut retry_pending = false;
    loop {
        if !retry_pending {
            progress.emit(Event::Watching {
                files: watched.names(),
            });
        }
        let is_watched = |path: &Path| watched.contains(path);
        let changed = tokio::select! {
            changed = next_change_of(events, &is_watched, DEBOUNCE) => changed,
            () = tokio::time::sleep(RETRY_UNREACHABLE), if retry_pending => Some(BTreeSet::new()),
            () = &mut shutdown => None,
        };
        let Some(changed) = changed else { break };
        let retrying = changed.is_empty();
        if !retrying {
            progress.emit(Event::Changed {
                files: changed.iter().map(|f| f.display().to_string()).collect(),
            });
        }
        let deployment = match deployment::load(options) {
            Ok(deployment) => deployment,
            Err(error) => {
                summary.rejected += 1;
                progress.emit(Event::Rejected {
                    error: error.to_string(),
                });
                continue;
            }
        };
        for warning in &deployment.warnings {
            progress.emit(Event::Warning {
                message: warning.to_string(),
            });
        }
        watched = Watched::of(&deployment);
        let watching = watcher
            .watch_folders(&folders_of(&watched.files))
            .and_then(|()| watcher.watch_trees(&watched.trees()));
        if let Err(error) = watching {
            progress.emit(Event::Warning {
                message: error.to_string(),
            });
        }
        if !retrying {
            summary.applied += 1;
        }
        // While watching, the files are the truth: a service deleted from them is removed.
        let options = UpOptions {
            remove_orphans: true,
            ..up_options.clone()
        };
        let result = deployer.deploy(&deployment, &options, progress).await;
        if retry_pending && !matches!(result, Err(deploy::DeployError::Unreachable(_))) {
            progress.emit(Event::Warning {
                message: "every host answers again; the pending change was applied".to_string(),
            });
        }
        match result {
            Ok(true) => retry_pending = false,
            Ok(false) => {
                retry_pending = false;
                summary.failed += 1;
            }
            Err(deploy::DeployError::Unreachable(error)) => {
                if !retry_pending {
                    summary.failed += 1;
                    progress.emit(Event::Warning {
                        message: format!(
                            "{error}; nothing was changed on any host and the running containers are left as they are; trying again every {} s until it answers",
                            RETRY_UNREACHABLE.as_secs()
                        ),
                    });
                }
                retry_pending = true;
            }
            Err(error) => {
                retry_pending = false;
                summary.failed += 1;
                progress.emit(Event::Warning {
                    message: error.to_string(),
                });
            }
        }
    }
    deployer.finish().await;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(paths: &[&str]) -> BTreeSet<PathBuf> {
        paths.iter().map(PathBuf::from).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_saves_is_one_change_once_the_files_are_quiet() {
        let (sender, mut receiver) = mpsc::unbounded_channel();
        let files = set(&["/p/compose.yaml", "/p/.env"]);
        let started = Instant::now();
        tokio::spawn(async move {
            // An editor's save: temp file, rename, then the .env a moment later.
            sender.send(PathBuf::from("/p/.compose.yaml.swp")).unwrap();
            sender.send(PathBuf::from("/p/compose.yaml")).unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
            sender.send(PathBuf::from("/p/.env")).unwrap();
            // Then only unrelated writes (a log file in the same folder), which must not
            // hold the change back.
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                sender.send(PathBuf::from("/p/app.log")).unwrap();
            }
            std::future::pending::<()>().await;
        });
        let changed = next_change(&mut receiver, &files, DEBOUNCE).await.unwrap();
        assert_eq!(changed, files);
        // Applied DEBOUNCE after the last relevant event (at 200 ms), not after the log noise.
        assert_eq!(started.elapsed(), Duration::from_millis(200) + DEBOUNCE);
    }

    #[tokio::test(start_paused = true)]
    async fn unrelated_files_are_no_change_and_a_closed_channel_ends_the_wait() {
        let (sender, mut receiver) = mpsc::unbounded_channel();
        sender.send(PathBuf::from("/p/notes.txt")).unwrap();
        drop(sender);
        assert_eq!(
            next_change(&mut receiver, &set(&["/p/compose.yaml"]), DEBOUNCE).await,
            None
        );
    }

    /// Records the folders it is asked to watch.
    #[derive(Default)]
    struct RecordingWatcher {
        folders: Vec<BTreeSet<PathBuf>>,
        trees: Vec<BTreeSet<PathBuf>>,
    }

    impl FolderWatcher for RecordingWatcher {
        fn watch_folders(&mut self, folders: &BTreeSet<PathBuf>) -> Result<(), WatcherError> {
            self.folders.push(folders.clone());
            Ok(())
        }

        fn watch_trees(&mut self, trees: &BTreeSet<PathBuf>) -> Result<(), WatcherError> {
            self.trees.push(trees.clone());
            Ok(())
        }
    }

    /// Counts deployments and the services each one had; every one succeeds.
    struct CountingDeployer {
        deployed: std::rc::Rc<std::cell::RefCell<Vec<Vec<String>>>>,
        finished: bool,
    }

    impl Deployer for CountingDeployer {
        fn deploy<'a>(
            &'a mut self,
            deployment: &'a Deployment,
            _: &'a UpOptions,
            _: &'a Progress,
        ) -> DeployFuture<'a> {
            let services = deployment.project.services.keys().cloned().collect();
            self.deployed.borrow_mut().push(services);
            Box::pin(std::future::ready(Ok(true)))
        }

        fn finish(&mut self) -> Pin<Box<dyn Future<Output = ()> + '_>> {
            self.finished = true;
            Box::pin(std::future::ready(()))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_changes_is_one_redeployment() {
        let folder = tempfile::tempdir().unwrap();
        let compose = folder.path().join("compose.yaml");
        let hosts = folder.path().join("nap-hosts.yml");
        std::fs::write(&compose, "services:\n  web:\n    image: nap/web\n").unwrap();
        std::fs::write(&hosts, "hosts:\n  h1:\n    docker: tcp://10.0.0.1:2375\n").unwrap();
        let options = DeploymentOptions {
            compose: nap_core::compose::LoadOptions {
                working_dir: folder.path().to_path_buf(),
                ..Default::default()
            },
            hosts_file: Some(hosts.clone()),
        };
        let deployed = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut deployer = CountingDeployer {
            deployed: deployed.clone(),
            finished: false,
        };
        let mut watcher = RecordingWatcher::default();
        let (sender, mut events) = mpsc::unbounded_channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = Box::pin(async move {
            let _ = stopped.await;
        });
        let edits = {
            let deployed = deployed.clone();
            let compose = compose.clone();
            async move {
                assert_eq!(deployed.borrow().len(), 1, "the first deployment");
                // An editor's save, a second save and an inventory edit, within the debounce
                // of each other; then a service is added by the last write.
                std::fs::write(
                    &compose,
                    "services:\n  web:\n    image: nap/web\n  db:\n    image: nap/db\n",
                )
                .unwrap();
                for (path, after) in [(&compose, 0), (&compose, 100), (&hosts, 250)] {
                    tokio::time::sleep(Duration::from_millis(after)).await;
                    sender.send(path.clone()).unwrap();
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
                let _ = stop.send(());
            }
        };
        let progress = Progress::recording();
        let up_options = UpOptions::default();
        let watching = watch_with(
            &options,
            &up_options,
            &progress,
            &mut watcher,
            &mut events,
            shutdown,
            &mut deployer,
        );
        let (summary, ()) = tokio::join!(watching, edits);
        let summary = summary.expect("the watch ends cleanly");
        assert_eq!(summary.applied, 1, "{summary:?}");
        assert_eq!(
            *deployed.borrow(),
            vec![
                vec!["web".to_string()],
                vec!["db".to_string(), "web".to_string()]
            ]
        );
        assert!(deployer.finished, "the deployer was finished");
        let folder = std::path::absolute(folder.path()).unwrap();
        assert_eq!(watcher.folders[0], BTreeSet::from([folder]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_saved_source_file_of_a_build_context_is_one_redeployment_an_ignored_one_none() {
        let folder = tempfile::tempdir().unwrap();
        let root = std::path::absolute(folder.path()).unwrap();
        let compose = root.join("compose.yaml");
        let hosts = root.join("nap-hosts.yml");
        let context = root.join("web");
        std::fs::create_dir_all(context.join("src")).unwrap();
        std::fs::write(&compose, "services:\n  web:\n    build: ./web\n").unwrap();
        std::fs::write(&hosts, "hosts:\n  h1:\n    docker: tcp://10.0.0.1:2375\n").unwrap();
        std::fs::write(context.join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(context.join(".dockerignore"), "*.log\n").unwrap();
        std::fs::write(context.join("src/app.py"), "print(1)\n").unwrap();
        let options = DeploymentOptions {
            compose: nap_core::compose::LoadOptions {
                working_dir: root.clone(),
                ..Default::default()
            },
            hosts_file: Some(hosts.clone()),
        };
        let deployed = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut deployer = CountingDeployer {
            deployed: deployed.clone(),
            finished: false,
        };
        let mut watcher = RecordingWatcher::default();
        let (sender, mut events) = mpsc::unbounded_channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = Box::pin(async move {
            let _ = stopped.await;
        });
        let edits = {
            let deployed = deployed.clone();
            let context = context.clone();
            async move {
                // A log the context's .dockerignore leaves out: no change.
                sender.send(context.join("debug.log")).unwrap();
                tokio::time::sleep(Duration::from_secs(1)).await;
                assert_eq!(
                    deployed.borrow().len(),
                    1,
                    "an ignored file deploys nothing"
                );
                // An editor saving a source file: two events, one change.
                sender.send(context.join("src/app.py")).unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
                sender.send(context.join("src/app.py")).unwrap();
                tokio::time::sleep(Duration::from_secs(2)).await;
                let _ = stop.send(());
            }
        };
        let progress = Progress::recording();
        let up_options = UpOptions::default();
        let watching = watch_with(
            &options,
            &up_options,
            &progress,
            &mut watcher,
            &mut events,
            shutdown,
            &mut deployer,
        );
        let (summary, ()) = tokio::join!(watching, edits);
        let summary = summary.expect("the watch ends cleanly");
        assert_eq!(summary.applied, 1, "{summary:?}");
        assert_eq!(
            deployed.borrow().len(),
            2,
            "the first deployment and one more"
        );
        assert_eq!(watcher.trees[0], BTreeSet::from([context]));
    }

    #[test]
    fn folders_are_the_parents_of_the_files() {
        assert_eq!(
            folders_of(&set(&["/p/compose.yaml", "/p/.env", "/q/hosts.yml"])),
            set(&["/p", "/q"])
        );
    }
}
