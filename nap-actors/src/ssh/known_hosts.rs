//! nap's own known_hosts reader: parses an OpenSSH known_hosts file and decides whether a
//! host's key is known, changed, revoked or unknown.
//!
//! It understands plain and hashed (`|1|salt|hash`) host fields, `[host]:port` names,
//! wildcards `*` and `?`, negated patterns `!pattern`, comma lists, and the `@revoked` and
//! `@cert-authority` markers. A key listed under `@revoked` for a matching host is refused even
//! when another line accepts it, as OpenSSH does. `@cert-authority` lines are read but accept
//! nothing: nap negotiates plain host keys only, and says which line it did not use.
//!
//! It does no I/O besides [`KnownHosts::read`] and never writes the file.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::{Algorithm, PublicKey};

/// The parsed entries of one known_hosts file.
#[derive(Debug, Clone)]
pub struct KnownHosts {
    path: PathBuf,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    /// The line in the file, from 1.
    line: usize,
    marker: Marker,
    hosts: HostField,
    key: PublicKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

#[derive(Debug, Clone)]
enum HostField {
    /// `|1|salt|hash`: HMAC-SHA1 of the host name keyed with the salt.
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
    /// A comma list of patterns, each maybe negated with `!`.
    Patterns(Vec<String>),
}

/// What the file says about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyVerdict {
    /// The key is listed for the host (on this line).
    Known {
        /// The line, from 1.
        line: usize,
    },
    /// The key is listed under `@revoked` for the host (on this line): refuse it.
    Revoked {
        /// The line, from 1.
        line: usize,
    },
    /// Another key of the same type is listed for the host (on this line).
    Changed {
        /// The line, from 1.
        line: usize,
    },
    /// Nothing accepts the key.
    Unknown {
        /// A `@cert-authority` line for this host, which nap does not use.
        cert_authority_line: Option<usize>,
    },
}

impl KnownHosts {
    /// Reads and parses `path`. A missing file is an error of kind `NotFound`.
    pub fn read(path: &Path) -> std::io::Result<KnownHosts> {
        let text = std::fs::read_to_string(path)?;
        Ok(KnownHosts::parse(path, &text))
    }

    /// Parses the text of a known_hosts file. Lines that cannot be parsed (an unknown marker,
    /// a broken key) are skipped, as OpenSSH skips them.
    pub fn parse(path: &Path, text: &str) -> KnownHosts {
        let entries = text
            .lines()
            .enumerate()
            .filter_map(|(index, line)| {
                let entry = parse_line(index + 1, line);
                if entry.is_none() && !is_blank_or_comment(line) {
                    tracing::debug!(
                        "{}:{}: skipping an unreadable known_hosts line",
                        path.display(),
                        index + 1
                    );
                }
                entry
            })
            .collect();
        KnownHosts {
            path: path.to_path_buf(),
            entries,
        }
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks `key` offered by `address:port`.
    pub fn check(&self, address: &str, port: u16, key: &PublicKey) -> HostKeyVerdict {
        let name = host_name(address, port);
        let matching: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|entry| entry.hosts.matches(&name))
            .collect();
        let same_key = |entry: &&&Entry| entry.key.key_data() == key.key_data();
        if let Some(entry) = matching
            .iter()
            .filter(|entry| entry.marker == Marker::Revoked)
            .find(same_key)
        {
            return HostKeyVerdict::Revoked { line: entry.line };
        }
        let plain = || matching.iter().filter(|entry| entry.marker == Marker::None);
        if let Some(entry) = plain().find(same_key) {
            return HostKeyVerdict::Known { line: entry.line };
        }
        if let Some(entry) =
            plain().find(|entry| same_type(&entry.key.algorithm(), &key.algorithm()))
        {
            return HostKeyVerdict::Changed { line: entry.line };
        }
        HostKeyVerdict::Unknown {
            cert_authority_line: matching
                .iter()
                .find(|entry| entry.marker == Marker::CertAuthority)
                .map(|entry| entry.line),
        }
    }

    /// The types of the plain keys listed for `address:port`, in file order.
    pub fn key_algorithms(&self, address: &str, port: u16) -> Vec<Algorithm> {
        let name = host_name(address, port);
        self.entries
            .iter()
            .filter(|entry| entry.marker == Marker::None && entry.hosts.matches(&name))
            .map(|entry| entry.key.algorithm())
            .collect()
    }
}

/// How known_hosts names a host: `address` on port 22, else `[address]:port`.
pub fn host_name(address: &str, port: u16) -> String {
    if port == 22 {
        address.to_ascii_lowercase()
    } else {
        format!("[{}]:{port}", address.to_ascii_lowercase())
    }
}

fn same_type(a: &Algorithm, b: &Algorithm) -> bool {
    match (a, b) {
        (Algorithm::Rsa { .. }, Algorithm::Rsa { .. }) => true,
        (a, b) => a == b,
    }
}

fn is_blank_or_comment(line: &str) -> bool {
    let line = line.trim_start();
    line.is_empty() || line.starts_with('#')
}

