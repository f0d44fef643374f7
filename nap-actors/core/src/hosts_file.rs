//! A container's hosts file with nap's name table in it, built from nap's data alone: pure
//! values in, text out.
//!
//! Docker writes `/etc/hosts` when a container starts: its fixed localhost lines, one
//! `address\tname` line per `extra_hosts` entry the container was created with, and the
//! container's own address and hostname. When the project's name table changes later, nap
//! rewrites the file in place. The container can write that file, so nothing of what it holds
//! is copied into the new one: [`render`] re-derives Docker's lines from values nap knows (the
//! fixed header, the service's own `extra_hosts`, the container's hostname and addresses as
//! Docker reports them) and puts the current table in one delimited block. The current file
//! is only *read*, bounded ([`MAX_FILE_BYTES`]), to pick among values nap already has (which of
//! the container's own addresses Docker wrote, the address Docker gave `host-gateway`) and to
//! tell whether anything changed. Every name is checked ([`is_safe_name`]) before it is
//! written, so no name can add a line. This module only computes the text; reading and
//! writing the file (over SSH or exec) is the host actor's job.

use std::net::IpAddr;

use crate::plan::HostEntry;

/// First line of nap's block.
pub const BLOCK_BEGIN: &str = "# nap: begin (written by nap; edits inside are replaced)";
/// Last line of nap's block.
pub const BLOCK_END: &str = "# nap: end";

/// Start of the line [`padded`] adds.
pub const PADDING: &str = "# nap: padding";

/// The largest hosts file nap reads back from a container (a hostile container can make its
/// file any size; a real one holds a few lines per container of the project).
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// Lines of the current file longer than this are not looked at.
const MAX_LINE_BYTES: usize = 4096;

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

/// A name that [`render`] refused to write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refusing to write the name {name:?} into a hosts file ({what})")]
pub struct UnsafeName {
    /// The name, as given.
    pub name: String,
    /// Where it came from (`hostname`, `extra_hosts`, `name table`).
    pub what: &'static str,
}

/// What a container's own lines are made of, as nap derives them (from its create-time
/// settings and Docker's inspect), never copied from the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnLines {
    /// The container's hostname (`Config.Hostname`).
    pub hostname: String,
    /// Its domain name (`Config.Domainname`), if any.
    pub domainname: Option<String>,
    /// Its addresses, one per network, in a stable order (Docker writes one of them).
    pub addresses: Vec<IpAddr>,
    /// The service's own `extra_hosts` as created (`name:address` or `name:host-gateway`),
    /// without nap's name table.
    pub extra_hosts: Vec<String>,
}

/// The lines of `text` that nap may look at: at most [`MAX_FILE_BYTES`], each at most
/// [`MAX_LINE_BYTES`], split into an address and its names when the line is one.
fn records(text: &str) -> impl Iterator<Item = (IpAddr, Vec<&str>)> {
    let text = match text.char_indices().nth(MAX_FILE_BYTES) {
        Some((end, _)) => &text[..end],
        None => text,
    };
    text.lines()
        .filter(|line| line.len() <= MAX_LINE_BYTES)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let address = fields.next()?.parse().ok()?;
            let names: Vec<&str> = fields.collect();
            (!names.is_empty()).then_some((address, names))
        })
}

/// The names Docker writes on a container's own line: `fqdn hostname` when the name has a
/// domain, else the hostname alone.
fn own_names(own: &OwnLines) -> String {
    let fqdn = match &own.domainname {
        Some(domain) if !domain.is_empty() => format!("{}.{domain}", own.hostname),
        _ => own.hostname.clone(),
    };
    match fqdn.split_once('.') {
        Some((short, _)) => format!("{fqdn} {short}"),
        None => fqdn,
    }
}

