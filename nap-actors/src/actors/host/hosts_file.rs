//! Rewriting a running container's hosts file: read it through the Docker API (the archive
//! endpoint, bounded, with a small tar reader), render the table with the core's
//! `hosts_file`, and write it over SSH at the container's `HostsPath` (a fixed command, the
//! data on stdin) or, where the host has no SSH, by exec into the container.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use bollard::models::ContainerInspectResponse;
use futures_util::StreamExt;
use nap_core::hosts_file;
use nap_core::plan::HostEntry;
use nap_core::plan::decide::{self, HostsFileWriter};

use super::{HostActor, HostContext, HostErrorKind, HostOperationError};
use crate::actors::Outcome;

/// The `name:address` entries of `extra_hosts` that are IPv4 name-table entries.
pub fn parse_extra_hosts(entries: &[String]) -> Vec<HostEntry> {
    entries
        .iter()
        .filter_map(|entry| {
            let (name, address) = entry.rsplit_once(':')?;
            Some(HostEntry {
                name: name.to_string(),
                address: address.parse().ok()?,
            })
        })
        .collect()
}

/// How a hosts file was rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchResult {
    /// It already held the table.
    UpToDate,
    /// Rewritten over SSH.
    Ssh,
    /// Rewritten by exec into the container.
    Exec,
}

impl From<PatchResult> for Outcome {
    fn from(result: PatchResult) -> Outcome {
        match result {
            PatchResult::UpToDate => Outcome::UpToDate,
            PatchResult::Ssh => Outcome::PatchedOverSsh,
            PatchResult::Exec => Outcome::PatchedByExec,
        }
    }
}

/// Make a running container's hosts file resolve `wanted`: over SSH when the host has it
/// and answers, else by exec into the container (which needs `sh` in the image).
#[derive(Message)]
#[rtype(result = "Result<PatchResult, HostOperationError>")]
pub struct PatchHostsFile {
    /// Container name.
    pub container: String,
    /// The table it resolves now (`None`: read it from the container's `extra_hosts`).
    pub baked: Option<Arc<[HostEntry]>>,
    /// The table it should resolve.
    pub wanted: Arc<[HostEntry]>,
}

impl Handler<PatchHostsFile> for HostActor {
    type Result = ResponseFuture<Result<PatchResult, HostOperationError>>;

    fn handle(&mut self, message: PatchHostsFile, _: &mut Context<Self>) -> Self::Result {
        let host = self.context();
        Box::pin(async move {
            let container = message.container.clone();
            // A container that misbehaves (a hosts file that never arrives, an exec that never
            // ends) is one failed operation naming it; the rest of the deployment goes on.
            match tokio::time::timeout(PATCH_TIMEOUT, patch_hosts_file(&host, message)).await {
                Ok(result) => result,
                Err(_) => Err(host.error(
                    HostErrorKind::Timeout,
                    format!(
                        "rewriting the hosts file of {container} took longer than {}s",
                        PATCH_TIMEOUT.as_secs()
                    ),
                )),
            }
        })
    }
}

/// The fixed command that writes a hosts file over SSH. Its data comes on stdin: the path on
/// the first line, then the file. The path is read by `read -r` and used quoted, so nothing
/// of it (nor of the file) is ever shell text; it must be a container's hosts file under
/// Docker's data root. `dd` writes in place (Docker bind-mounts the file, so it cannot be
/// replaced by a rename), over the old content, never shorter, in one write (`bs=1M
/// iflag=fullblock`), so a program reading it meanwhile never sees a cut table.
const WRITE_HOSTS_FILE: &str = r#"IFS= read -r path || exit 3; case "$path" in /*/containers/*/hosts) ;; *) echo "not a container hosts file" >&2; exit 3;; esac; exec dd of="$path" conv=notrunc bs=1M iflag=fullblock status=none"#;

/// How long rewriting one hosts file may take, reading included.
const PATCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Most a command run by exec in a container may print before nap stops reading it.
const EXEC_OUTPUT_LIMIT: usize = 64 << 10;