fn parse_line(line_number: usize, line: &str) -> Option<Entry> {
    if is_blank_or_comment(line) {
        return None;
    }
    let mut fields = line.split_ascii_whitespace();
    let mut first = fields.next()?;
    let marker = match first {
        "@revoked" => Marker::Revoked,
        "@cert-authority" => Marker::CertAuthority,
        other if other.starts_with('@') => return None,
        _ => Marker::None,
    };
    if marker != Marker::None {
        first = fields.next()?;
    }
    let hosts = HostField::parse(first)?;
    let key_type = fields.next()?;
    let key_base64 = fields.next()?;
    let key = PublicKey::from_openssh(&format!("{key_type} {key_base64}")).ok()?;
    Some(Entry {
        line: line_number,
        marker,
        hosts,
        key,
    })
}

impl HostField {
    fn parse(field: &str) -> Option<HostField> {
        if let Some(rest) = field.strip_prefix("|1|") {
            let (salt, hash) = rest.split_once('|')?;
            let salt = STANDARD.decode(salt).ok()?;
            let hash = STANDARD.decode(hash).ok()?;
            return Some(HostField::Hashed { salt, hash });
        }
        let patterns: Vec<String> = field
            .split(',')
            .filter(|pattern| !pattern.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        (!patterns.is_empty()).then_some(HostField::Patterns(patterns))
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            HostField::Hashed { salt, hash } => {
                let Ok(mut mac) = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(salt) else {
                    return false;
                };
                mac.update(name.as_bytes());
                mac.verify_slice(hash).is_ok()
            }
            HostField::Patterns(patterns) => {
                let mut matched = false;
                for pattern in patterns {
                    match pattern.strip_prefix('!') {
                        // A negated match rules the line out, whatever else matches.
                        Some(negated) if wildcard_match(negated, name) => return false,
                        Some(_) => {}
                        None => matched |= wildcard_match(pattern, name),
                    }
                }
                matched
            }
        }
    }
}

