//! When nap may run plugin code: the real `nap` binary and a test plugin whose ELF
//! constructor writes a marker file the moment the library is loaded. An inventory nap finds
//! by itself beside the compose file (it may have come with a cloned repository) loads no
//! plugin without consent — not for `nap config`, `nap plan --offline` or `nap plugins` — and
//! the refusal names the inventory, the plugin and how to allow it; a named inventory
//! (`--hosts`, `$NAP_HOSTS`) or `--allow-plugins` / `NAP_ALLOW_PLUGINS=1` loads it; a plugin
//! file that someone else could change is refused before it is loaded. Needs no lab.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::{nap_command, plugin_library, text};

/// A project folder that looks like a cloned repository: a compose file and, beside it, an
/// inventory whose `plugins:` lists `plugin`.
struct ClonedRepository {
    dir: tempfile::TempDir,
    marker: PathBuf,
}

impl ClonedRepository {
    fn new(plugin: &Path) -> ClonedRepository {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("compose.yaml"),
            "name: cloned\nservices:\n  web:\n    image: nap/busybox:lab\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("nap-hosts.yml"),
            format!(
                "hosts:\n  h1: {{docker: 'unix:///nonexistent/h1.sock', address: 10.210.9.1}}\nnetwork: {{mode: published}}\nplugins: ['{}']\n",
                plugin.display()
            ),
        )
        .unwrap();
        let marker = dir.path().join("plugin-was-loaded");
        ClonedRepository { dir, marker }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn inventory(&self) -> PathBuf {
        self.path().join("nap-hosts.yml")
    }

    /// `nap ARGS…` in the project folder, with `env` set and no inventory or consent from the
    /// test's own environment.
    fn nap(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = nap_command(self.path());
        command
            .args(args)
            .env("NAP_TEST_PLUGIN_MARKER", &self.marker);
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().unwrap()
    }

    fn plugin_ran(&self) -> bool {
        self.marker.exists()
    }
}

/// Variables a case sets.
type Env = &'static [(&'static str, &'static str)];

const PLAN: &[&str] = &["plan", "--offline", "--format", "json"];

fn ctor() -> PathBuf {
    plugin_library("nap-plugin-testing-ctor")
}

#[test]
fn a_found_inventory_runs_no_plugin_code_without_consent() {
    let plugin = ctor();
    let repository = ClonedRepository::new(&plugin);
    for args in [PLAN, &["plugins"], &["config"], &["config", "--services"]] {
        let output = repository.nap(args, &[]);
        assert!(
            !repository.plugin_ran(),
            "nap {args:?} ran the plugin's constructor; stderr: {}",
            text(&output.stderr)
        );
        if args[0] == "config" {
            assert!(output.status.success(), "{}", text(&output.stderr));
            continue;
        }
        assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
        let stderr = text(&output.stderr);
        for needle in [
            repository.inventory().display().to_string(),
            plugin.display().to_string(),
            "--allow-plugins".to_string(),
            "--hosts".to_string(),
            "NAP_HOSTS".to_string(),
        ] {
            assert!(
                stderr.contains(&needle),
                "nap {args:?}: stderr lacks {needle:?}: {stderr}"
            );
        }
    }
    let refused = repository.nap(PLAN, &[("NAP_ALLOW_PLUGINS", "0")]);
    assert!(!refused.status.success(), "{}", text(&refused.stderr));
    assert!(!repository.plugin_ran());
}

#[test]
fn a_named_inventory_or_consent_loads_the_plugin() {
    let plugin = ctor();
    let cases: [(&[&str], Env); 4] = [
        (&["--hosts", "nap-hosts.yml"], &[]),
        (&[], &[("NAP_HOSTS", "nap-hosts.yml")]),
        (&["--allow-plugins"], &[]),
        (&[], &[("NAP_ALLOW_PLUGINS", "1")]),
    ];
    for (flags, env) in cases {
        let repository = ClonedRepository::new(&plugin);
        let args: Vec<&str> = flags.iter().chain(PLAN).copied().collect();
        let output = repository.nap(&args, env);
        assert!(
            output.status.success(),
            "nap {args:?} with {env:?}: {}",
            text(&output.stderr)
        );
        assert!(
            repository.plugin_ran(),
            "nap {args:?} with {env:?} did not load the plugin"
        );
    }
}

/// A copy of the test plugin in a fresh folder, for changing its owner and modes.
fn plugin_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("plugins");
    std::fs::create_dir(&folder).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = folder.join("libctor.so");
    std::fs::copy(ctor(), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, copy)
}

/// `nap --plugin PLUGIN plugins --format json` in a project with no inventory plugins.
fn plugins_with(plugin: &Path) -> (Output, bool) {
    let repository = ClonedRepository::new(Path::new("/nonexistent/unused.so"));
    std::fs::write(
        repository.inventory(),
        "hosts:\n  h1: {docker: 'unix:///nonexistent/h1.sock', address: 10.210.9.1}\nnetwork: {mode: published}\n",
    )
    .unwrap();
    let output = repository.nap(
        &[
            "--plugin",
            &plugin.display().to_string(),
            "plugins",
            "--format",
            "json",
        ],
        &[],
    );
    (output, repository.plugin_ran())
}

#[test]
fn a_plugin_file_or_folder_others_can_write_is_refused_before_loading() {
    let (_dir, copy) = plugin_copy();
    let (output, ran) = plugins_with(&copy);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(ran, "the safe copy should load");

    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o775)).unwrap();
    let (output, ran) = plugins_with(&copy);
    let stderr = text(&output.stderr);
    assert!(!ran, "a group-writable plugin was loaded");
    assert!(!output.status.success());
    assert!(
        stderr.contains("refusing to load this plugin")
            && stderr.contains("writable by its group")
            && stderr.contains(&copy.display().to_string()),
        "{stderr}"
    );

    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let folder = copy.parent().unwrap();
    std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (output, ran) = plugins_with(&copy);
    let stderr = text(&output.stderr);
    assert!(!ran, "a plugin in a world-writable folder was loaded");
    assert!(
        stderr.contains(&format!("the folder {}", folder.display()))
            && stderr.contains("writable by everyone"),
        "{stderr}"
    );
}

#[test]
fn a_plugin_owned_by_another_user_is_refused() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: only root can give a file to another user");
        return;
    }
    let (_dir, copy) = plugin_copy();
    std::os::unix::fs::chown(&copy, Some(65534), Some(65534)).unwrap();
    let (output, ran) = plugins_with(&copy);
    let stderr = text(&output.stderr);
    assert!(!ran, "a plugin owned by uid 65534 was loaded");
    assert!(stderr.contains("owned by uid 65534"), "{stderr}");
}

#[test]
fn a_symlinked_plugin_is_loaded_by_its_real_path() {
    let (dir, copy) = plugin_copy();
    let link = dir.path().join("link.so");
    std::os::unix::fs::symlink(&copy, &link).unwrap();
    let (output, ran) = plugins_with(&link);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(ran);
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        listed[0]["path"],
        serde_json::json!(copy.canonicalize().unwrap()),
        "{listed:#}"
    );
}