/// Whether `path` is the hosts file Docker keeps for container `id`: absolute, no `..`, no
/// control characters, ending in `/containers/<id>/hosts` with a 64-hex-digit id.
fn is_container_hosts_path(path: &str, id: &str) -> bool {
    id.len() == 64
        && id.bytes().all(|byte| byte.is_ascii_hexdigit())
        && path.starts_with('/')
        && !path.split('/').any(|part| part == "..")
        && !path.bytes().any(|byte| byte.is_ascii_control())
        && path.ends_with(&format!("/containers/{id}/hosts"))
}

/// The container's own lines, from what Docker reports of it (its create-time settings and
/// its addresses) and the part of its `extra_hosts` that is not nap's table.
fn own_lines(inspect: &ContainerInspectResponse, baked: &[HostEntry]) -> hosts_file::OwnLines {
    let config = inspect.config.clone().unwrap_or_default();
    let created = inspect
        .host_config
        .as_ref()
        .and_then(|host_config| host_config.extra_hosts.clone())
        .unwrap_or_default();
    let baked: std::collections::HashSet<String> =
        baked.iter().map(HostEntry::extra_host).collect();
    let mut networks: Vec<(&String, &bollard::models::EndpointSettings)> = inspect
        .network_settings
        .as_ref()
        .and_then(|settings| settings.networks.as_ref())
        .map(|networks| networks.iter().collect())
        .unwrap_or_default();
    networks.sort_by(|a, b| a.0.cmp(b.0));
    let addresses = networks
        .iter()
        .filter_map(|(_, endpoint)| endpoint.ip_address.as_deref())
        .filter_map(|address| address.parse().ok())
        .collect();
    hosts_file::OwnLines {
        hostname: config.hostname.unwrap_or_default(),
        domainname: config.domainname.filter(|domain| !domain.is_empty()),
        addresses,
        extra_hosts: created
            .into_iter()
            .filter(|entry| !baked.contains(entry))
            .collect(),
    }
}

async fn patch_hosts_file(
    host: &HostContext,
    message: PatchHostsFile,
) -> Result<PatchResult, HostOperationError> {
    let inspect = host.inspect(&message.container).await?;
    let running = inspect
        .state
        .as_ref()
        .and_then(|state| state.running)
        .unwrap_or(false);
    if !running {
        // Docker writes the file when it starts; the start event brings us back.
        return Ok(PatchResult::UpToDate);
    }
    let baked = message.baked.unwrap_or_else(|| {
        let created = inspect
            .host_config
            .as_ref()
            .and_then(|config| config.extra_hosts.clone())
            .unwrap_or_default();
        parse_extra_hosts(&created).into()
    });
    // Read through the Docker API (no shell, no login scripts: fast), bounded. The file is
    // the container's to write: it is only read to pick among nap's own values.
    let current = read_container_file(host, &message.container, "/etc/hosts").await?;
    tracing::debug!(container = %message.container, "hosts file read");
    if *baked == *message.wanted && hosts_file::resolves(&current, &baked) {
        // What Docker wrote from `extra_hosts` is the table.
        return Ok(PatchResult::UpToDate);
    }
    let own = own_lines(&inspect, &baked);
    let next = hosts_file::render(&own, &message.wanted, &current).map_err(|error| {
        host.error(
            HostErrorKind::Invalid,
            format!("{}: {error}", message.container),
        )
        .with_source(error)
    })?;
    if hosts_file::holds(&current, &next) {
        return Ok(PatchResult::UpToDate);
    }
    let next = hosts_file::padded(next, current.len());
    // Over SSH when the host has it and answers; by exec when it has none or its sshd is down
    // (preflight found it unreachable and said so).
    let has_ssh = host.shell.configured();
    let ssh_answers = has_ssh && host.shell.connect().await.is_ok();
    if decide::hosts_file_writer(has_ssh, ssh_answers) == HostsFileWriter::Ssh {
        let path = inspect.hosts_path.clone().unwrap_or_default();
        let id = inspect.id.clone().unwrap_or_default();
        if !is_container_hosts_path(&path, &id) {
            return Err(host.error(
                HostErrorKind::Invalid,
                format!(
                    "{}: Docker reports a hosts file path that is not the container's ({path:?})",
                    message.container
                ),
            ));
        }
        let mut stdin = Vec::with_capacity(path.len() + 1 + next.len());
        stdin.extend_from_slice(path.as_bytes());
        stdin.push(b'\n');
        stdin.extend_from_slice(next.as_bytes());
        host.run_with_stdin(WRITE_HOSTS_FILE, &stdin).await?;
        Ok(PatchResult::Ssh)
    } else {
        // A fixed command in the container, the file on stdin.
        exec(
            host,
            &message.container,
            &[
                "sh",
                "-c",
                "dd of=/etc/hosts conv=notrunc 2>/dev/null || cat > /etc/hosts",
            ],
            Some(next.as_bytes()),
        )
        .await?;
        Ok(PatchResult::Exec)
    }
}

