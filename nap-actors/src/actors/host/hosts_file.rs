//! Writing and removing the hosts files nap keeps on a host (`/var/lib/nap/<project>/<view
//! file>`, bind-mounted read-only at `/etc/hosts` in the containers of each view): all of a
//! host's files in one operation, rendered from nap's data by the core's `hosts_file`.
//!
//! Every write is **in place**: the file keeps its inode (running containers have that inode
//! bind-mounted; a rename or an unlink-and-create would leave them on the old file), and a
//! reader never sees it half-written: the new text is padded with spaces to at least the old
//! length and written over the old content in a single `write(2)`, never truncated, so a
//! reader sees the old file or the new one, never an empty, cut or mixed one. Two ways:
//!
//! - **over SSH** (the host has `ssh:` and answers): one fixed command, [`WRITE_HOSTS_FILES`],
//!   with every file on stdin — one round trip per host, whatever the number of files; it
//!   compares, pads and writes with `dd conv=notrunc` from a full buffer, and prints how many
//!   files changed. Nothing of the data is ever shell text.
//! - **through the Docker API** (no SSH): per file, a helper container made from an image on
//!   the host (one of the services' deployed there), never given a network, with the project's
//!   folder bind-mounted, whose command is `dd if=/nap-next/<file> of=/nap/<file>
//!   conv=notrunc bs=16M`: nap reads the current file through the helper (`GET archive`, for
//!   its length and to skip an unchanged file), puts the padded text into the helper's own
//!   file system (`PUT archive` to `/`, not into the bind-mounted folder: Docker unpacks by
//!   unlinking and creating, which would give the file a new inode — checked against Docker
//!   20.10), starts it, waits for its exit and removes it. The image needs `dd` (coreutils or
//!   busybox); one without is an error naming it.

use std::time::Duration;

use actix::prelude::*;
use bollard::models::{ContainerCreateBody, HostConfig};
use futures_util::StreamExt;
use hyper::body::Bytes;
use nap_core::hosts_file;
use nap_core::plan::DesiredHostsFile;
use nap_core::plan::decide::{self, HostsFileWriter};

use super::{HostActor, HostContext, HostErrorKind, HostOperationError, OperationResult};
use crate::actors::Outcome;

/// How a host's files were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteResult {
    /// Every file already held its text.
    UpToDate,
    /// Written over SSH.
    Ssh,
    /// Written through the Docker API (a helper container).
    Docker,
}

impl From<WriteResult> for Outcome {
    fn from(result: WriteResult) -> Outcome {
        match result {
            WriteResult::UpToDate => Outcome::UpToDate,
            WriteResult::Ssh => Outcome::WrittenOverSsh,
            WriteResult::Docker => Outcome::WrittenByDocker,
        }
    }
}

/// Write every hosts file of the host (one write per host).
#[derive(Message)]
#[rtype(result = "OperationResult")]
pub struct WriteHostsFiles {
    /// The project's folder ([`hosts_file::folder`]).
    pub folder: String,
    /// The files and what they hold.
    pub files: Vec<DesiredHostsFile>,
    /// Images on the host, for the helper container (no SSH): the first that runs `dd`.
    pub images: Vec<String>,
}

/// Remove the project's hosts files from the host (`nap down`).
#[derive(Message)]
#[rtype(result = "OperationResult")]
pub struct RemoveHostsFiles {
    /// The project's folder.
    pub folder: String,
    /// The files.
    pub files: Vec<String>,
    /// Images on the host, for the helper container (no SSH): the first that runs `rm`.
    pub images: Vec<String>,
}

/// The fixed command that writes a host's hosts files over SSH. Its data comes on stdin: the
/// folder on the first line, then for each file a line `<name> <length>` and that many bytes.
/// The folder must be `/var/lib/nap/<project>/<host>` and each file a view file
/// (`v-<16 hex>.hosts`);
/// both are read by `read -r`, checked by `case`, and used quoted, so nothing of the data is
/// ever shell text. Each file is created once (empty, before any container mounts it), then
/// the new text is read into a temporary file beside it, padded with spaces to the old
/// length, compared, and written over the old content by one `dd conv=notrunc` whose single
/// read of the full buffer becomes a single `write(2)` (`bs=16M`). Prints the number of files
/// changed.
pub const WRITE_HOSTS_FILES: &str = r#"IFS= read -r dir || exit 3; case "$dir" in /var/lib/nap/*/*/*|*..*) echo "not a nap folder" >&2; exit 3;; /var/lib/nap/[a-z0-9]*/[A-Za-z0-9]*) ;; *) echo "not a nap folder" >&2; exit 3;; esac; case "$dir" in *[!A-Za-z0-9_./-]*) echo "not a nap folder" >&2; exit 3;; esac; umask 022; mkdir -p "$dir" || exit 4; changed=0; while IFS=" " read -r name size; do case "$name" in v-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f].hosts) ;; *) echo "not a view file" >&2; exit 3;; esac; case "$size" in ""|*[!0-9]*) echo "bad length" >&2; exit 3;; esac; f="$dir/$name"; t="$dir/.$name.next"; [ -f "$f" ] || : > "$f" || exit 4; dd of="$t" bs="$size" count=1 iflag=fullblock status=none || exit 4; old=$(wc -c < "$f") || exit 4; if [ "$old" -gt "$size" ]; then head -c "$((old - size - 1))" /dev/zero | tr "\0" " " >> "$t" && echo >> "$t" || exit 4; fi; if ! cmp -s "$t" "$f"; then dd if="$t" of="$f" conv=notrunc bs=16M status=none || exit 4; changed=$((changed + 1)); fi; rm -f "$t"; done; echo "$changed""#;

