//! A build context read from its folder: the files `.dockerignore` leaves in (Docker's
//! rules, from `nap_core::build::ignore`; the Dockerfile and `.dockerignore` are always sent,
//! as the Docker CLI does), each digested, the content hash, and the tar sent to the builder.
//! Symbolic links are sent as links, never followed; sockets and devices are left out.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nap_core::build::{ContextEntry, EntryKind, IgnoreFile, context_hash};
use nap_core::compose::{Build, is_remote_context};
use sha2::{Digest, Sha256};

use super::BuildError;

/// The name an inline Dockerfile (or one outside the context) has in the tar.
const EXTRA_DOCKERFILE: &str = ".nap.Dockerfile";

/// The largest context nap sends (the tar is held in memory while it is sent).
const MAX_CONTEXT_BYTES: u64 = 2 << 30;

/// One context, read.
#[derive(Debug, Clone)]
pub struct Context {
    /// The folder.
    pub root: PathBuf,
    /// What is sent, with where each entry is on disk.
    pub entries: Vec<(ContextEntry, PathBuf)>,
    /// The Dockerfile's path in the tar.
    pub dockerfile: String,
    /// A Dockerfile that is not a file of the context (inline, or outside it): its bytes,
    /// sent as [`EXTRA_DOCKERFILE`].
    pub extra_dockerfile: Option<Vec<u8>>,
    /// The content hash ([`nap_core::build::context_hash`]).
    pub hash: String,
}

/// The context folder of `build` (`project_dir` when it names none).
pub fn context_folder(build: &Build, project_dir: &Path) -> PathBuf {
    build
        .context
        .as_ref()
        .map(PathBuf::from)
        .unwrap_or_else(|| project_dir.to_path_buf())
}

/// Reads `service`'s context: which files are sent, their digests and the content hash.
pub fn read_context(
    service: &str,
    build: &Build,
    project_dir: &Path,
) -> Result<Context, BuildError> {
    if let Some(context) = build.context.as_deref().filter(|c| is_remote_context(c)) {
        return Err(BuildError::RemoteContext {
            service: service.to_string(),
            context: context.to_string(),
        });
    }
    let root = context_folder(build, project_dir);
    if !root.is_dir() {
        return Err(BuildError::NotAFolder {
            service: service.to_string(),
            path: root,
        });
    }
    let read_error = |path: &Path, error: std::io::Error| BuildError::Read {
        service: service.to_string(),
        path: path.to_path_buf(),
        error,
    };
    let ignore_path = root.join(".dockerignore");
    let ignore = match fs::read_to_string(&ignore_path) {
        Ok(text) => IgnoreFile::parse(&text).map_err(|error| {
            let nap_core::build::IgnoreError::Pattern { line, message } = error;
            BuildError::Ignore {
                service: service.to_string(),
                path: ignore_path.clone(),
                line,
                message,
            }
        })?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => IgnoreFile::default(),
        Err(error) => return Err(read_error(&ignore_path, error)),
    };
    let (dockerfile, extra_dockerfile) = match &build.dockerfile_inline {
        Some(text) => (EXTRA_DOCKERFILE.to_string(), Some(text.as_bytes().to_vec())),
        None => {
            let written = build.dockerfile.as_deref().unwrap_or("Dockerfile");
            let path = normalize(&root.join(written));
            if !path.is_file() {
                return Err(BuildError::NoDockerfile {
                    service: service.to_string(),
                    path,
                });
            }
            match path.strip_prefix(&root) {
                Ok(inside) => (inside.to_string_lossy().into_owned(), None),
                Err(_) => (
                    EXTRA_DOCKERFILE.to_string(),
                    Some(fs::read(&path).map_err(|error| read_error(&path, error))?),
                ),
            }
        }
    };
    let mut walk = Walk {
        ignore: &ignore,
        always: [dockerfile.as_str(), ".dockerignore"],
        entries: Vec::new(),
        bytes: 0,
        service,
    };
    walk.folder(&root, "")?;
    let mut entries = walk.entries;
    if let Some(bytes) = &extra_dockerfile {
        entries.push((
            ContextEntry {
                path: EXTRA_DOCKERFILE.to_string(),
                mode: 0o644,
                kind: EntryKind::File {
                    sha256: hex(&Sha256::digest(bytes)),
                },
            },
            PathBuf::new(),
        ));
    }
    let plain: Vec<ContextEntry> = entries.iter().map(|(entry, _)| entry.clone()).collect();
    let hash = context_hash(&plain, &dockerfile, build);
    Ok(Context {
        root,
        entries,
        dockerfile,
        extra_dockerfile,
        hash,
    })
}

