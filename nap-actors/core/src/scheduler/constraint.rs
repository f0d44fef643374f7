//! Placement constraints (`node.labels.<key>==<value>`, `node.hostname!=<name>`): their
//! parsing, canonical text and Swarm's matching rules.

use std::fmt;
use std::str::FromStr;

use super::HostSpec;
use serde::{Deserialize, Serialize};

/// A placement constraint (`deploy.placement.constraints`), restricted to the
/// attributes nap knows about its hosts.
///
/// Values compare case-insensitively, as in Swarm; label keys compare exactly.
/// A label constraint on a label the host does not have fails with `==` and
/// holds with `!=`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Constraint {
    /// `node.labels.<key>==<value>`: the host has the label with that value.
    LabelEq {
        /// The label key.
        key: String,
        /// The value the label must have.
        value: String,
    },
    /// `node.labels.<key>!=<value>`: the host lacks the label or has another
    /// value.
    LabelNe {
        /// The label key.
        key: String,
        /// The value the label must not have.
        value: String,
    },
    /// `node.hostname==<name>`: the host has that name.
    HostnameEq(String),
    /// `node.hostname!=<name>`: the host has another name.
    HostnameNe(String),
}

/// Why a constraint's text could not be parsed. Every message quotes the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    /// Neither `==` nor `!=` appears in the text.
    #[error(
        "invalid constraint {constraint:?}: expected <attribute>==<value> or <attribute>!=<value>"
    )]
    MissingOperator {
        /// The constraint as written.
        constraint: String,
    },
    /// Nothing stands before the operator.
    #[error("invalid constraint {constraint:?}: nothing before the operator")]
    MissingAttribute {
        /// The constraint as written.
        constraint: String,
    },
    /// The attribute is not one nap can evaluate (`node.role`, `node.id`,
    /// `engine.labels.*`, ...).
    #[error(
        "unsupported constraint {constraint:?}: nap supports node.labels.<key> and node.hostname"
    )]
    UnsupportedAttribute {
        /// The constraint as written.
        constraint: String,
    },
    /// `node.labels.` is not followed by a key.
    #[error("invalid constraint {constraint:?}: the label key after node.labels. is empty")]
    EmptyLabelKey {
        /// The constraint as written.
        constraint: String,
    },
    /// The label key has characters other than letters, digits, `.`, `-`, `_`.
    #[error(
        "invalid constraint {constraint:?}: label key {key:?} may only contain letters, digits, '.', '-' and '_'"
    )]
    InvalidLabelKey {
        /// The constraint as written.
        constraint: String,
        /// The offending key.
        key: String,
    },
    /// Nothing stands after the operator.
    #[error("invalid constraint {constraint:?}: the value after the operator is empty")]
    EmptyValue {
        /// The constraint as written.
        constraint: String,
    },
    /// The value contains `=`, `!` or a control character (usually a typo such
    /// as `===`).
    #[error(
        "invalid constraint {constraint:?}: value {value:?} may not contain '=', '!' or control characters"
    )]
    InvalidValue {
        /// The constraint as written.
        constraint: String,
        /// The offending value.
        value: String,
    },
}

/// The prefix of label constraints.
pub(super) const LABEL_PREFIX: &str = "node.labels.";

/// The attribute of hostname constraints.
pub(super) const HOSTNAME_ATTRIBUTE: &str = "node.hostname";

