//! The hosts files nap owns on each host, built from nap's data alone: pure values in, text
//! out.
//!
//! Every container on project networks has, bind-mounted **read-only** at `/etc/hosts`, one
//! file nap keeps on its host: `<folder>/<view file>`, where [`folder`] is
//! `/var/lib/nap/<project>/<host>` (the inventory host's name, so hosts that share a file
//! system — the lab's do — never share a file) and the view file ([`view_file_name`]) is shared by every container
//! of one view there (the same networks, links and service `extra_hosts`). Docker then neither
//! writes nor rewrites the container's hosts file: a restart, a crash or a host reboot keep
//! what nap wrote, and the container cannot change it.
//!
//! [`render`] gives a file's text: Docker's fixed lines ([`DOCKER_HEADER`]), the service's own
//! `extra_hosts`, then the view's name table between [`BLOCK_BEGIN`] and [`BLOCK_END`]. The
//! container's own line Docker would write (its hostname and address) is in the table: in
//! routed mode nap sets an unnamed container's hostname to its container name, which the table
//! maps to the container's own fixed address (see `spec::container_spec`). Nothing is read
//! back from any container, and every name is checked ([`is_safe_name`]) before it is
//! written, so no name can add a line. This module only computes text and paths; the host
//! actor writes the files (in place, see `actors::host::hosts_file`).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use sha2::{Digest, Sha256};

use crate::plan::DesiredHostsFile;

/// Where nap keeps its files on a host, one folder per project.
pub const ROOT: &str = "/var/lib/nap";

/// First line of nap's block.
pub const BLOCK_BEGIN: &str = "# nap: begin (written by nap; read-only in containers)";
/// Last line of nap's block.
pub const BLOCK_END: &str = "# nap: end";

/// The lines Docker (libnetwork's `etchosts`) writes first in every container's hosts file.
pub const DOCKER_HEADER: &str = "127.0.0.1\tlocalhost\n\
::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\n\
ff00::0\tip6-mcastprefix\n\
ff02::1\tip6-allnodes\n\
ff02::2\tip6-allrouters\n";

/// A name that may go into a hosts file: 1 to 253 bytes of ASCII letters, digits, `.`, `_`
/// and `-`, not starting with `-` or `.` ([`crate::compose::names::is_hosts_file_name`], the
/// rule every name the loader accepts passes). Nothing else can be written, so a name can
/// never add a line, a comment or a field.
pub fn is_safe_name(name: &str) -> bool {
    crate::compose::names::is_hosts_file_name(name)
}

/// Why a hosts file or its path could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostsFileError {
    /// A name that could break a line.
    #[error("refusing to write the name {name:?} into a hosts file ({what})")]
    UnsafeName {
        /// The name, as given.
        name: String,
        /// Where it came from (`extra_hosts`, `name table`).
        what: &'static str,
    },
    /// A project name that cannot be a folder name.
    #[error(
        "the project name {0:?} cannot name a folder under {ROOT} (lowercase letters, digits, `-` and `_`, starting with a letter or digit, at most 63)"
    )]
    UnsafeProject(String),
    /// A host name that cannot be a folder name.
    #[error(
        "the host name {0:?} cannot name a folder under {ROOT} (letters, digits, `.`, `-` and `_`, starting with a letter or digit, at most 63)"
    )]
    UnsafeHost(String),
    /// `host-gateway` with no gateway known for the host.
    #[error(
        "extra_hosts {entry:?} on host {host:?}: its daemon reports no gateway for the default bridge network"
    )]
    NoHostGateway {
        /// The host.
        host: String,
        /// The entry.
        entry: String,
    },
}

/// `/var/lib/nap/<project>/<host>`, for a project name Compose accepts
/// (`[a-z0-9][a-z0-9_-]*`, at most 63 bytes here) and an inventory host name of letters,
/// digits, `.`, `-` and `_` starting with a letter or digit; anything else (a `/`, `..`, a
/// newline) is refused, so no name ever changes where a file goes.
pub fn folder(project: &str, host: &str) -> Result<String, HostsFileError> {
    let project = project_folder(project)?;
    let safe_host = !host.is_empty()
        && host.len() <= 63
        && host
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !host.contains("..");
    if safe_host {
        Ok(format!("{project}/{host}"))
    } else {
        Err(HostsFileError::UnsafeHost(host.to_string()))
    }
}

