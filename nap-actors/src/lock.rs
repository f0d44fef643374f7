//! One deployer per project: an exclusive lock that `up`, `watch` and `down` hold while they
//! change a project's hosts.
//!
//! The lock is a file per project locked with the operating system's advisory file lock, so
//! it is released by the kernel when nap exits in any way, SIGKILL included: a crashed nap
//! never leaves a stale lock. The file holds the holder's pid, command and start time, which a
//! refused nap prints. It guards against two nap processes on the same machine; deployers on
//! different machines are not coordinated.
//!
//! The files live in a folder of the user's own: `$XDG_RUNTIME_DIR/nap/locks` when that
//! variable names a folder owned by this user that nobody else can write to, else
//! `$TMPDIR/nap-<uid>/locks` (`/tmp/nap-<uid>/locks` without `TMPDIR`) — under `sudo`, cron or
//! CI, where the temporary folder is shared with other users. nap walks the path one folder at
//! a time with `openat` and `O_NOFOLLOW`, creating its folders with mode 0700, and on every use
//! refuses a folder that is a symbolic link, is owned by another user, or is writable by group
//! or others (one that is only readable by them is tightened to 0700). The lock file itself is
//! opened with `O_NOFOLLOW` and without truncation, and must be a regular file with one name,
//! owned by this user; only after the lock is held is the holder line rewritten. So another
//! local user cannot make nap (root, say) write through a planted symbolic or hard link.

use std::ffi::{CString, OsStr};
use std::fs::{File, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another nap holds it.
    #[error(
        "project {project:?} is already being deployed by another nap ({holder}); wait for it to finish, or stop it (a `nap watch` holds the project until it ends)"
    )]
    Held {
        /// The project.
        project: String,
        /// What the lock file says of its holder.
        holder: String,
    },
    /// A folder on the lock's path, or the lock file, is not safely this user's.
    #[error(
        "cannot lock project {project:?}: {} {problem}; nap refuses to use it (remove it, or point TMPDIR at a folder of your own)",
        path.display()
    )]
    Unsafe {
        /// The project.
        project: String,
        /// The folder or file at fault.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The lock file cannot be used.
    #[error("cannot lock project {project:?} with {}: {error}", path.display())]
    Io {
        /// The project.
        project: String,
        /// The lock file (or the folder that failed).
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
}

/// A held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct ProjectLock {
    _file: File,
}

/// The user nap runs as (the effective uid: what owns the files it creates).
fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Where the lock folders start and which folders nap makes below it: `$XDG_RUNTIME_DIR` and
/// `nap/locks` when that folder is usable, else the temporary folder and `nap-<uid>/locks`.
fn lock_root() -> (PathBuf, [String; 2]) {
    let uid = effective_uid();
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute() && runtime_dir_is_ours(path, uid));
    match runtime {
        Some(runtime) => (runtime, ["nap".to_string(), "locks".to_string()]),
        None => (
            std::env::temp_dir(),
            [format!("nap-{uid}"), "locks".to_string()],
        ),
    }
}

/// `$XDG_RUNTIME_DIR` is used only when it is a folder of this user that nobody else can
/// write to (under `sudo` it is often still the invoking user's).
fn runtime_dir_is_ours(path: &Path, uid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).is_ok_and(|metadata| {
        metadata.is_dir() && metadata.uid() == uid && metadata.mode() & 0o022 == 0
    })
}

/// The folder holding the lock files (see the module docs).
pub fn lock_dir() -> PathBuf {
    let (root, [top, locks]) = lock_root();
    root.join(top).join(locks)
}

/// Where a project's lock file is.
pub fn lock_path(project: &str) -> PathBuf {
    lock_dir().join(format!("{project}.lock"))
}

/// Takes the project's lock, or says who holds it.
pub fn lock_project(project: &str, command: &str) -> Result<ProjectLock, LockError> {
    let (root, folders) = lock_root();
    lock_project_under(&root, &folders, project, command)
}

/// What the checks found wrong with a folder or file, as [`LockError::Unsafe`] says it.
fn unsafe_error(project: &str, path: &Path, problem: String) -> LockError {
    LockError::Unsafe {
        project: project.to_string(),
        path: path.to_path_buf(),
        problem,
    }
}

/// `fstat` of an open descriptor.
fn fstat(fd: &OwnedFd) -> std::io::Result<libc::stat> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `fd` is an open descriptor and `stat` points to writable memory of the right size.
    let status = unsafe { libc::fstat(fd.as_raw_fd(), stat.as_mut_ptr()) };
    if status != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fstat succeeded, so it filled the buffer.
    Ok(unsafe { stat.assume_init() })
}

/// A single path component as a C string; `None` for names that are not one component.
fn component(name: &OsStr) -> Option<CString> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes == b"." || bytes == b".." || bytes.contains(&b'/') {
        return None;
    }
    CString::new(bytes).ok()
}

