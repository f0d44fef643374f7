//! The rules for names that leave the compose file: service names, `container_name`,
//! host names (`hostname`, `domainname`, network and link aliases, `external_links`,
//! `extra_hosts` names) and `extra_hosts` addresses.
//!
//! Each check returns why a value is refused, a [`NameError`] whose message is a lowercase
//! sentence the loader puts after `file:line: key:`. These names reach Docker, every peer's
//! hosts file and root shells on the hosts, so a name with a line break or a space could add
//! lines there; the rules let through only what Docker Compose and Docker accept for real
//! applications. Pure functions: nothing here reads files or talks to Docker.

use std::net::IpAddr;

/// The longest host name (RFC 1123 / RFC 1035).
pub const MAX_HOST_NAME: usize = 253;
/// The longest label of a host name.
pub const MAX_LABEL: usize = 63;

/// Why a name is refused: a lowercase sentence the loader puts after `file:line: key:`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A host name is empty.
    #[error("is empty")]
    Empty,
    /// A host name is longer than [`MAX_HOST_NAME`] bytes.
    #[error("{name:?} is longer than {MAX_HOST_NAME} bytes (RFC 1123)")]
    TooLong {
        /// The name.
        name: String,
    },
    /// A host name has a leading, trailing or double `.`.
    #[error(
        "{name:?} is not a host name: it has an empty label (a leading, trailing or double '.')"
    )]
    EmptyLabel {
        /// The name.
        name: String,
    },
    /// A label of a host name is longer than [`MAX_LABEL`] bytes.
    #[error(
        "{name:?} is not a host name: the label {label:?} is longer than {MAX_LABEL} bytes (RFC 1123)"
    )]
    LabelTooLong {
        /// The name.
        name: String,
        /// The label.
        label: String,
    },
    /// A host name holds a character other than letters, digits, `-`, `_` and `.`.
    #[error(
        "{name:?} is not a host name: {character:?} is not allowed (letters, digits, '-', '_' and '.' only)"
    )]
    Character {
        /// The name.
        name: String,
        /// The first character refused.
        character: char,
    },
    /// A label of a host name starts or ends with `-`.
    #[error("{name:?} is not a host name: the label {label:?} starts or ends with '-' (RFC 1123)")]
    Hyphen {
        /// The name.
        name: String,
        /// The label.
        label: String,
    },
    /// A service name breaks compose's rule `[a-zA-Z0-9._-]+`.
    #[error(
        "service name {name:?} may use only letters, digits, '.', '_' and '-' (compose's rule)"
    )]
    ServiceName {
        /// The service name.
        name: String,
    },
    /// A service name is not a host name.
    #[error("service name {name:?} cannot become a DNS name in the hosts files: {source}")]
    ServiceHostName {
        /// The service name.
        name: String,
        /// Why it is not a host name.
        #[source]
        source: Box<NameError>,
    },
    /// A container name breaks Docker's rule.
    #[error("container name {name:?} must match [a-zA-Z0-9][a-zA-Z0-9_.-]+ (Docker's rule)")]
    ContainerName {
        /// The container name.
        name: String,
    },
    /// An IPv4 `extra_hosts` address in brackets.
    #[error("{address:?} is not an IP address (brackets are for IPv6 only)")]
    BracketedIpv4 {
        /// The address as written.
        address: String,
    },
    /// An `extra_hosts` address that is neither an IP address nor `host-gateway`.
    #[error("{address:?} is not an IP address or host-gateway")]
    ExtraHostAddress {
        /// The address as written.
        address: String,
    },
    /// The name of an `extra_hosts` entry is not a host name.
    #[error("extra host name: {0}")]
    ExtraHostName(#[source] Box<NameError>),
    /// An SSH login that is not a POSIX user name.
    #[error(
        "user {user:?} is not a POSIX user name (letters, digits, '.', '_' and '-', not starting with '-')"
    )]
    UserName {
        /// The user name.
        user: String,
    },
    /// A host address that is neither an IP address nor a host name.
    #[error("address is not an IP address: {0}")]
    Address(#[source] Box<NameError>),
}