/// The fixed command that removes a host's hosts files over SSH: the folder on the first line
/// of stdin, then one view file name per line, checked as by [`WRITE_HOSTS_FILES`]; the
/// folder and the project's folder go too once empty.
pub const REMOVE_HOSTS_FILES: &str = r#"IFS= read -r dir || exit 3; case "$dir" in /var/lib/nap/*/*/*|*..*) echo "not a nap folder" >&2; exit 3;; /var/lib/nap/[a-z0-9]*/[A-Za-z0-9]*) ;; *) echo "not a nap folder" >&2; exit 3;; esac; case "$dir" in *[!A-Za-z0-9_./-]*) echo "not a nap folder" >&2; exit 3;; esac; while IFS= read -r name; do case "$name" in v-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f].hosts) rm -f "$dir/$name" "$dir/.$name.next" || exit 4;; *) echo "not a view file" >&2; exit 3;; esac; done; rmdir "$dir" 2>/dev/null; rmdir "${dir%/*}" 2>/dev/null; exit 0"#;

/// How long writing a host's files may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the helper container has the project's folder.
const HELPER_FOLDER: &str = "/nap";

/// Where the helper container keeps the next text, in its own file system.
const HELPER_NEXT: &str = "nap-next";

/// Label on helper containers: the project they write for (not `nap.project`, so they are
/// never taken for the project's containers).
pub const LABEL_HOSTS_WRITER: &str = "nap.hosts-writer";

impl Handler<WriteHostsFiles> for HostActor {
    type Result = ResponseFuture<OperationResult>;

    fn handle(&mut self, message: WriteHostsFiles, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            match tokio::time::timeout(WRITE_TIMEOUT, write_hosts_files(&host, message)).await {
                Ok(result) => result.map(Outcome::from),
                Err(_) => Err(host.error(
                    HostErrorKind::Timeout,
                    format!(
                        "writing the hosts files took longer than {}s",
                        WRITE_TIMEOUT.as_secs()
                    ),
                )),
            }
        })
    }
}

impl Handler<RemoveHostsFiles> for HostActor {
    type Result = ResponseFuture<OperationResult>;

    fn handle(&mut self, message: RemoveHostsFiles, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            match tokio::time::timeout(WRITE_TIMEOUT, remove_hosts_files(&host, message)).await {
                Ok(result) => result.map(Outcome::from),
                Err(_) => Err(host.error(
                    HostErrorKind::Timeout,
                    format!(
                        "removing the hosts files took longer than {}s",
                        WRITE_TIMEOUT.as_secs()
                    ),
                )),
            }
        })
    }
}

/// Checks the folder and file names the core gave (the command on the host checks them again).
fn check_names<'a>(
    host: &HostContext,
    folder: &str,
    files: impl IntoIterator<Item = &'a str>,
) -> Result<(), HostOperationError> {
    let expected = hosts_file::folder(&host.project, &host.name).map_err(|error| {
        host.error(HostErrorKind::Invalid, error.to_string())
            .with_source(error)
    })?;
    if folder != expected {
        return Err(host.error(
            HostErrorKind::Invalid,
            format!("{folder:?} is not the project's folder {expected:?}"),
        ));
    }
    for file in files {
        if !hosts_file::is_view_file_name(file) {
            return Err(host.error(
                HostErrorKind::Invalid,
                format!("{file:?} is not a hosts file name nap makes"),
            ));
        }
    }
    Ok(())
}