/// Whether `name` matches `pattern`, where `*` is any run of characters and `?` any one.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    let (mut p, mut n) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            backtrack = Some((p, n));
            p += 1;
        } else if let Some((star, at)) = backtrack {
            p = star + 1;
            n = at + 1;
            backtrack = Some((star, at + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    // Two Ed25519 public keys made with ssh-keygen.
    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFYuI6M0kUsQCeT40SRm2U+5PwCktkAMbtLX/gIJS4DT";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINR/shHdtmyATLPSzEVyaiq0QnFMN+HdHcbVzHVyOYSV";

    const HASHED_22: &str = "|1|/eL9RD0mrOIdmeNNNG9zPvizhno=|Yt2eZ+QVBTMtWLTUoeVWzLEpJgA=";
    const HASHED_2222: &str = "|1|kDWvAyntmKB+mXaWMcKkv/ETV2s=|5g94A/PSZmpzmnUdDaFiV7KNubg=";

    fn key(text: &str) -> PublicKey {
        PublicKey::from_openssh(text).unwrap()
    }

    fn file(text: &str) -> KnownHosts {
        KnownHosts::parse(Path::new("/k/known_hosts"), text)
    }

    fn check(text: &str, address: &str, port: u16, offered: &str) -> HostKeyVerdict {
        file(text).check(address, port, &key(offered))
    }

    #[test]
    fn plain_host_is_known_and_other_hosts_are_not() {
        let text = format!("# comment\n\n10.0.0.5 {KEY_A}\n");
        assert_eq!(
            check(&text, "10.0.0.5", 22, KEY_A),
            HostKeyVerdict::Known { line: 3 }
        );
        assert_eq!(
            check(&text, "10.0.0.6", 22, KEY_A),
            HostKeyVerdict::Unknown {
                cert_authority_line: None
            }
        );
    }

    #[test]
    fn a_different_key_of_the_same_type_is_a_change() {
        let text = format!("10.0.0.5 {KEY_A}\n");
        assert_eq!(
            check(&text, "10.0.0.5", 22, KEY_B),
            HostKeyVerdict::Changed { line: 1 }
        );
    }

    #[test]
    fn bracketed_port_form_is_required_off_port_22() {
        let text = format!("[10.0.0.5]:2222 {KEY_A}\n10.0.0.6 {KEY_A}\n");
        assert_eq!(
            check(&text, "10.0.0.5", 2222, KEY_A),
            HostKeyVerdict::Known { line: 1 }
        );
        assert_eq!(
            check(&text, "10.0.0.5", 22, KEY_A),
            HostKeyVerdict::Unknown {
                cert_authority_line: None
            }
        );
        assert_eq!(
            check(&text, "10.0.0.6", 2222, KEY_A),
            HostKeyVerdict::Unknown {
                cert_authority_line: None
            }
        );
    }

    #[test]
    fn comma_lists_and_case_are_handled() {
        let text = format!("web1,Web2.Example.com,10.0.0.7 {KEY_A}\n");
        for address in ["web1", "web2.example.com", "10.0.0.7"] {
            assert_eq!(
                check(&text, address, 22, KEY_A),
                HostKeyVerdict::Known { line: 1 }
            );
        }
        assert!(matches!(
            check(&text, "web3", 22, KEY_A),
            HostKeyVerdict::Unknown { .. }
        ));
    }

    #[test]
    fn wildcards_match() {
        let text = format!("10.0.0.* {KEY_A}\nweb? {KEY_A}\n[db*]:2222 {KEY_A}\n");
        assert_eq!(
            check(&text, "10.0.0.99", 22, KEY_A),
            HostKeyVerdict::Known { line: 1 }
        );
        assert_eq!(
            check(&text, "web7", 22, KEY_A),
            HostKeyVerdict::Known { line: 2 }
        );
        assert!(matches!(
            check(&text, "web77", 22, KEY_A),
            HostKeyVerdict::Unknown { .. }
        ));
        assert_eq!(
            check(&text, "db-main", 2222, KEY_A),
            HostKeyVerdict::Known { line: 3 }
        );
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "axxbyy"));
        assert!(wildcard_match("*", ""));
    }

    #[test]
    fn negation_rules_a_line_out() {
        let text = format!("10.0.0.*,!10.0.0.5 {KEY_A}\n");
        assert_eq!(
            check(&text, "10.0.0.6", 22, KEY_A),
            HostKeyVerdict::Known { line: 1 }
        );
        assert!(matches!(
            check(&text, "10.0.0.5", 22, KEY_A),
            HostKeyVerdict::Unknown { .. }
        ));
        // A negation alone matches nothing.
        let only_negated = format!("!10.0.0.5 {KEY_A}\n");
        assert!(matches!(
            check(&only_negated, "10.0.0.6", 22, KEY_A),
            HostKeyVerdict::Unknown { .. }
        ));
    }

    #[test]
    fn hashed_hosts_match_their_name_only() {
        // `ssh-keygen -H` output for host `10.0.0.5` and for `[10.0.0.5]:2222`.
        let text = format!("{HASHED_22} {KEY_A}\n{HASHED_2222} {KEY_A}\n");
        assert_eq!(
            check(&text, "10.0.0.5", 22, KEY_A),
            HostKeyVerdict::Known { line: 1 }
        );
        assert_eq!(
            check(&text, "10.0.0.5", 2222, KEY_A),
            HostKeyVerdict::Known { line: 2 }
        );
        assert!(matches!(
            check(&text, "10.0.0.6", 22, KEY_A),
            HostKeyVerdict::Unknown { .. }
        ));
        assert_eq!(
            check(&text, "10.0.0.5", 22, KEY_B),
            HostKeyVerdict::Changed { line: 1 }
        );
    }

    #[test]
    fn revoked_keys_are_refused_even_when_another_line_accepts_them() {
        let text = format!("10.0.0.5 {KEY_A}\n@revoked * {KEY_A}\n");
        assert_eq!(
            check(&text, "10.0.0.5", 22, KEY_A),
            HostKeyVerdict::Revoked { line: 2 }
        );
        // Another key is not affected.
        let text = format!("10.0.0.5 {KEY_B}\n@revoked * {KEY_A}\n");
        assert_eq!(
            check(&text, "10.0.0.5", 22, KEY_B),
            HostKeyVerdict::Known { line: 1 }
        );
        // The revoked line's hosts must match.
        let text = format!("10.0.0.5 {KEY_A}\n@revoked 10.0.0.9 {KEY_A}\n");
        assert_eq!(
            check(&text, "10.0.0.5", 22, KEY_A),
            HostKeyVerdict::Known { line: 1 }
        );
        // A revoked key is not a "known" key of its type either.
        let text = format!("@revoked 10.0.0.5 {KEY_A}\n");
        assert_eq!(
            check(&text, "10.0.0.5", 22, KEY_A),
            HostKeyVerdict::Revoked { line: 1 }
        );
        assert!(matches!(
            check(&text, "10.0.0.5", 22, KEY_B),
            HostKeyVerdict::Unknown { .. }
        ));
    }

    #[test]
    fn cert_authority_lines_accept_no_plain_key_and_are_named() {
        let text = format!("@cert-authority *.lab,10.0.0.* {KEY_A}\n");
        assert_eq!(
            check(&text, "10.0.0.5", 22, KEY_A),
            HostKeyVerdict::Unknown {
                cert_authority_line: Some(1)
            }
        );
        assert!(file(&text).key_algorithms("10.0.0.5", 22).is_empty());
    }

    #[test]
    fn broken_lines_and_unknown_markers_are_skipped() {
        let text = format!(
            "@foo 10.0.0.5 {KEY_A}\n10.0.0.5 ssh-ed25519 !!!\n10.0.0.5\n10.0.0.5 {KEY_A}\n"
        );
        assert_eq!(
            check(&text, "10.0.0.5", 22, KEY_A),
            HostKeyVerdict::Known { line: 4 }
        );
    }

    #[test]
    fn key_algorithms_lists_plain_keys_for_the_host() {
        let text = format!("10.0.0.5 {KEY_A}\n10.0.0.6 {KEY_B}\n");
        assert_eq!(
            file(&text).key_algorithms("10.0.0.5", 22),
            vec![Algorithm::Ed25519]
        );
    }
}
