//! SSH: a host's target (`[user@]address[:port]`) and the inventory-wide `ssh:` settings.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// `user@address[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SshTarget {
    /// Login user (default `root`).
    pub user: String,
    /// Address or name.
    pub address: String,
    /// Port (default 22).
    pub port: u16,
}

/// Why an SSH target cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SshTargetError {
    /// `@address` with nothing before the `@`.
    #[error("{text:?} has an empty user")]
    EmptyUser {
        /// The target as written.
        text: String,
    },
    /// The port is not a number from 0 to 65535.
    #[error("{text:?} has an invalid port {port:?}")]
    Port {
        /// The target as written.
        text: String,
        /// The port as written.
        port: String,
    },
    /// No address.
    #[error("{text:?} has no address")]
    NoAddress {
        /// The target as written.
        text: String,
    },
}

impl SshTarget {
    /// Parses `[user@]address[:port]`.
    pub fn parse(text: &str) -> Result<SshTarget, SshTargetError> {
        let (user, rest) = match text.split_once('@') {
            Some((user, rest)) if !user.is_empty() => (user.to_string(), rest),
            Some(_) => {
                return Err(SshTargetError::EmptyUser {
                    text: text.to_string(),
                });
            }
            None => ("root".to_string(), text),
        };
        let (address, port) = match rest.rsplit_once(':') {
            Some((address, port)) if !address.contains(':') => (
                address.to_string(),
                port.parse::<u16>().map_err(|_| SshTargetError::Port {
                    text: text.to_string(),
                    port: port.to_string(),
                })?,
            ),
            _ => (rest.to_string(), 22),
        };
        if address.is_empty() {
            return Err(SshTargetError::NoAddress {
                text: text.to_string(),
            });
        }
        Ok(SshTarget {
            user,
            address,
            port,
        })
    }
}

impl fmt::Display for SshTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.port == 22 {
            write!(f, "{}@{}", self.user, self.address)
        } else {
            write!(f, "{}@{}:{}", self.user, self.address, self.port)
        }
    }
}

/// `ssh:` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SshSettings {
    /// Private key; default: the user's keys and agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<PathBuf>,
    /// known_hosts file; default `~/.ssh/known_hosts`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_hosts: Option<PathBuf>,
}