/// `openat(dir, name, flags, mode)`, the descriptor owned.
fn open_at(dir: &OwnedFd, name: &CString, flags: i32, mode: u32) -> std::io::Result<OwnedFd> {
    // SAFETY: `dir` is an open descriptor and `name` a NUL-terminated string that outlives
    // the call.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: openat returned a new descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// What a path that `O_NOFOLLOW` refused is (for the message).
fn describe_refused(path: &Path) -> String {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_symlink() => match std::fs::read_link(path) {
            Ok(target) => format!("is a symbolic link (to {})", target.display()),
            Err(_) => "is a symbolic link".to_string(),
        },
        Ok(_) => "is not a folder".to_string(),
        Err(error) => format!("cannot be inspected: {error}"),
    }
}

/// Opens (creating it with mode 0700 if missing) the folder `name` inside `parent`, without
/// following a symbolic link, and checks that it is this user's and closed to others.
fn open_private_folder(
    parent: &OwnedFd,
    parent_path: &Path,
    name: &str,
    project: &str,
) -> Result<(OwnedFd, PathBuf), LockError> {
    let path = parent_path.join(name);
    let c_name = component(OsStr::new(name))
        .ok_or_else(|| unsafe_error(project, &path, "is not a single folder name".to_string()))?;
    // SAFETY: `parent` is an open folder descriptor and `c_name` a NUL-terminated string.
    let made = unsafe { libc::mkdirat(parent.as_raw_fd(), c_name.as_ptr(), 0o700) };
    if made != 0 {
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(LockError::Io {
                project: project.to_string(),
                path,
                error,
            });
        }
    }
    let folder = match open_at(
        parent,
        &c_name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    ) {
        Ok(folder) => folder,
        Err(error) if matches!(error.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
            return Err(unsafe_error(project, &path, describe_refused(&path)));
        }
        Err(error) => {
            return Err(LockError::Io {
                project: project.to_string(),
                path,
                error,
            });
        }
    };
    let io = |error| LockError::Io {
        project: project.to_string(),
        path: path.clone(),
        error,
    };
    let stat = fstat(&folder).map_err(io)?;
    owned_by_us(project, &path, &stat)?;
    let mode = stat.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        return Err(unsafe_error(
            project,
            &path,
            format!("is writable by group or others (mode {mode:04o}, nap needs 0700)"),
        ));
    }
    if mode & 0o077 != 0 {
        // Ours and writable only by us, but readable by others (made by an older nap):
        // tighten it, through the descriptor just checked.
        // SAFETY: `folder` is an open descriptor.
        if unsafe { libc::fchmod(folder.as_raw_fd(), 0o700) } != 0 {
            return Err(io(std::io::Error::last_os_error()));
        }
    }
    Ok((folder, path))
}

/// Refuses `path` (a folder or the lock file, as `stat` describes it) unless it is owned by
/// the effective user running nap.
fn owned_by_us(project: &str, path: &Path, stat: &libc::stat) -> Result<(), LockError> {
    let uid = effective_uid();
    if stat.st_uid == uid {
        return Ok(());
    }
    Err(unsafe_error(
        project,
        path,
        format!(
            "is owned by uid {}, not by uid {uid} that runs nap",
            stat.st_uid
        ),
    ))
}

