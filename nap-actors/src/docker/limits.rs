//! How many bytes nap reads of each Docker API answer, chosen by request method and path.
//!
//! Answers nap buffers whole (JSON listings and inspects, the hosts file read back through
//! `GET /containers/{id}/archive`) are bounded; answers nap consumes as streams (image export
//! and import used to copy images between hosts, pulls, events, logs, exec and attach) are not,
//! since their consumers read them piece by piece. This module only decides; the transport
//! counts.

use hyper::Method;

/// Bound for JSON answers (container lists, inspects, version): far above any real listing.
pub const JSON_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// Bound for archives nap reads back (a hosts file via `GET /containers/{id}/archive`).
pub const ARCHIVE_LIMIT_BYTES: u64 = 8 * 1024 * 1024;

/// Whether `GET /containers/{id}/archive` answers are bounded ([`ARCHIVE_LIMIT_BYTES`]: nap
/// reads them whole) or streamed to a file (`nap cp`, which the user asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Archives {
    /// Read whole, bounded.
    #[default]
    Bounded,
    /// Streamed to disk by their reader, unbounded.
    Streamed,
}

/// A human form of a byte count (`64 MiB`).
pub fn describe_bytes(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// The request path without bollard's `/v1.41` version prefix.
fn unversioned(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/v") else {
        return path;
    };
    let (version, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let is_version = !version.is_empty()
        && version.chars().all(|c| c.is_ascii_digit() || c == '.')
        && version.contains('.');
    if is_version { tail } else { path }
}

/// How many bytes (status line, headers and body) nap reads of the answer to `method path`;
/// `None` for the answers it streams.
pub fn answer_limit(method: &Method, path: &str) -> Option<u64> {
    answer_limit_with(method, path, Archives::Bounded)
}

/// [`answer_limit`] with archives bounded or streamed.
pub fn answer_limit_with(method: &Method, path: &str, archives: Archives) -> Option<u64> {
    let path = unversioned(path);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let streamed = match segments.as_slice() {
        // `docker save` (one image or several) and `docker load`, pulls, pushes, builds.
        ["images", "get"] | ["images", .., "get"] => true,
        ["images", "load"] | ["images", "create"] | ["images", .., "push"] | ["build"] => true,
        ["events"] => true,
        ["containers", _, "logs"] | ["containers", _, "attach"] | ["containers", _, "stats"] => {
            true
        }
        ["containers", _, "export"] => true,
        // Exec output is bounded by its reader (actors/host/hosts_file.rs), after the connection upgrade.
        ["exec", _, "start"] => true,
        _ => false,
    };
    if streamed {
        return None;
    }
    match segments.as_slice() {
        ["containers", _, "archive"] if method == Method::GET && archives == Archives::Streamed => {
            None
        }
        ["containers", _, "archive"] if method == Method::GET || method == Method::HEAD => {
            Some(ARCHIVE_LIMIT_BYTES)
        }
        _ => Some(JSON_LIMIT_BYTES),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffered_answers_are_bounded_and_streams_are_not() {
        let get = Method::GET;
        assert_eq!(
            answer_limit(&get, "/v1.41/containers/json"),
            Some(JSON_LIMIT_BYTES)
        );
        assert_eq!(answer_limit(&get, "/_ping"), Some(JSON_LIMIT_BYTES));
        assert_eq!(
            answer_limit(&get, "/v1.53/containers/abc/archive"),
            Some(ARCHIVE_LIMIT_BYTES)
        );
        assert_eq!(
            answer_limit(&Method::PUT, "/v1.41/containers/abc/archive"),
            Some(JSON_LIMIT_BYTES)
        );
        assert_eq!(
            answer_limit(&get, "/v1.41/images/nap/busybox:lab/get"),
            None
        );
        assert_eq!(answer_limit(&get, "/v1.41/images/get"), None);
        assert_eq!(answer_limit(&Method::POST, "/v1.41/images/load"), None);
        assert_eq!(answer_limit(&get, "/v1.41/events"), None);
        assert_eq!(answer_limit(&get, "/v1.41/containers/abc/logs"), None);
        assert_eq!(answer_limit(&Method::POST, "/v1.41/exec/abc/start"), None);
        assert_eq!(describe_bytes(JSON_LIMIT_BYTES), "64 MiB");
    }
}