/// A host name: dot-separated labels of 1 to 63 ASCII letters, digits, `-` and `_`, not
/// starting or ending with `-`, at most 253 bytes in all (RFC 1123, with `_` allowed: Docker
/// accepts it in hostnames and aliases, its DNS and glibc's hosts lookup resolve it, and
/// compose v1 names such as `app_db_1` rely on it).
pub fn check_host_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    let owned = || name.to_string();
    if name.len() > MAX_HOST_NAME {
        return Err(NameError::TooLong { name: owned() });
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(NameError::EmptyLabel { name: owned() });
        }
        if label.len() > MAX_LABEL {
            return Err(NameError::LabelTooLong {
                name: owned(),
                label: label.to_string(),
            });
        }
        if let Some(character) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')))
        {
            return Err(NameError::Character {
                name: owned(),
                character,
            });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(NameError::Hyphen {
                name: owned(),
                label: label.to_string(),
            });
        }
    }
    Ok(())
}

/// A service name: compose's rule `[a-zA-Z0-9._-]+`, and (nap's addition) a valid host name,
/// because the service name is a DNS name in Docker and in every peer's hosts file.
pub fn check_service_name(name: &str) -> Result<(), NameError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(NameError::ServiceName {
            name: name.to_string(),
        });
    }
    check_host_name(name).map_err(|source| NameError::ServiceHostName {
        name: name.to_string(),
        source: Box::new(source),
    })
}

/// A container name: Docker's rule `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_container_name(name: &str) -> Result<(), NameError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest: Vec<char> = chars.collect();
    if !first_ok
        || rest.is_empty()
        || !rest
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(NameError::ContainerName {
            name: name.to_string(),
        });
    }
    Ok(())
}

/// An `extra_hosts` address: an IPv4 or IPv6 address (brackets around IPv6 allowed, as in
/// compose) or `host-gateway`. Returns the address without brackets.
pub fn check_extra_host_address(address: &str) -> Result<String, NameError> {
    if address == "host-gateway" {
        return Ok(address.to_string());
    }
    let bare = address
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(address);
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) if bare.len() != address.len() => Err(NameError::BracketedIpv4 {
            address: address.to_string(),
        }),
        Ok(_) => Ok(bare.to_string()),
        Err(_) => Err(NameError::ExtraHostAddress {
            address: address.to_string(),
        }),
    }
}

/// One `extra_hosts` entry, `name:address` (compose's `name=address` already turned into it):
/// a host name and a real address. Returns the entry as `name:address`, brackets removed.
pub fn check_extra_host(name: &str, address: &str) -> Result<String, NameError> {
    check_host_name(name).map_err(|reason| NameError::ExtraHostName(Box::new(reason)))?;
    let address = check_extra_host_address(address)?;
    Ok(format!("{name}:{address}"))
}

/// A POSIX user name (SSH login): 1 to 256 characters of the portable set
/// `[A-Za-z0-9._-]`, not starting with `-`.
pub fn check_user_name(user: &str) -> Result<(), NameError> {
    if user.is_empty()
        || user.len() > 256
        || user.starts_with('-')
        || !user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(NameError::UserName {
            user: user.to_string(),
        });
    }
    Ok(())
}

/// A host address: an IP address (bracketed IPv6 allowed) or a host name.
pub fn check_address(address: &str) -> Result<(), NameError> {
    let bare = address
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(address);
    if bare.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    check_host_name(address).map_err(|reason| NameError::Address(Box::new(reason)))
}

/// A name that may be written into a hosts file: 1 to 253 bytes of ASCII letters, digits,
/// `.`, `_` and `-`, not starting with `-` or `.`. Every name the loader accepts (host names,
/// service names, container names, generated `<project>-<service>-<n>` names) passes.
pub fn is_hosts_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_HOST_NAME
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        for good in ["db", "a_b", "gitlab.example.com", "x-1", "_srv.example"] {
            assert!(check_host_name(good).is_ok(), "{good}");
        }
        let long_label = "a".repeat(64);
        for bad in [
            "",
            "a\n6.6.6.6 github.com",
            "a b",
            "-a",
            "a-",
            "a..b",
            "a.",
            long_label.as_str(),
        ] {
            assert!(check_host_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn extra_hosts() {
        assert_eq!(check_extra_host("h", "[::1]").unwrap(), "h:::1");
        assert_eq!(
            check_extra_host("h", "host-gateway").unwrap(),
            "h:host-gateway"
        );
        assert!(check_extra_host("h", "1.2.3.4\n6.6.6.6 x").is_err());
        assert!(check_extra_host("h", "[1.2.3.4]").is_err());
        assert!(check_extra_host("h", " 1.2.3.4").is_err());
    }
}