/// Whether to write over SSH: the host has it and it answers (else through Docker).
async fn over_ssh(host: &HostContext) -> bool {
    let has_ssh = host.shell.configured();
    let ssh_answers = has_ssh && host.shell.connect().await.is_ok();
    decide::hosts_file_writer(has_ssh, ssh_answers) == HostsFileWriter::Ssh
}

/// The stdin of [`WRITE_HOSTS_FILES`]: the folder, then `<name> <length>` and the text of
/// each file.
pub fn write_command_input(folder: &str, files: &[(String, String)]) -> Vec<u8> {
    let total: usize = files
        .iter()
        .map(|(name, text)| name.len() + text.len() + 24)
        .sum();
    let mut stdin = Vec::with_capacity(folder.len() + 1 + total);
    stdin.extend_from_slice(folder.as_bytes());
    stdin.push(b'\n');
    for (name, text) in files {
        stdin.extend_from_slice(format!("{name} {}\n", text.len()).as_bytes());
        stdin.extend_from_slice(text.as_bytes());
    }
    stdin
}

async fn write_hosts_files(
    host: &HostContext,
    message: WriteHostsFiles,
) -> Result<WriteResult, HostOperationError> {
    check_names(
        host,
        &message.folder,
        message.files.iter().map(|file| file.file.as_str()),
    )?;
    let mut rendered = Vec::with_capacity(message.files.len());
    for file in &message.files {
        let text = hosts_file::render(file).map_err(|error| {
            host.error(HostErrorKind::Invalid, format!("{}: {error}", file.file))
                .with_source(error)
        })?;
        rendered.push((file.file.clone(), text));
    }
    if over_ssh(host).await {
        let stdin = write_command_input(&message.folder, &rendered);
        let changed = host.run_with_stdin(WRITE_HOSTS_FILES, &stdin).await?;
        tracing::debug!(host = %host.name, changed = %changed.trim(), "hosts files written over ssh");
        return Ok(if changed.trim() == "0" {
            WriteResult::UpToDate
        } else {
            WriteResult::Ssh
        });
    }
    let mut result = WriteResult::UpToDate;
    let (folder, images) = (&message.folder, &message.images);
    let writes = rendered.iter().map(|(name, text)| {
        with_some_image(host, images, move |image| {
            write_by_docker(host, folder, image, name, text)
        })
    });
    for written in futures_util::future::join_all(writes).await {
        if written? {
            result = WriteResult::Docker;
        }
    }
    Ok(result)
}

/// The helper container of one file.
fn helper_name(project: &str, file: &str) -> String {
    format!("{project}-nap-hosts-{}", file.trim_end_matches(".hosts"))
}

/// A helper container's create body: `command` from `image`, run as root, without a network,
/// the project's folder bind-mounted at [`HELPER_FOLDER`] (Docker creates it if missing).
fn helper_body(
    project: &str,
    folder: &str,
    image: &str,
    command: Vec<String>,
) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(image.to_string()),
        entrypoint: Some(command),
        cmd: Some(Vec::new()),
        user: Some("0".to_string()),
        network_disabled: Some(true),
        labels: Some(
            [(LABEL_HOSTS_WRITER.to_string(), project.to_string())]
                .into_iter()
                .collect(),
        ),
        host_config: Some(HostConfig {
            binds: Some(vec![format!("{folder}:{HELPER_FOLDER}")]),
            network_mode: Some("none".to_string()),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    }
}