/// Reads one small file of a container through the Docker API (`GET /containers/{id}/archive`,
/// a tar of the file), at most [`hosts_file::MAX_FILE_BYTES`] of it.
async fn read_container_file(
    host: &HostContext,
    container: &str,
    path: &str,
) -> Result<String, HostOperationError> {
    // The file plus a few tar headers.
    const ARCHIVE_LIMIT: usize = hosts_file::MAX_FILE_BYTES + (16 << 10);
    let mut stream = host.docker.download_from_container(container, path);
    let mut archive = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|error| host.docker_error(&format!("reading {path} of {container}"), error))?;
        if archive.len() + chunk.len() > ARCHIVE_LIMIT {
            return Err(host.error(
                HostErrorKind::TooLarge,
                format!(
                    "reading {path} of {container}: larger than {} KiB",
                    hosts_file::MAX_FILE_BYTES >> 10
                ),
            ));
        }
        archive.extend_from_slice(&chunk);
    }
    first_file_in_tar(&archive)
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .ok_or_else(|| {
            host.error(
                HostErrorKind::Invalid,
                format!("reading {path} of {container}: not a tar with a file"),
            )
        })
}

/// The contents of the first regular file in a tar archive (skipping pax headers).
fn first_file_in_tar(archive: &[u8]) -> Option<&[u8]> {
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

/// Runs a command in a container as root; returns its stdout, failing on a non-zero exit.
async fn exec(
    host: &HostContext,
    container: &str,
    command: &[&str],
    stdin: Option<&[u8]>,
) -> Result<String, HostOperationError> {
    use bollard::exec::StartExecResults;
    use tokio::io::AsyncWriteExt;

    let what = format!("exec {:?} in {container}", command.join(" "));
    let config = bollard::models::ExecConfig {
        attach_stdin: Some(stdin.is_some()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        user: Some("0".to_string()),
        cmd: Some(command.iter().map(ToString::to_string).collect()),
        ..Default::default()
    };
    let id = host
        .docker
        .create_exec(container, config)
        .await
        .map_err(|error| host.docker_error(&what, error))?;
    let started = host
        .docker
        .start_exec(&id)
        .await
        .map_err(|error| host.docker_error(&what, error))?;
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let StartExecResults::Attached {
        mut output,
        mut input,
    } = started
    {
        if let Some(bytes) = stdin {
            input.write_all(bytes).await.map_err(|error| {
                host.error(
                    HostErrorKind::Docker,
                    format!("{what}: writing stdin: {error}"),
                )
                .with_source(error)
            })?;
            input.shutdown().await.map_err(|error| {
                host.error(
                    HostErrorKind::Docker,
                    format!("{what}: closing stdin: {error}"),
                )
                .with_source(error)
            })?;
        }
        drop(input);
        while let Some(chunk) = output.next().await {
            match chunk.map_err(|error| host.docker_error(&what, error))? {
                bollard::container::LogOutput::StdErr { message } => {
                    stderr.push_str(&String::from_utf8_lossy(&message));
                }
                other => stdout.push_str(&String::from_utf8_lossy(&other.into_bytes())),
            }
            if stdout.len() + stderr.len() > EXEC_OUTPUT_LIMIT {
                return Err(host.error(
                    HostErrorKind::TooLarge,
                    format!("{what} printed more than {} KiB", EXEC_OUTPUT_LIMIT >> 10),
                ));
            }
        }
    }
    let inspect = host
        .docker
        .inspect_exec(&id)
        .await
        .map_err(|error| host.docker_error(&what, error))?;
    match inspect.exit_code {
        Some(0) => Ok(stdout),
        code => Err(host.error(
            HostErrorKind::Container,
            format!(
                "{what} exited with {}: {}",
                code.map_or("no status".to_string(), |c| c.to_string()),
                stderr.trim()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_file_path_must_be_the_container_s() {
        let id = "a".repeat(64);
        let good = format!("/var/lib/docker/containers/{id}/hosts");
        assert!(is_container_hosts_path(&good, &id));
        for path in [
            format!("/var/lib/docker/containers/{}/hosts", "b".repeat(64)),
            format!("relative/containers/{id}/hosts"),
            format!("/var/lib/docker/../../etc/containers/{id}/hosts"),
            format!("/var/lib/docker\n/containers/{id}/hosts"),
            "/etc/shadow".to_string(),
        ] {
            assert!(!is_container_hosts_path(&path, &id), "{path}");
        }
        assert!(!is_container_hosts_path(
            "/x/containers/short/hosts",
            "short"
        ));
        // The fixed command holds no quote that would end its `sh -c '…'`.
        assert!(!WRITE_HOSTS_FILE.contains('\''));
    }

    #[test]
    fn own_lines_leave_out_the_name_table() {
        let inspect: ContainerInspectResponse = serde_json::from_value(serde_json::json!({
            "Config": {"Hostname": "web-1", "Domainname": ""},
            "HostConfig": {"ExtraHosts": ["gw:host-gateway", "db:172.30.2.2", "web:172.30.1.2"]},
            "NetworkSettings": {"Networks": {
                "b_net": {"IPAddress": "172.30.9.2"},
                "a_net": {"IPAddress": "172.30.0.2"}
            }}
        }))
        .unwrap();
        let baked = parse_extra_hosts(&["db:172.30.2.2".into(), "web:172.30.1.2".into()]);
        let own = own_lines(&inspect, &baked);
        assert_eq!(own.hostname, "web-1");
        assert_eq!(own.domainname, None);
        assert_eq!(
            own.addresses,
            vec![
                "172.30.0.2".parse::<std::net::IpAddr>().unwrap(),
                "172.30.9.2".parse().unwrap()
            ]
        );
        assert_eq!(own.extra_hosts, vec!["gw:host-gateway".to_string()]);
    }

    #[test]
    fn the_first_file_of_a_tar() {
        let mut header = [0u8; 512];
        header[..5].copy_from_slice(b"hosts");
        header[124..136].copy_from_slice(b"00000000014\0");
        header[156] = b'0';
        let mut archive = header.to_vec();
        let mut body = b"127.0.0.1\tlh".to_vec();
        body.resize(512, 0);
        archive.extend(body);
        archive.extend([0u8; 1024]);
        assert_eq!(first_file_in_tar(&archive), Some(&b"127.0.0.1\tlh"[..]));
        assert_eq!(first_file_in_tar(&[0u8; 1024]), None);
    }

    #[test]
    fn extra_hosts_entries() {
        assert_eq!(
            parse_extra_hosts(&["web:172.30.0.2".into(), "gw:host-gateway".into()]),
            vec![HostEntry {
                name: "web".into(),
                address: "172.30.0.2".parse().unwrap()
            }]
        );
    }
}
