//! One deployer per project: an exclusive lock that `up`, `watch` and `down` hold while they
//! change a project's hosts.
//!
//! The lock is a file per project (`$XDG_RUNTIME_DIR/nap/locks/<project>.lock`, else under the
//! temporary folder) locked with the operating system's advisory file lock, so it is released
//! by the kernel when nap exits in any way, SIGKILL included: a crashed nap never leaves a
//! stale lock. The file holds the holder's pid, command and start time, which a refused nap
//! prints. It guards against two nap processes on the same machine; deployers on different
//! machines are not coordinated.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

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
    /// The lock file cannot be used.
    #[error("cannot lock project {project:?} with {}: {error}", path.display())]
    Io {
        /// The project.
        project: String,
        /// The lock file.
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

/// Where a project's lock file is.
pub fn lock_path(project: &str) -> PathBuf {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    base.join("nap")
        .join("locks")
        .join(format!("{project}.lock"))
}

/// Takes the project's lock, or says who holds it.
pub fn lock_project(project: &str, command: &str) -> Result<ProjectLock, LockError> {
    let path = lock_path(project);
    let io = |error| LockError::Io {
        project: project.to_string(),
        path: path.clone(),
        error,
    };
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(io)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
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
        Err(TryLockError::Error(error)) => return Err(io(error)),
    }
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    writeln!(
        file,
        "pid {} running `nap {command}` since {started} (unix time)",
        std::process::id()
    )
    .map_err(io)?;
    Ok(ProjectLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_freed_with_the_first() {
        let project = format!("locktest-{}", std::process::id());
        let first = lock_project(&project, "up").expect("first lock");
        let error = lock_project(&project, "up").expect_err("second lock");
        let text = error.to_string();
        assert!(text.contains("already being deployed"), "{text}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(first);
        let again = lock_project(&project, "down").expect("free again");
        drop(again);
        let _ = std::fs::remove_file(lock_path(&project));
    }
}