/// Runs `attempt` with each of `images` until one succeeds (an image without `dd` or `rm`
/// fails its helper's start or exits non-zero); answers the last error when none does.
async fn with_some_image<'a, T, F, Fut>(
    host: &HostContext,
    images: &'a [String],
    attempt: F,
) -> Result<T, HostOperationError>
where
    F: Fn(&'a str) -> Fut,
    Fut: std::future::Future<Output = Result<T, HostOperationError>>,
{
    let mut last = host.error(
        HostErrorKind::Invalid,
        "no image on the host to make a hosts-file helper container from",
    );
    for image in images {
        match attempt(image).await {
            Ok(value) => return Ok(value),
            Err(error) => {
                tracing::debug!(host = %host.name, %image, %error, "hosts-file helper failed");
                last = error;
            }
        }
    }
    Err(last)
}

/// Creates a helper container (removing a left-over one of the same name when there is one).
async fn create_helper(
    host: &HostContext,
    name: &str,
    body: ContainerCreateBody,
) -> Result<(), HostOperationError> {
    if body.image.as_deref().is_none_or(str::is_empty) {
        return Err(host.error(
            HostErrorKind::Invalid,
            "no image to make a hosts-file helper container from",
        ));
    }
    match host.docker.create_container(name, body.clone()).await {
        Ok(_) => return Ok(()),
        // A helper left by a run cut short: removed, then made again.
        Err(error) if super::error::is_conflict(&error) => {}
        Err(error) => return Err(host.docker_error(&format!("creating {name}"), error)),
    }
    host.docker
        .remove_container(name, false)
        .await
        .map_err(|error| host.docker_error(&format!("removing {name}"), error))?;
    host.docker
        .create_container(name, body)
        .await
        .map(drop)
        .map_err(|error| host.docker_error(&format!("creating {name}"), error))
}

/// Starts a helper, waits for it, removes it; a non-zero exit is an error naming `what`.
async fn run_helper(host: &HostContext, name: &str, what: &str) -> Result<(), HostOperationError> {
    let outcome = async {
        host.docker
            .start_container(name)
            .await
            .map_err(|error| host.docker_error(&format!("{what}: starting {name}"), error))?;
        host.docker
            .wait_container(name)
            .await
            .map_err(|error| host.docker_error(&format!("{what}: waiting for {name}"), error))
    }
    .await;
    let removed = host.docker.remove_container(name, false).await;
    let status = outcome?;
    removed.map_err(|error| host.docker_error(&format!("removing {name}"), error))?;
    if status != 0 {
        return Err(host.error(
            HostErrorKind::Container,
            format!(
                "{what}: the helper container exited with {status} (its image needs dd and rm)"
            ),
        ));
    }
    Ok(())
}

/// Writes one file through a helper container; answers whether it changed.
async fn write_by_docker(
    host: &HostContext,
    folder: &str,
    image: &str,
    file: &str,
    text: &str,
) -> Result<bool, HostOperationError> {
    let name = helper_name(&host.project, file);
    let command = vec![
        "dd".to_string(),
        format!("if=/{HELPER_NEXT}/{file}"),
        format!("of={HELPER_FOLDER}/{file}"),
        "conv=notrunc".to_string(),
        "bs=16M".to_string(),
    ];
    create_helper(
        host,
        &name,
        helper_body(&host.project, folder, image, command),
    )
    .await?;
    let current = match read_helper_file(host, &name, &format!("{HELPER_FOLDER}/{file}")).await {
        Ok(current) => current,
        Err(error) => {
            let _ = host.docker.remove_container(&name, false).await;
            return Err(error);
        }
    };
    if current
        .as_deref()
        .is_some_and(|current| holds(current, text))
    {
        let _ = host.docker.remove_container(&name, false).await;
        return Ok(false);
    }
    let next = hosts_file::padded(text.to_string(), current.map_or(0, |c| c.len()));
    let tar = tar_with(&[(&format!("{HELPER_NEXT}/{file}"), next.as_bytes())]);
    if let Err(error) = host
        .docker
        .upload_to_container(&name, "/", Bytes::from(tar))
        .await
    {
        let _ = host.docker.remove_container(&name, false).await;
        return Err(host.docker_error(&format!("writing {file}: uploading to {name}"), error));
    }
    run_helper(host, &name, &format!("writing {file}")).await?;
    Ok(true)
}

/// Whether `current` is `text` but for the padding line of spaces at its end.
fn holds(current: &[u8], text: &str) -> bool {
    current
        .strip_prefix(text.as_bytes())
        .is_some_and(|rest| rest.iter().all(|byte| *byte == b' ' || *byte == b'\n'))
}

async fn remove_hosts_files(
    host: &HostContext,
    message: RemoveHostsFiles,
) -> Result<WriteResult, HostOperationError> {
    check_names(
        host,
        &message.folder,
        message.files.iter().map(String::as_str),
    )?;
    if message.files.is_empty() {
        return Ok(WriteResult::UpToDate);
    }
    if over_ssh(host).await {
        let mut stdin = format!("{}\n", message.folder);
        for file in &message.files {
            stdin.push_str(file);
            stdin.push('\n');
        }
        host.run_with_stdin(REMOVE_HOSTS_FILES, stdin.as_bytes())
            .await?;
        return Ok(WriteResult::Ssh);
    }
    // `rm` in a helper; the folder itself, the helper's mount point, stays (empty).
    let name = format!("{}-nap-hosts-rm", host.project);
    let mut command = vec!["rm".to_string(), "-f".to_string()];
    command.extend(
        message
            .files
            .iter()
            .map(|file| format!("{HELPER_FOLDER}/{file}")),
    );
    let (folder, name, command) = (&message.folder, &name, &command);
    with_some_image(host, &message.images, |image| async move {
        create_helper(
            host,
            name,
            helper_body(&host.project, folder, image, command.clone()),
        )
        .await?;
        run_helper(host, name, "removing the hosts files").await
    })
    .await?;
    Ok(WriteResult::Docker)
}

/// One file of a helper container through the Docker API (`GET archive`), at most
/// [`MAX_FILE_BYTES`]; `None` when it does not exist.
async fn read_helper_file(
    host: &HostContext,
    container: &str,
    path: &str,
) -> Result<Option<Vec<u8>>, HostOperationError> {
    const ARCHIVE_LIMIT: usize = MAX_FILE_BYTES + (16 << 10);
    let mut stream = host.docker.download_from_container(container, path);
    let mut archive = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) if super::error::is_not_found(&error) => return Ok(None),
            Err(error) => {
                return Err(host.docker_error(&format!("reading {path} of {container}"), error));
            }
        };
        if archive.len() + chunk.len() > ARCHIVE_LIMIT {
            return Err(host.error(
                HostErrorKind::TooLarge,
                format!(
                    "reading {path} of {container}: larger than {} MiB",
                    MAX_FILE_BYTES >> 20
                ),
            ));
        }
        archive.extend_from_slice(&chunk);
    }
    first_file_in_tar(&archive)
        .map(|bytes| Some(bytes.to_vec()))
        .ok_or_else(|| {
            host.error(
                HostErrorKind::Invalid,
                format!("reading {path} of {container}: not a tar with a file"),
            )
        })
}

