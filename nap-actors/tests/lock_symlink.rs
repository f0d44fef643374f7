//! The real `nap down` and the project lock in a shared temporary folder (no
//! `XDG_RUNTIME_DIR`, as under sudo, cron or CI): a folder planted by another user, or a
//! symbolic link planted as the lock file, is refused with the path named and the link's
//! target untouched; an ordinary lock is made in a 0700 folder of nap's own and a held one is
//! refused naming its holder. The daemon is a socket that does not exist: nothing is contacted.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Output;

mod common;

use common::nap_command;

fn uid() -> u32 {
    std::fs::metadata("/proc/self").unwrap().uid()
}

/// A project folder with a compose file and a temporary folder `tmp/` for nap.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    image: nap/busybox:lab\n",
    )
    .unwrap();
    dir
}

fn nap_down(dir: &Path, project: &str) -> Output {
    nap_command(dir)
        .args(["-p", project, "down"])
        .env_remove("XDG_RUNTIME_DIR")
        .env("TMPDIR", dir.join("tmp"))
        .env(
            "DOCKER_HOST",
            format!("unix://{}", dir.join("absent.sock").display()),
        )
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Plants `<top>/locks/<project>.lock -> victim`, in nap's folder and in the layout older
/// versions used (`$TMPDIR/nap/locks`), so the test fails on either.
fn plant(dir: &Path, top: &str, project: &str, victim: &Path, owner: Option<u32>) {
    let locks = dir.join("tmp").join(top).join("locks");
    std::fs::create_dir_all(&locks).unwrap();
    std::os::unix::fs::symlink(victim, locks.join(format!("{project}.lock"))).unwrap();
    if let Some(owner) = owner {
        for folder in [locks.parent().unwrap(), &locks] {
            std::os::unix::fs::chown(folder, Some(owner), Some(owner)).unwrap();
        }
    }
}

#[test]
fn a_lock_folder_planted_by_another_user_is_refused_and_the_target_untouched() {
    if uid() != 0 {
        eprintln!("skipped: needs root to plant a folder owned by another user");
        return;
    }
    let dir = project();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    plant(dir.path(), "nap", "lockplanted", &victim, Some(65534));
    plant(dir.path(), "nap-0", "lockplanted", &victim, Some(65534));
    let output = nap_down(dir.path(), "lockplanted");
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("nap-0 is owned by uid 65534, not by uid 0 that runs nap"),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}

#[test]
fn a_symbolic_link_as_the_lock_file_in_our_folder_is_refused() {
    let dir = project();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let top = format!("nap-{}", uid());
    plant(dir.path(), "nap", "locklink", &victim, None);
    plant(dir.path(), &top, "locklink", &victim, None);
    for folder in [top.clone(), format!("{top}/locks")] {
        let folder = dir.path().join("tmp").join(folder);
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let output = nap_down(dir.path(), "locklink");
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("locklink.lock is a symbolic link"), "{text}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}

#[test]
fn an_ordinary_lock_is_made_in_a_private_folder_and_a_held_one_is_refused() {
    let dir = project();
    let output = nap_down(dir.path(), "lockplain");
    let text = stderr(&output);
    // Past the lock: the missing daemon is what fails.
    assert!(text.contains("absent.sock"), "{text}");
    let top = dir.path().join("tmp").join(format!("nap-{}", uid()));
    for folder in [top.clone(), top.join("locks")] {
        let metadata = std::fs::symlink_metadata(&folder).unwrap();
        assert_eq!(metadata.mode() & 0o777, 0o700, "{}", folder.display());
    }
    let path = top.join("locks/lockplain.lock");
    let holder = std::fs::read_to_string(&path).unwrap();
    assert!(holder.contains("running `nap down`"), "{holder}");
    // Held by another process: refused, naming the holder.
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.lock().unwrap();
    std::fs::write(&path, "pid 4242 running `nap watch` since 0 (unix time)\n").unwrap();
    let output = nap_down(dir.path(), "lockplain");
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("already being deployed by another nap (pid 4242 running `nap watch`"),
        "{text}"
    );
    drop(file);
}