/// The hosts file of a container whose own lines are `own` and that should resolve `wanted`.
/// `current` is the file as it is now, used only to pick among nap's values (see the module
/// documentation).
pub fn render(own: &OwnLines, wanted: &[HostEntry], current: &str) -> Result<String, UnsafeName> {
    let unsafe_name = |name: &str, what| UnsafeName {
        name: name.to_string(),
        what,
    };
    for name in std::iter::once(&own.hostname).chain(&own.domainname) {
        if !name.is_empty() && !is_safe_name(name) {
            return Err(unsafe_name(name, "hostname"));
        }
    }
    let current_records: Vec<(IpAddr, Vec<&str>)> = records(current).collect();
    let mut text = String::from(DOCKER_HEADER);
    for entry in &own.extra_hosts {
        let Some((name, value)) = entry.split_once(':') else {
            continue;
        };
        if !is_safe_name(name) {
            return Err(unsafe_name(name, "extra_hosts"));
        }
        let address = if value == "host-gateway" {
            // Docker resolved it when the container started: the address it wrote for the name.
            current_records
                .iter()
                .find(|(_, names)| names.as_slice() == [name])
                .map(|(address, _)| *address)
        } else {
            value.parse::<IpAddr>().ok()
        };
        if let Some(address) = address {
            text.push_str(&format!("{address}\t{name}\n"));
        }
    }
    if !own.hostname.is_empty() {
        // The address Docker wrote for the hostname, if it is one of the container's own;
        // else the first of them.
        let address = current_records
            .iter()
            .find(|(address, names)| {
                own.addresses.contains(address) && names.contains(&own.hostname.as_str())
            })
            .map(|(address, _)| *address)
            .or_else(|| own.addresses.first().copied());
        if let Some(address) = address {
            text.push_str(&format!("{address}\t{}\n", own_names(own)));
        }
    }
    text.push_str(BLOCK_BEGIN);
    text.push('\n');
    for entry in wanted {
        if !is_safe_name(&entry.name) {
            return Err(unsafe_name(&entry.name, "name table"));
        }
        text.push_str(&format!("{}\t{}\n", entry.address, entry.name));
    }
    text.push_str(BLOCK_END);
    text.push('\n');
    Ok(text)
}

/// Whether the file Docker wrote, `current`, holds a line for each of `entries` (what it
/// writes from a container's `extra_hosts`).
pub fn resolves(current: &str, entries: &[HostEntry]) -> bool {
    let records: Vec<(IpAddr, Vec<&str>)> = records(current).collect();
    entries.iter().all(|entry| {
        records.iter().any(|(address, names)| {
            *address == IpAddr::V4(entry.address) && names.as_slice() == [entry.name.as_str()]
        })
    })
}

/// Whether `current` already is `next`, but for a padding line at its end.
pub fn holds(current: &str, next: &str) -> bool {
    match current.strip_prefix(next) {
        Some(rest) => rest.is_empty() || rest.starts_with(PADDING),
        None => false,
    }
}

/// `text`, lengthened to at least `length` bytes with a trailing comment line. A hosts file is
/// rewritten in place while programs read it; written over the old content without
/// truncating first, a file that never gets shorter never shows a reader an empty or cut
/// table.
pub fn padded(mut text: String, length: usize) -> String {
    if text.len() < length {
        let spaces = length.saturating_sub(text.len() + PADDING.len() + 1);
        text.push_str(PADDING);
        text.push_str(&" ".repeat(spaces));
        text.push('\n');
    }
    text
}