/// `/var/lib/nap/<project>` (see [`folder`]).
pub fn project_folder(project: &str) -> Result<String, HostsFileError> {
    let safe = !project.is_empty()
        && project.len() <= 63
        && project
            .bytes()
            .next()
            .is_some_and(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit())
        && project.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"-_".contains(&byte)
        });
    if safe {
        Ok(format!("{ROOT}/{project}"))
    } else {
        Err(HostsFileError::UnsafeProject(project.to_string()))
    }
}

/// The file of a view: `v-<16 hex digits>.hosts`, the first 64 bits of SHA-256 over the
/// viewer's network keys (sorted), links and own `extra_hosts`. Stable across deployments
/// and membership changes, so the file (and its inode, bind-mounted in running containers)
/// stays while its contents change.
pub fn view_file_name(networks: &[&str], links: &[String], extra_hosts: &[String]) -> String {
    let mut hasher = Sha256::new();
    for (kind, items) in [
        ("networks", networks.to_vec()),
        ("links", links.iter().map(String::as_str).collect()),
        (
            "extra_hosts",
            extra_hosts.iter().map(String::as_str).collect(),
        ),
    ] {
        hasher.update(kind.as_bytes());
        hasher.update(b"\0");
        for item in items {
            hasher.update(item.as_bytes());
            hasher.update(b"\0");
        }
        hasher.update(b"\n");
    }
    let digest = hasher.finalize();
    let mut name = String::from("v-");
    for byte in &digest[..8] {
        let _ = write!(name, "{byte:02x}");
    }
    name.push_str(".hosts");
    name
}

/// Whether `name` is a view file's name as [`view_file_name`] makes it (what a host's fixed
/// write command accepts, and what a label read back from a daemon must be).
pub fn is_view_file_name(name: &str) -> bool {
    name.strip_prefix("v-")
        .and_then(|rest| rest.strip_suffix(".hosts"))
        .is_some_and(|hex| {
            hex.len() == 16
                && hex
                    .bytes()
                    .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
        })
}