/// The walk of one context folder.
struct Walk<'a> {
    ignore: &'a IgnoreFile,
    /// Sent even when `.dockerignore` leaves them out (the Docker CLI's rule).
    always: [&'a str; 2],
    entries: Vec<(ContextEntry, PathBuf)>,
    bytes: u64,
    service: &'a str,
}

impl Walk<'_> {
    fn folder(&mut self, folder: &Path, relative: &str) -> Result<(), BuildError> {
        let read_error = |path: &Path, error: std::io::Error| BuildError::Read {
            service: self.service.to_string(),
            path: path.to_path_buf(),
            error,
        };
        let mut children: Vec<fs::DirEntry> = fs::read_dir(folder)
            .map_err(|error| read_error(folder, error))?
            .collect::<Result<_, _>>()
            .map_err(|error| read_error(folder, error))?;
        children.sort_by_key(|child| child.file_name());
        for child in children {
            let path = child.path();
            let name = child.file_name().to_string_lossy().into_owned();
            let relative = if relative.is_empty() {
                name
            } else {
                format!("{relative}/{name}")
            };
            let metadata = fs::symlink_metadata(&path).map_err(|error| read_error(&path, error))?;
            let excluded =
                self.ignore.excludes(&relative) && !self.always.contains(&relative.as_str());
            let mode = metadata.permissions().mode() & 0o7777;
            let kind = metadata.file_type();
            if excluded {
                if kind.is_dir()
                    && self.ignore.has_exclusions()
                    && self.ignore.may_reinclude_under(&relative)
                {
                    self.folder(&path, &relative)?;
                }
                continue;
            }
            if kind.is_dir() {
                self.entries.push((
                    ContextEntry {
                        path: relative.clone(),
                        mode,
                        kind: EntryKind::Folder,
                    },
                    path.clone(),
                ));
                self.folder(&path, &relative)?;
            } else if kind.is_symlink() {
                let target = fs::read_link(&path).map_err(|error| read_error(&path, error))?;
                self.entries.push((
                    ContextEntry {
                        path: relative,
                        mode,
                        kind: EntryKind::Link {
                            target: target.to_string_lossy().into_owned(),
                        },
                    },
                    path,
                ));
            } else if kind.is_file() {
                self.bytes += metadata.len();
                if self.bytes > MAX_CONTEXT_BYTES {
                    return Err(BuildError::TooLarge {
                        service: self.service.to_string(),
                        limit: MAX_CONTEXT_BYTES,
                    });
                }
                let sha256 = digest_file(&path).map_err(|error| read_error(&path, error))?;
                self.entries.push((
                    ContextEntry {
                        path: relative,
                        mode,
                        kind: EntryKind::File { sha256 },
                    },
                    path,
                ));
            }
        }
        Ok(())
    }
}

/// `.` and `..` resolved without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn digest_file(path: &Path) -> std::io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buffer[..read]);
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(64), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

