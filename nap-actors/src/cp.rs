//! `nap cp`: copies files between a service's replica (on whatever host runs it) and this
//! machine, as `docker compose cp` does, through the host's Docker archive endpoint.
//!
//! Out of a container the archive is streamed to a temporary file beside the destination
//! (never held in memory), then unpacked into a temporary folder there — entries that would
//! leave it (absolute paths, `..`, writes through symlinks) are refused by the unpacker, owners
//! are not kept and set-user/group-id bits are dropped, since the archive is the container's
//! to write — and moved into place. Into a container the local file or folder is packed into
//! a temporary archive and uploaded; Docker unpacks it in the container.

use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::query_parameters::{
    ContainerArchiveInfoOptionsBuilder, DownloadFromContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use futures_util::StreamExt;
use nap_core::inventory::Inventory;
use tokio::io::AsyncWriteExt;

use crate::observe::{self, FindReplicaError, ObserveError};

/// One side of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A path on this machine.
    Local(PathBuf),
    /// A path in a service's replica.
    Container {
        /// The service.
        service: String,
        /// The path inside the container.
        path: String,
    },
}

impl Location {
    /// `SERVICE:PATH` is a container's path; anything else (also `./a:b`, `/x:y`) is local,
    /// as `docker cp` reads it.
    pub fn parse(text: &str) -> Location {
        match text.split_once(':') {
            Some((service, path))
                if !service.is_empty()
                    && !service.contains('/')
                    && !service.starts_with('.')
                    && !path.is_empty() =>
            {
                Location::Container {
                    service: service.to_string(),
                    path: path.to_string(),
                }
            }
            _ => Location::Local(PathBuf::from(text)),
        }
    }
}

/// Why a copy failed.
#[derive(Debug, thiserror::Error)]
pub enum CpError {
    /// A host did not answer.
    #[error(transparent)]
    Observe(#[from] ObserveError),
    /// What was asked is not a copy nap can make.
    #[error("{0}")]
    Invalid(String),
    /// Docker refused or failed.
    #[error("{container} on host {host:?}: {source}")]
    Docker {
        /// The container.
        container: String,
        /// Its host.
        host: String,
        /// What Docker said.
        #[source]
        source: bollard::errors::Error,
    },
    /// Reading or writing local files failed.
    #[error("{path}: {source}")]
    Io {
        /// The local path.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> CpError + '_ {
    move |source| CpError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Copies `from` to `to` (exactly one of them in a container), using replica `index`.
pub async fn copy(
    project: &str,
    inventory: &Inventory,
    from: &Location,
    to: &Location,
    index: u32,
) -> Result<(), CpError> {
    let (service, inside, local, outward) = match (from, to) {
        (Location::Container { service, path }, Location::Local(local)) => {
            (service, path, local, true)
        }
        (Location::Local(local), Location::Container { service, path }) => {
            (service, path, local, false)
        }
        _ => {
            return Err(CpError::Invalid(
                "copying between two containers, or two local paths, is not supported: one side must be SERVICE:PATH".to_string(),
            ));
        }
    };
    let found = observe::find_replica(project, inventory, service, index)
        .await
        .map_err(|error| match error {
            FindReplicaError::Observe(error) => CpError::Observe(error),
            FindReplicaError::Missing(message) => CpError::Invalid(message),
        })?;
    let target = &found.container;
    let host = inventory
        .host(&target.host)
        .expect("observed containers come from inventory hosts");
    // A client of its own: its archives are streamed to disk, not bounded.
    let docker = crate::docker::connect::connect_streaming_archives(host)
        .await
        .map_err(|error| CpError::Invalid(error.to_string()))?;
    let docker_error = |source| CpError::Docker {
        container: target.name.clone(),
        host: target.host.clone(),
        source,
    };
    if outward {
        copy_out(&docker, &target.name, inside, local)
            .await
            .map_err(|error| match error {
                Failure::Docker(source) => docker_error(source),
                Failure::Other(error) => error,
            })
    } else {
        copy_in(&docker, &target.name, local, inside)
            .await
            .map_err(|error| match error {
                Failure::Docker(source) => docker_error(source),
                Failure::Other(error) => error,
            })
    }
}

/// A Docker error (named with the container by the caller) or one already named.
enum Failure {
    Docker(bollard::errors::Error),
    Other(CpError),
}

impl From<bollard::errors::Error> for Failure {
    fn from(error: bollard::errors::Error) -> Failure {
        Failure::Docker(error)
    }
}

impl From<CpError> for Failure {
    fn from(error: CpError) -> Failure {
        Failure::Other(error)
    }
}

/// The container's `path` into `dest`: into it when it is a folder, else as it.
async fn copy_out(
    docker: &Docker,
    container: &str,
    path: &str,
    dest: &Path,
) -> Result<(), Failure> {
    let into_folder = dest.is_dir();
    let staging_parent = if into_folder {
        dest.to_path_buf()
    } else {
        let parent = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(CpError::Invalid(format!("{}: no such folder", parent.display())).into());
        }
        parent.to_path_buf()
    };
    let io = io_error(&staging_parent);
    let archive_file = tempfile::NamedTempFile::new_in(&staging_parent).map_err(&io)?;
    {
        let mut file = tokio::fs::File::from_std(archive_file.reopen().map_err(&io)?);
        let options = DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let mut stream = docker.download_from_container(container, Some(options));
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk?).await.map_err(&io)?;
        }
        file.flush().await.map_err(&io)?;
    }
    let staging = tempfile::Builder::new()
        .prefix(".nap-cp-")
        .tempdir_in(&staging_parent)
        .map_err(&io)?;
    let archive_path = archive_file.path().to_path_buf();
    let unpack_into = staging.path().to_path_buf();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut archive = tar::Archive::new(std::fs::File::open(&archive_path)?);
        archive.set_preserve_ownerships(false);
        archive.set_preserve_permissions(true);
        // The archive is the container's to write: no set-user/group-id bits.
        archive.set_mask(0o6000);
        archive.set_overwrite(true);
        archive.unpack(&unpack_into)
    })
    .await
    .expect("unpacking does not panic")
    .map_err(&io)?;
    // The archive's one top-level entry is what was copied.
    let mut entries = std::fs::read_dir(staging.path()).map_err(&io)?;
    let top = match (entries.next(), entries.next()) {
        (Some(entry), None) => entry.map_err(&io)?.path(),
        _ => {
            return Err(CpError::Invalid(format!(
                "{container}:{path}: the archive Docker sent does not hold one entry"
            ))
            .into());
        }
    };
    let final_path = if into_folder {
        dest.join(top.file_name().expect("an entry has a name"))
    } else {
        dest.to_path_buf()
    };
    std::fs::rename(&top, &final_path).map_err(io_error(&final_path))?;
    Ok(())
}