/// Appends `address` in dotted form (by hand: a file holds every replica of the project, and
/// `format!` per entry was measurable at 2,000 containers).
fn push_ipv4(text: &mut String, address: Ipv4Addr) {
    for (index, octet) in address.octets().into_iter().enumerate() {
        if index > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
}

/// The text of `file`: Docker's fixed lines, the service's own `extra_hosts` (`host-gateway`
/// as the host's bridge gateway), then the name table in nap's block.
pub fn render(file: &DesiredHostsFile) -> Result<String, HostsFileError> {
    let unsafe_name = |name: &str, what| HostsFileError::UnsafeName {
        name: name.to_string(),
        what,
    };
    let mut text = String::with_capacity(
        DOCKER_HEADER.len() + 128 + file.table.iter().map(|e| e.name.len() + 17).sum::<usize>(),
    );
    text.push_str(DOCKER_HEADER);
    for entry in &file.extra_hosts {
        let Some((name, value)) = entry.split_once(':') else {
            continue;
        };
        if !is_safe_name(name) {
            return Err(unsafe_name(name, "extra_hosts"));
        }
        let address = if value == "host-gateway" {
            match file.host_gateway {
                Some(gateway) => IpAddr::V4(gateway),
                None => {
                    return Err(HostsFileError::NoHostGateway {
                        host: file.host.clone(),
                        entry: entry.clone(),
                    });
                }
            }
        } else {
            match value.parse::<IpAddr>() {
                Ok(address) => address,
                Err(_) => return Err(unsafe_name(entry, "extra_hosts")),
            }
        };
        let _ = writeln!(text, "{address}\t{name}");
    }
    text.push_str(BLOCK_BEGIN);
    text.push('\n');
    for entry in file.table.iter() {
        if !is_safe_name(&entry.name) {
            return Err(unsafe_name(&entry.name, "name table"));
        }
        push_ipv4(&mut text, entry.address);
        text.push('\t');
        text.push_str(&entry.name);
        text.push('\n');
    }
    text.push_str(BLOCK_END);
    text.push('\n');
    Ok(text)
}

/// `text`, lengthened to at least `length` bytes with a trailing line of spaces. A hosts file
/// is rewritten in place, in one `write(2)` over the old content and without truncating
/// first, while programs read it: a file that never gets shorter never shows a reader an
/// empty or cut table, nor the old tail after the new end.
pub fn padded(mut text: String, length: usize) -> String {
    if text.len() < length {
        let spaces = length - text.len() - 1;
        text.push_str(&" ".repeat(spaces));
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::plan::HostEntry;

    fn entry(name: &str, address: &str) -> HostEntry {
        HostEntry {
            name: name.to_string(),
            address: address.parse().unwrap(),
        }
    }

    fn file(table: Vec<HostEntry>, extra_hosts: &[&str]) -> DesiredHostsFile {
        DesiredHostsFile {
            host: "h1".into(),
            file: view_file_name(&["default"], &[], &[]),
            table: Arc::from(table),
            extra_hosts: extra_hosts.iter().map(ToString::to_string).collect(),
            host_gateway: Some("172.17.0.1".parse().unwrap()),
        }
    }

    #[test]
    fn the_file_is_docker_s_lines_then_the_table() {
        let table = vec![entry("web", "172.30.1.2"), entry("web", "172.30.3.2")];
        let text = render(&file(
            table,
            &["gw:host-gateway", "v6:fd00::1", "ext:10.0.0.9"],
        ))
        .unwrap();
        assert_eq!(
            text,
            format!(
                "{DOCKER_HEADER}172.17.0.1\tgw\nfd00::1\tv6\n10.0.0.9\text\n{BLOCK_BEGIN}\n172.30.1.2\tweb\n172.30.3.2\tweb\n{BLOCK_END}\n"
            )
        );
        let mut no_gateway = file(vec![], &["gw:host-gateway"]);
        no_gateway.host_gateway = None;
        assert!(matches!(
            render(&no_gateway),
            Err(HostsFileError::NoHostGateway { .. })
        ));
    }

    #[test]
    fn unsafe_names_are_refused() {
        for name in ["a\n6.6.6.6 github.com", "a b", "a#b", "-a", "", "ä"] {
            assert!(!is_safe_name(name), "{name:?}");
            let error = render(&file(vec![entry(name, "172.30.1.2")], &[])).unwrap_err();
            assert!(
                matches!(
                    error,
                    HostsFileError::UnsafeName {
                        what: "name table",
                        ..
                    }
                ),
                "{error}"
            );
        }
        for name in ["web", "web-1", "demo_web_1", "db.example.org", "A9"] {
            assert!(is_safe_name(name), "{name:?}");
        }
        let error = render(&file(vec![], &["a b:1.2.3.4"])).unwrap_err();
        assert!(matches!(
            error,
            HostsFileError::UnsafeName {
                what: "extra_hosts",
                ..
            }
        ));
        assert!(render(&file(vec![], &["a:1.2.3.4\n6.6.6.6 x"])).is_err());
    }

    #[test]
    fn folders_and_file_names() {
        assert_eq!(folder("demo", "h1").unwrap(), "/var/lib/nap/demo/h1");
        assert_eq!(
            folder("my_app-2", "Node-1.lab").unwrap(),
            "/var/lib/nap/my_app-2/Node-1.lab"
        );
        let long = "a".repeat(64);
        for bad in [
            "",
            "../etc",
            "a/b",
            "Demo",
            "-x",
            "a\nb",
            "a b",
            long.as_str(),
        ] {
            assert!(folder(bad, "h1").is_err(), "{bad:?}");
        }
        for bad in [
            "",
            "..",
            "a/b",
            "-h",
            ".h",
            "a..b",
            "h 1",
            "h\n1",
            long.as_str(),
        ] {
            assert!(folder("demo", bad).is_err(), "{bad:?}");
        }
        let name = view_file_name(&["back", "default"], &["db:database".into()], &[]);
        assert!(is_view_file_name(&name), "{name}");
        assert_ne!(name, view_file_name(&["back", "default"], &[], &[]));
        assert_ne!(
            view_file_name(&["default"], &[], &[]),
            view_file_name(&["default"], &[], &["x:1.2.3.4".into()])
        );
        assert_eq!(
            view_file_name(&["default"], &[], &[]),
            view_file_name(&["default"], &[], &[])
        );
        for bad in [
            "v-1.hosts",
            "../v-0123456789abcdef.hosts",
            "v-0123456789ABCDEF.hosts",
            "x",
        ] {
            assert!(!is_view_file_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn padding_keeps_the_length() {
        let text = render(&file(vec![entry("web", "172.30.1.2")], &[])).unwrap();
        let length = text.len() + 40;
        let padded_text = padded(text.clone(), length);
        assert_eq!(padded_text.len(), length);
        assert!(padded_text.starts_with(&text));
        assert!(padded_text.ends_with(" \n"));
        assert_eq!(padded(text.clone(), text.len() + 1).len(), text.len() + 1);
        assert_eq!(padded(text.clone(), 3), text);
    }
}