impl Context {
    /// The tar sent to the builder: every entry, owned by root, times left out (as the
    /// builder's cache ignores them), links as links.
    pub fn tar(&self, service: &str) -> Result<Vec<u8>, BuildError> {
        let error = |path: &Path, error: std::io::Error| BuildError::Read {
            service: service.to_string(),
            path: path.to_path_buf(),
            error,
        };
        let mut builder = tar::Builder::new(Vec::new());
        builder.mode(tar::HeaderMode::Deterministic);
        builder.follow_symlinks(false);
        for (entry, path) in &self.entries {
            if entry.path == EXTRA_DOCKERFILE {
                continue;
            }
            builder
                .append_path_with_name(path, &entry.path)
                .map_err(|e| error(path, e))?;
        }
        if let Some(bytes) = &self.extra_dockerfile {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_cksum();
            builder
                .append_data(&mut header, EXTRA_DOCKERFILE, bytes.as_slice())
                .map_err(|e| error(&self.root, e))?;
        }
        builder.into_inner().map_err(|e| error(&self.root, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn tar_names(bytes: &[u8]) -> Vec<String> {
        let mut archive = tar::Archive::new(bytes);
        archive
            .entries()
            .unwrap()
            .map(|entry| {
                entry
                    .unwrap()
                    .path()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    fn build_of(root: &Path) -> Build {
        Build {
            context: Some(root.to_string_lossy().into_owned()),
            ..Build::default()
        }
    }

    #[test]
    fn dockerignore_decides_what_is_sent_and_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "Dockerfile", "FROM scratch\nCOPY . /app\n");
        write(
            root,
            ".dockerignore",
            "*.log\nsecrets\nvendor\n!vendor/keep.txt\nDockerfile\n",
        );
        write(root, "app/main.sh", "echo hi\n");
        write(root, "debug.log", "noise\n");
        write(root, "secrets/key", "hunter2\n");
        write(root, "vendor/keep.txt", "kept\n");
        write(root, "vendor/drop.txt", "dropped\n");
        std::os::unix::fs::symlink("app/main.sh", root.join("link")).unwrap();
        let context = read_context("web", &build_of(root), root).unwrap();
        let names = tar_names(&context.tar("web").unwrap());
        assert_eq!(
            names,
            [
                ".dockerignore",
                "Dockerfile",
                "app",
                "app/main.sh",
                "link",
                "vendor/keep.txt"
            ],
            "the Dockerfile and .dockerignore are sent although ignored; secrets, logs and vendor's other files are not"
        );

        let again = read_context("web", &build_of(root), root).unwrap();
        assert_eq!(
            again.hash, context.hash,
            "reading twice gives the same hash"
        );
        write(root, "debug.log", "more noise\n");
        write(root, "secrets/key", "changed\n");
        assert_eq!(
            read_context("web", &build_of(root), root).unwrap().hash,
            context.hash,
            "ignored files do not change the hash"
        );
        write(root, "app/main.sh", "echo changed\n");
        assert_ne!(
            read_context("web", &build_of(root), root).unwrap().hash,
            context.hash
        );
    }

    #[test]
    fn inline_and_outside_dockerfiles_are_sent_under_a_name_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ctx");
        write(&root, "file.txt", "x");
        write(dir.path(), "outside.Dockerfile", "FROM scratch\n");
        let outside = Build {
            dockerfile: Some("../outside.Dockerfile".into()),
            ..build_of(&root)
        };
        let context = read_context("web", &outside, dir.path()).unwrap();
        assert_eq!(context.dockerfile, EXTRA_DOCKERFILE);
        assert_eq!(
            tar_names(&context.tar("web").unwrap()),
            ["file.txt", EXTRA_DOCKERFILE]
        );
        let inline = Build {
            dockerfile_inline: Some("FROM scratch\nCOPY file.txt /\n".into()),
            ..build_of(&root)
        };
        let inline_context = read_context("web", &inline, dir.path()).unwrap();
        assert_eq!(inline_context.dockerfile, EXTRA_DOCKERFILE);
        assert_ne!(inline_context.hash, context.hash);
    }

    #[test]
    fn bad_contexts_are_refused_naming_the_service() {
        let dir = tempfile::tempdir().unwrap();
        let remote = Build {
            context: Some("https://github.com/docker/welcome.git".into()),
            ..Build::default()
        };
        let error = read_context("web", &remote, dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("service \"web\"") && error.contains("URL"),
            "{error}"
        );
        let error = read_context("web", &build_of(&dir.path().join("nope")), dir.path())
            .unwrap_err()
            .to_string();
        assert!(error.contains("not a folder"), "{error}");
        let error = read_context("web", &build_of(dir.path()), dir.path())
            .unwrap_err()
            .to_string();
        assert!(error.contains("no Dockerfile"), "{error}");
        write(dir.path(), "Dockerfile", "FROM scratch\n");
        write(dir.path(), ".dockerignore", "ok\n[bad\n");
        let error = read_context("web", &build_of(dir.path()), dir.path())
            .unwrap_err()
            .to_string();
        assert!(error.contains(".dockerignore:2"), "{error}");
    }
}