/// Takes the lock `root/<folders…>/<project>.lock`; the root is trusted as given (it is the
/// user's `XDG_RUNTIME_DIR` or `TMPDIR`), every folder below it is checked.
fn lock_project_under(
    root: &Path,
    folders: &[String],
    project: &str,
    command: &str,
) -> Result<ProjectLock, LockError> {
    let file_name = format!("{project}.lock");
    let io = |path: &Path, error| LockError::Io {
        project: project.to_string(),
        path: path.to_path_buf(),
        error,
    };
    let c_root = CString::new(root.as_os_str().as_bytes())
        .map_err(|_| unsafe_error(project, root, "contains a NUL byte".to_string()))?;
    // SAFETY: `c_root` is a NUL-terminated path.
    let fd = unsafe {
        libc::open(
            c_root.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io(root, std::io::Error::last_os_error()));
    }
    // SAFETY: open returned a new descriptor nothing else owns.
    let mut folder = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut folder_path = root.to_path_buf();
    for name in folders {
        (folder, folder_path) = open_private_folder(&folder, &folder_path, name, project)?;
    }
    let path = folder_path.join(&file_name);
    let c_file = component(OsStr::new(&file_name)).ok_or_else(|| {
        unsafe_error(
            project,
            &path,
            "is not a file name (the project name is invalid)".to_string(),
        )
    })?;
    // Never O_TRUNC: the file is emptied only once it is known to be ours and locked.
    let descriptor = match open_at(
        &folder,
        &c_file,
        libc::O_RDWR | libc::O_CREAT | libc::O_NOFOLLOW,
        0o600,
    ) {
        Ok(descriptor) => descriptor,
        Err(error) if error.raw_os_error() == Some(libc::ELOOP) => {
            return Err(unsafe_error(project, &path, describe_refused(&path)));
        }
        Err(error) => return Err(io(&path, error)),
    };
    let stat = fstat(&descriptor).map_err(|error| io(&path, error))?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(unsafe_error(
            project,
            &path,
            "is not a regular file".to_string(),
        ));
    }
    owned_by_us(project, &path, &stat)?;
    if stat.st_nlink != 1 {
        return Err(unsafe_error(
            project,
            &path,
            format!("has {} names (a hard link to another file)", stat.st_nlink),
        ));
    }
    let mut file = File::from(descriptor);
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = (&file).take(4096).read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(LockError::Held {
                project: project.to_string(),
                holder: if holder.is_empty() {
                    "holder unknown".to_string()
                } else {
                    holder.to_string()
                },
            });
        }
        Err(TryLockError::Error(error)) => return Err(io(&path, error)),
    }
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    file.set_len(0).map_err(|error| io(&path, error))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|error| io(&path, error))?;
    writeln!(
        file,
        "pid {} running `nap {command}` since {started} (unix time)",
        std::process::id()
    )
    .map_err(|error| io(&path, error))?;
    Ok(ProjectLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn folders() -> [String; 2] {
        [format!("nap-{}", effective_uid()), "locks".to_string()]
    }

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_freed_with_the_first() {
        let root = tempfile::tempdir().unwrap();
        let first = lock_project_under(root.path(), &folders(), "shop", "up").expect("first");
        let error = lock_project_under(root.path(), &folders(), "shop", "up").expect_err("second");
        let text = error.to_string();
        assert!(text.contains("already being deployed"), "{text}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(first);
        let again = lock_project_under(root.path(), &folders(), "shop", "down").expect("free");
        drop(again);
        let top = root.path().join(&folders()[0]);
        for folder in [top.clone(), top.join("locks")] {
            let mode = std::fs::metadata(&folder).unwrap().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", folder.display());
        }
        let holder = std::fs::read_to_string(top.join("locks/shop.lock")).unwrap();
        assert!(holder.contains("`nap down`"), "{holder}");
        assert_eq!(holder.lines().count(), 1, "{holder}");
    }

    #[test]
    fn a_symbolic_link_as_lock_file_or_folder_is_refused_and_its_target_untouched() {
        let root = tempfile::tempdir().unwrap();
        let victim = root.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let top = root.path().join(&folders()[0]);
        std::fs::create_dir(&top).unwrap();
        std::fs::set_permissions(&top, std::fs::Permissions::from_mode(0o700)).unwrap();
        // The locks folder as a link to a folder holding a link named like the lock.
        let elsewhere = root.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&victim, elsewhere.join("shop.lock")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, top.join("locks")).unwrap();
        let text = lock_project_under(root.path(), &folders(), "shop", "up")
            .expect_err("a linked folder")
            .to_string();
        assert!(text.contains("locks is a symbolic link"), "{text}");
        // The lock file as a link.
        std::fs::remove_file(top.join("locks")).unwrap();
        std::fs::create_dir(top.join("locks")).unwrap();
        std::fs::set_permissions(top.join("locks"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        std::os::unix::fs::symlink(&victim, top.join("locks/shop.lock")).unwrap();
        let text = lock_project_under(root.path(), &folders(), "shop", "up")
            .expect_err("a linked file")
            .to_string();
        assert!(text.contains("shop.lock is a symbolic link"), "{text}");
        // A hard link.
        std::fs::remove_file(top.join("locks/shop.lock")).unwrap();
        std::fs::hard_link(&victim, top.join("locks/shop.lock")).unwrap();
        let text = lock_project_under(root.path(), &folders(), "shop", "up")
            .expect_err("a hard link")
            .to_string();
        assert!(text.contains("has 2 names"), "{text}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    }

    #[test]
    fn a_folder_open_to_others_is_refused_and_one_only_readable_is_tightened() {
        let root = tempfile::tempdir().unwrap();
        let top = root.path().join(&folders()[0]);
        std::fs::create_dir(&top).unwrap();
        std::fs::set_permissions(&top, std::fs::Permissions::from_mode(0o777)).unwrap();
        let text = lock_project_under(root.path(), &folders(), "shop", "up")
            .expect_err("world-writable")
            .to_string();
        assert!(
            text.contains("is writable by group or others (mode 0777"),
            "{text}"
        );
        std::fs::set_permissions(&top, std::fs::Permissions::from_mode(0o755)).unwrap();
        lock_project_under(root.path(), &folders(), "shop", "up").expect("readable only");
        assert_eq!(std::fs::metadata(&top).unwrap().mode() & 0o777, 0o700);
    }
}