/// The largest hosts file nap reads back (its own file: a few lines per container).
pub const MAX_FILE_BYTES: usize = 16 << 20;

/// The contents of the first regular file in a tar archive (skipping pax headers).
pub fn first_file_in_tar(archive: &[u8]) -> Option<&[u8]> {
    let mut offset = 0;
    while offset + 512 <= archive.len() {
        let header = &archive[offset..offset + 512];
        if header.iter().all(|byte| *byte == 0) {
            return None;
        }
        let size_field = std::str::from_utf8(&header[124..136]).ok()?;
        let size = usize::from_str_radix(size_field.trim_matches(['\0', ' ']), 8).ok()?;
        let start = offset + 512;
        let kind = header[156];
        if kind == b'0' || kind == 0 {
            return archive.get(start..start + size);
        }
        offset = start + size.div_ceil(512) * 512;
    }
    None
}

/// A ustar archive of regular files (mode 0644, root's), with the folders their paths name.
pub fn tar_with(files: &[(&str, &[u8])]) -> Vec<u8> {
    fn header(name: &str, size: usize, kind: u8, mode: &[u8; 8]) -> [u8; 512] {
        let mut header = [0u8; 512];
        let bytes = name.as_bytes();
        header[..bytes.len().min(100)].copy_from_slice(&bytes[..bytes.len().min(100)]);
        header[100..108].copy_from_slice(mode);
        header[108..116].copy_from_slice(b"0000000\0");
        header[116..124].copy_from_slice(b"0000000\0");
        header[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
        header[136..148].copy_from_slice(b"00000000000\0");
        header[156] = kind;
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|byte| u32::from(*byte)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        header
    }
    let mut archive = Vec::new();
    let mut folders: Vec<String> = Vec::new();
    for (name, contents) in files {
        let mut prefix = String::new();
        for part in name
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map_or(&[][..], |(_, rest)| rest)
        {
            prefix.push_str(part);
            prefix.push('/');
            if !folders.contains(&prefix) {
                archive.extend_from_slice(&header(&prefix, 0, b'5', b"0000755\0"));
                folders.push(prefix.clone());
            }
        }
        archive.extend_from_slice(&header(name, contents.len(), b'0', b"0000644\0"));
        archive.extend_from_slice(contents);
        archive.resize(archive.len().div_ceil(512) * 512, 0);
    }
    archive.extend([0u8; 1024]);
    archive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_file_of_a_tar() {
        let archive = tar_with(&[("nap-next/v.hosts", b"127.0.0.1\tlh")]);
        assert_eq!(first_file_in_tar(&archive), Some(&b"127.0.0.1\tlh"[..]));
        assert_eq!(first_file_in_tar(&[0u8; 1024]), None);
    }

    #[test]
    fn the_fixed_commands_hold_no_single_quote() {
        // They run as `sh -c '…'`.
        assert!(!WRITE_HOSTS_FILES.contains('\''));
        assert!(!REMOVE_HOSTS_FILES.contains('\''));
    }

    #[test]
    fn padding_is_not_a_change() {
        assert!(holds(b"a\nb\n      \n", "a\nb\n"));
        assert!(holds(b"a\nb\n", "a\nb\n"));
        assert!(!holds(b"a\nb\nc\n", "a\nb\n"));
        assert!(!holds(b"a\n", "a\nb\n"));
    }
}