/// The local `source` into the container: into `dest` when it is a folder there (or ends
/// with `/`), else as `dest`.
async fn copy_in(
    docker: &Docker,
    container: &str,
    source: &Path,
    dest: &str,
) -> Result<(), Failure> {
    let io = io_error(source);
    let metadata = std::fs::symlink_metadata(source).map_err(&io)?;
    let dest_is_folder = dest.ends_with('/')
        || docker
            .get_container_archive_info(
                container,
                Some(
                    ContainerArchiveInfoOptionsBuilder::default()
                        .path(dest)
                        .build(),
                ),
            )
            .await
            .is_ok_and(|stat| stat.file_mode & (1 << 31) != 0);
    let (folder, name) = if dest_is_folder {
        let name = source
            .file_name()
            .ok_or_else(|| CpError::Invalid(format!("{}: no file name", source.display())))?;
        (dest.to_string(), PathBuf::from(name))
    } else {
        let dest_path = Path::new(dest);
        let folder = dest_path
            .parent()
            .map(|p| p.display().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".to_string());
        let name = dest_path
            .file_name()
            .ok_or_else(|| CpError::Invalid(format!("{dest}: no file name")))?;
        (folder, PathBuf::from(name))
    };
    let archive_file = tempfile::NamedTempFile::new().map_err(&io)?;
    let archive_path = archive_file.path().to_path_buf();
    let source_path = source.to_path_buf();
    let is_dir = metadata.is_dir();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut builder = tar::Builder::new(std::fs::File::create(&archive_path)?);
        builder.follow_symlinks(false);
        if is_dir {
            builder.append_dir_all(&name, &source_path)?;
        } else {
            builder.append_path_with_name(&source_path, &name)?;
        }
        builder.into_inner()?.sync_all()
    })
    .await
    .expect("packing does not panic")
    .map_err(&io)?;
    let file = tokio::fs::File::open(archive_file.path())
        .await
        .map_err(&io)?;
    let body = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buffer = vec![0u8; 64 * 1024];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok(bytes::Bytes::from(buffer)), file))
            }
            Err(error) => Some((Err(error), file)),
        }
    });
    let options = UploadToContainerOptionsBuilder::default()
        .path(&folder)
        .build();
    docker
        .upload_to_container(container, Some(options), bollard::body_try_stream(body))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_colon_path_is_a_container_side() {
        assert_eq!(
            Location::parse("web:/etc/hostname"),
            Location::Container {
                service: "web".into(),
                path: "/etc/hostname".into()
            }
        );
        assert_eq!(Location::parse("./a:b"), Location::Local("./a:b".into()));
        assert_eq!(
            Location::parse("/tmp/x:y"),
            Location::Local("/tmp/x:y".into())
        );
        assert_eq!(
            Location::parse("notes.txt"),
            Location::Local("notes.txt".into())
        );
    }
}