impl Constraint {
    /// Parses a constraint as written in a compose file: `node.labels.zone==a`,
    /// `node.labels.zone != a` (spaces around the operator are allowed),
    /// `node.hostname==h1`, `node.hostname!=h1`. Anything else is rejected
    /// with a message naming the text and the reason.
    pub fn parse(text: &str) -> Result<Constraint, ConstraintError> {
        let constraint = || text.to_string();
        let equal_at = text.find("==");
        let not_equal_at = text.find("!=");
        let (operator_at, is_equal) = match (equal_at, not_equal_at) {
            (Some(equal), Some(not_equal)) if not_equal < equal => (not_equal, false),
            (Some(equal), _) => (equal, true),
            (None, Some(not_equal)) => (not_equal, false),
            (None, None) => {
                return Err(ConstraintError::MissingOperator {
                    constraint: constraint(),
                });
            }
        };
        // Both operators are two ASCII bytes, so these are char boundaries.
        let attribute = text.get(..operator_at).unwrap_or_default().trim();
        let value = text.get(operator_at + 2..).unwrap_or_default().trim();
        if attribute.is_empty() {
            return Err(ConstraintError::MissingAttribute {
                constraint: constraint(),
            });
        }
        let lowercase_attribute = attribute.to_ascii_lowercase();
        let label_key = if lowercase_attribute == HOSTNAME_ATTRIBUTE {
            None
        } else if lowercase_attribute == LABEL_PREFIX.trim_end_matches('.') {
            return Err(ConstraintError::EmptyLabelKey {
                constraint: constraint(),
            });
        } else if lowercase_attribute.starts_with(LABEL_PREFIX) {
            let key = attribute.get(LABEL_PREFIX.len()..).unwrap_or_default();
            if key.is_empty() {
                return Err(ConstraintError::EmptyLabelKey {
                    constraint: constraint(),
                });
            }
            if !key
                .chars()
                .all(|character| character.is_ascii_alphanumeric() || "._-".contains(character))
            {
                return Err(ConstraintError::InvalidLabelKey {
                    constraint: constraint(),
                    key: key.to_string(),
                });
            }
            Some(key.to_string())
        } else {
            return Err(ConstraintError::UnsupportedAttribute {
                constraint: constraint(),
            });
        };
        if value.is_empty() {
            return Err(ConstraintError::EmptyValue {
                constraint: constraint(),
            });
        }
        if value
            .chars()
            .any(|character| character == '=' || character == '!' || character.is_control())
        {
            return Err(ConstraintError::InvalidValue {
                constraint: constraint(),
                value: value.to_string(),
            });
        }
        let value = value.to_string();
        Ok(match (label_key, is_equal) {
            (Some(key), true) => Constraint::LabelEq { key, value },
            (Some(key), false) => Constraint::LabelNe { key, value },
            (None, true) => Constraint::HostnameEq(value),
            (None, false) => Constraint::HostnameNe(value),
        })
    }

    /// Whether the constraint holds on `host`.
    pub fn is_satisfied_by(&self, host: &HostSpec) -> bool {
        match self {
            Constraint::LabelEq { key, value } => host
                .labels
                .get(key)
                .is_some_and(|actual| equal_ignoring_case(actual, value)),
            Constraint::LabelNe { key, value } => !host
                .labels
                .get(key)
                .is_some_and(|actual| equal_ignoring_case(actual, value)),
            Constraint::HostnameEq(name) => equal_ignoring_case(&host.name, name),
            Constraint::HostnameNe(name) => !equal_ignoring_case(&host.name, name),
        }
    }

    /// What the host has for the constraint's attribute, for error messages:
    /// `zone=b`, `zone not set`, `hostname h2`.
    pub(super) fn describe_actual(&self, host: &HostSpec) -> String {
        match self {
            Constraint::LabelEq { key, .. } | Constraint::LabelNe { key, .. } => {
                match host.labels.get(key) {
                    Some(actual) => format!("{key}={actual}"),
                    None => format!("{key} not set"),
                }
            }
            Constraint::HostnameEq(_) | Constraint::HostnameNe(_) => {
                format!("hostname {}", host.name)
            }
        }
    }
}

impl fmt::Display for Constraint {
    /// The canonical text: `node.labels.zone==a`, `node.hostname!=h1`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constraint::LabelEq { key, value } => write!(formatter, "{LABEL_PREFIX}{key}=={value}"),
            Constraint::LabelNe { key, value } => write!(formatter, "{LABEL_PREFIX}{key}!={value}"),
            Constraint::HostnameEq(name) => write!(formatter, "{HOSTNAME_ATTRIBUTE}=={name}"),
            Constraint::HostnameNe(name) => write!(formatter, "{HOSTNAME_ATTRIBUTE}!={name}"),
        }
    }
}

impl FromStr for Constraint {
    type Err = ConstraintError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Constraint::parse(text)
    }
}

impl TryFrom<String> for Constraint {
    type Error = ConstraintError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Constraint::parse(&text)
    }
}

impl From<Constraint> for String {
    fn from(constraint: Constraint) -> String {
        constraint.to_string()
    }
}

/// Compares like Go's `strings.EqualFold`, which Swarm uses for constraint
/// values.
pub(super) fn equal_ignoring_case(left: &str, right: &str) -> bool {
    if left.is_ascii() && right.is_ascii() {
        return left.eq_ignore_ascii_case(right);
    }
    left.chars()
        .flat_map(char::to_lowercase)
        .eq(right.chars().flat_map(char::to_lowercase))
}