/// The table a hosts file resolves: nap's block if it has one, else the lines after Docker's
/// `address\tname` lines that are not loopback (the container's own line and what
/// `extra_hosts` wrote). IPv4 entries only, one per name of a line.
pub fn entries_in(text: &str) -> Vec<HostEntry> {
    let parse = |line: &str| {
        let mut fields = line.split_whitespace();
        let address = fields.next()?.parse().ok()?;
        let name = fields.next()?.to_string();
        Some(HostEntry { name, address })
    };
    if let Some(start) = text.lines().position(|line| line == BLOCK_BEGIN) {
        return text
            .lines()
            .skip(start + 1)
            .take_while(|line| *line != BLOCK_END)
            .filter_map(parse)
            .collect();
    }
    text.lines()
        .filter(|line| line.contains('\t'))
        .filter_map(parse)
        .filter(|entry| !entry.address.is_loopback())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, address: &str) -> HostEntry {
        HostEntry {
            name: name.to_string(),
            address: address.parse().unwrap(),
        }
    }

    fn own() -> OwnLines {
        OwnLines {
            hostname: "abc123".into(),
            domainname: None,
            addresses: vec!["172.30.0.2".parse().unwrap()],
            extra_hosts: vec![],
        }
    }

    /// What Docker wrote for a container created with `extra_hosts`.
    fn docker_wrote(extra: &[&str], own_line: &str) -> String {
        let mut text = DOCKER_HEADER.to_string();
        for line in extra {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(own_line);
        text.push('\n');
        text
    }

    #[test]
    fn the_file_is_docker_s_lines_then_the_table() {
        let current = docker_wrote(&["172.30.1.2\tweb"], "172.30.0.2\tabc123");
        let wanted = vec![entry("web", "172.30.1.2"), entry("web", "172.30.3.2")];
        let next = render(&own(), &wanted, &current).unwrap();
        assert_eq!(
            next,
            format!(
                "{DOCKER_HEADER}172.30.0.2\tabc123\n{BLOCK_BEGIN}\n172.30.1.2\tweb\n172.30.3.2\tweb\n{BLOCK_END}\n"
            )
        );
        assert_eq!(entries_in(&next), wanted);
        // Rendering again from the new file gives the same file.
        assert_eq!(render(&own(), &wanted, &next).unwrap(), next);
        assert!(holds(&padded(next.clone(), next.len() + 40), &next));
        assert!(!holds(&current, &next));
        assert!(resolves(&current, &[entry("web", "172.30.1.2")]));
        assert!(!resolves(&current, &wanted));
    }

    #[test]
    fn nothing_the_container_wrote_is_copied() {
        // Payloads a container could plant in its own file: shell here-document terminators,
        // command substitutions, quotes, a forged name line, an endless line.
        let planted = [
            "NAP_HOSTS_EOF",
            "touch /tmp/pwned; exit 0",
            "$(touch /tmp/pwned)",
            "`touch /tmp/pwned`",
            "'\"'",
            "6.6.6.6 github.com",
            "172.30.0.2 abc123 evil.example",
            &"x".repeat(10_000),
        ];
        let mut current = docker_wrote(&[], "172.30.0.2\tabc123");
        for line in planted {
            current.push_str(line);
            current.push('\n');
        }
        let next = render(&own(), &[entry("web", "172.30.1.2")], &current).unwrap();
        assert_eq!(
            next,
            format!(
                "{DOCKER_HEADER}172.30.0.2\tabc123\n{BLOCK_BEGIN}\n172.30.1.2\tweb\n{BLOCK_END}\n"
            )
        );
    }

    #[test]
    fn own_lines_come_from_nap_s_values() {
        let mut own = OwnLines {
            hostname: "db".into(),
            domainname: Some("example.org".into()),
            addresses: vec!["172.30.0.5".parse().unwrap(), "172.30.9.5".parse().unwrap()],
            extra_hosts: vec![
                "gw:host-gateway".into(),
                "v6:fd00::1".into(),
                "ext:10.0.0.9".into(),
            ],
        };
        // Docker wrote the second network's address and resolved host-gateway.
        let current = docker_wrote(
            &["172.17.0.1\tgw", "fd00::1\tv6", "10.0.0.9\text"],
            "172.30.9.5\tdb.example.org db",
        );
        let next = render(&own, &[], &current).unwrap();
        assert_eq!(
            next,
            format!(
                "{DOCKER_HEADER}172.17.0.1\tgw\nfd00::1\tv6\n10.0.0.9\text\n172.30.9.5\tdb.example.org db\n{BLOCK_BEGIN}\n{BLOCK_END}\n"
            )
        );
        // An address that is not the container's own is not taken from the file.
        let forged = docker_wrote(&[], "6.6.6.6\tdb.example.org db");
        assert!(
            render(&own, &[], &forged)
                .unwrap()
                .contains("172.30.0.5\tdb.example.org db\n")
        );
        // A host-gateway the file does not resolve is left out rather than guessed.
        own.extra_hosts = vec!["gw:host-gateway".into()];
        let next = render(&own, &[], &docker_wrote(&[], "172.30.0.5\tdb")).unwrap();
        assert!(!next.contains("\tgw\n"), "{next}");
    }

    #[test]
    fn unsafe_names_are_refused() {
        for name in ["a\n6.6.6.6 github.com", "a b", "a#b", "-a", "", "ä"] {
            assert!(!is_safe_name(name), "{name:?}");
            let error = render(&own(), &[entry(name, "172.30.1.2")], "").unwrap_err();
            assert_eq!(error.what, "name table");
        }
        for name in ["web", "web-1", "demo_web_1", "db.example.org", "A9"] {
            assert!(is_safe_name(name), "{name:?}");
        }
        let mut bad = own();
        bad.hostname = "x\ny".into();
        assert_eq!(render(&bad, &[], "").unwrap_err().what, "hostname");
        bad = own();
        bad.extra_hosts = vec!["a b:1.2.3.4".into()];
        assert_eq!(render(&bad, &[], "").unwrap_err().what, "extra_hosts");
    }

    #[test]
    fn padding_keeps_the_length() {
        let next = render(&own(), &[entry("web", "172.30.1.2")], "").unwrap();
        let length = next.len() + 40;
        let padded_text = padded(next.clone(), length);
        assert_eq!(padded_text.len(), length);
        // Less room than the comment itself needs: longer than asked, never shorter.
        assert!(padded(next.clone(), next.len() + 3).len() >= next.len() + 3);
        assert!(padded_text.starts_with(&next));
        assert_eq!(entries_in(&padded_text), vec![entry("web", "172.30.1.2")]);
        assert_eq!(padded(next.clone(), 3), next);
    }

    #[test]
    fn entries_of_a_file_docker_wrote() {
        let current = docker_wrote(&["172.30.1.2\tweb", "172.30.2.2\tdb"], "172.30.0.2\tabc123");
        assert_eq!(
            entries_in(&current),
            vec![
                entry("web", "172.30.1.2"),
                entry("db", "172.30.2.2"),
                entry("abc123", "172.30.0.2")
            ]
        );
    }
}
