//! Which daemon "the local Docker" is, by the Docker CLI's rules, for the implicit inventory
//! (no hosts file) and for the local daemon used as an image source.
//!
//! Precedence as the CLI: `DOCKER_HOST` > `DOCKER_CONTEXT` > `currentContext` in
//! `$DOCKER_CONFIG/config.json` (default `~/.docker`) > `unix:///var/run/docker.sock`.
//! With `DOCKER_HOST=tcp://…` and `DOCKER_TLS_VERIFY` set, nap speaks TLS with
//! `$DOCKER_CERT_PATH/{ca,cert,key}.pem` (default the config folder); a context's TLS files are
//! `contexts/tls/<sha256 of name>/docker/{ca,cert,key}.pem`. Unverified TLS (`DOCKER_TLS`
//! without `DOCKER_TLS_VERIFY`, a context's `SkipTLSVerify`) is refused; plain `tcp://` works
//! with a warning. This module reads files and environment values; it does not connect.

use std::path::{Path, PathBuf};

use nap_core::inventory::{DockerEndpoint, TlsFiles};
use sha2::{Digest, Sha256};

/// The default socket.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// The local daemon, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalDaemon {
    /// Its endpoint (`https://` when TLS is used).
    pub docker: DockerEndpoint,
    /// Its TLS files, for `https://`.
    pub tls: Option<TlsFiles>,
    /// Where it came from (`DOCKER_HOST`, `context "lab"`, `the default socket`).
    pub source: String,
    /// Warnings (plain TCP).
    pub warnings: Vec<String>,
}

/// Why the local daemon could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum LocalDaemonError {
    /// `DOCKER_HOST` or a context's `Host` is not a Docker host URL.
    #[error("{source_name}: {message}")]
    BadHost {
        /// `DOCKER_HOST` or the context.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// `DOCKER_TLS` without `DOCKER_TLS_VERIFY`.
    #[error(
        "DOCKER_TLS is set without DOCKER_TLS_VERIFY: nap does not speak TLS without verifying the daemon's certificate; set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH"
    )]
    UnverifiedTls,
    /// A context with `SkipTLSVerify: true`.
    #[error(
        "docker context {name:?} ({}) has SkipTLSVerify: true: nap does not speak TLS without verifying the daemon's certificate", meta.display()
    )]
    SkipTlsVerify {
        /// The context.
        name: String,
        /// Its meta.json.
        meta: PathBuf,
    },
    /// The named context has no meta.json.
    #[error("docker context {name:?} not found (no {})", meta.display())]
    NoContext {
        /// The context.
        name: String,
        /// The meta.json looked for.
        meta: PathBuf,
    },
    /// A file could not be read or parsed.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// TLS is asked for but a file is missing.
    #[error("{source_name} asks for TLS but {} does not exist", missing.display())]
    MissingTlsFile {
        /// `DOCKER_TLS_VERIFY` or the context.
        source_name: String,
        /// The missing file.
        missing: PathBuf,
    },
    /// No home folder to find `~/.docker` in.
    #[error("cannot find the Docker config folder: neither DOCKER_CONFIG nor HOME is set")]
    NoHome,
}

fn set(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// The three TLS files in `dir`, all required to exist.
fn tls_files(dir: &Path, source_name: &str) -> Result<TlsFiles, LocalDaemonError> {
    let files = TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    for file in [&files.ca, &files.cert, &files.key] {
        if !file.is_file() {
            return Err(LocalDaemonError::MissingTlsFile {
                source_name: source_name.to_string(),
                missing: file.clone(),
            });
        }
    }
    Ok(files)
}

/// `tcp://`/`https://` with TLS files becomes `https://`; plain TCP gets a warning.
fn finish(endpoint: DockerEndpoint, tls: Option<TlsFiles>, source: String) -> LocalDaemon {
    let mut warnings = Vec::new();
    let docker = match (endpoint, &tls) {
        (DockerEndpoint::Tcp { host, port }, Some(_)) => DockerEndpoint::Https { host, port },
        (endpoint @ DockerEndpoint::Tcp { .. }, None) => {
            warnings.push(format!(
                "{source} is {endpoint} without TLS: the Docker API (and every secret sent to it) travels unencrypted and unauthenticated; set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH"
            ));
            endpoint
        }
        (endpoint, _) => endpoint,
    };
    let tls = match docker {
        DockerEndpoint::Https { .. } => tls,
        _ => None,
    };
    LocalDaemon {
        docker,
        tls,
        source,
        warnings,
    }
}

/// Resolves the local daemon from environment values (`get`) by the Docker CLI's rules.
pub fn resolve_local_daemon(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<LocalDaemon, LocalDaemonError> {
    let config_dir = || -> Result<PathBuf, LocalDaemonError> {
        match (set(get("DOCKER_CONFIG")), set(get("HOME"))) {
            (Some(dir), _) => Ok(PathBuf::from(dir)),
            (None, Some(home)) => Ok(Path::new(&home).join(".docker")),
            (None, None) => Err(LocalDaemonError::NoHome),
        }
    };
    let verify = set(get("DOCKER_TLS_VERIFY")).is_some();
    if set(get("DOCKER_TLS")).is_some() && !verify {
        return Err(LocalDaemonError::UnverifiedTls);
    }
    if let Some(url) = set(get("DOCKER_HOST")) {
        let endpoint = DockerEndpoint::parse(&url).map_err(|error| LocalDaemonError::BadHost {
            source_name: "DOCKER_HOST".to_string(),
            message: error.to_string(),
        })?;
        let wants_tls = matches!(endpoint, DockerEndpoint::Https { .. })
            || (verify && matches!(endpoint, DockerEndpoint::Tcp { .. }));
        let tls = if wants_tls {
            let dir = match set(get("DOCKER_CERT_PATH")) {
                Some(dir) => PathBuf::from(dir),
                None => config_dir()?,
            };
            Some(tls_files(&dir, "DOCKER_TLS_VERIFY")?)
        } else {
            None
        };
        return Ok(finish(endpoint, tls, "DOCKER_HOST".to_string()));
    }
    let context = match set(get("DOCKER_CONTEXT")) {
        Some(name) => Some(name),
        None => current_context(&config_dir_if_any(config_dir))?,
    };
    match context.filter(|name| name != "default") {
        Some(name) => context_daemon(&config_dir()?, &name),
        None => Ok(finish(
            DockerEndpoint::Unix {
                path: PathBuf::from(DEFAULT_SOCKET),
            },
            None,
            "the default socket".to_string(),
        )),
    }
}

fn config_dir_if_any(
    config_dir: impl Fn() -> Result<PathBuf, LocalDaemonError>,
) -> Option<PathBuf> {
    config_dir().ok()
}

/// `currentContext` in `config.json`, if the file exists and sets one.
fn current_context(config_dir: &Option<PathBuf>) -> Result<Option<String>, LocalDaemonError> {
    let Some(dir) = config_dir else {
        return Ok(None);
    };
    let path = dir.join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(LocalDaemonError::File {
                path,
                message: e.to_string(),
            });
        }
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| LocalDaemonError::File {
            path: path.clone(),
            message: format!("not valid JSON: {e}"),
        })?;
    Ok(value
        .get("currentContext")
        .and_then(|v| v.as_str())
        .filter(|v| !v.is_empty())
        .map(str::to_string))
}

/// The context's folder name: the hex SHA-256 of its name, as the CLI stores it.
pub fn context_digest(name: &str) -> String {
    Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn context_daemon(config_dir: &Path, name: &str) -> Result<LocalDaemon, LocalDaemonError> {
    let digest = context_digest(name);
    let meta = config_dir
        .join("contexts")
        .join("meta")
        .join(&digest)
        .join("meta.json");
    let text = match std::fs::read_to_string(&meta) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LocalDaemonError::NoContext {
                name: name.to_string(),
                meta,
            });
        }
        Err(e) => {
            return Err(LocalDaemonError::File {
                path: meta,
                message: e.to_string(),
            });
        }
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| LocalDaemonError::File {
            path: meta.clone(),
            message: format!("not valid JSON: {e}"),
        })?;
    let docker = value.pointer("/Endpoints/docker");
    let host = docker
        .and_then(|d| d.get("Host"))
        .and_then(|h| h.as_str())
        .ok_or_else(|| LocalDaemonError::File {
            path: meta.clone(),
            message: "no Endpoints.docker.Host".to_string(),
        })?;
    if docker
        .and_then(|d| d.get("SkipTLSVerify"))
        .and_then(|s| s.as_bool())
        .unwrap_or(false)
    {
        return Err(LocalDaemonError::SkipTlsVerify {
            name: name.to_string(),
            meta,
        });
    }
    let source_name = format!("docker context {name:?}");
    let endpoint = DockerEndpoint::parse(host).map_err(|error| LocalDaemonError::BadHost {
        source_name: source_name.clone(),
        message: error.to_string(),
    })?;
    let tls_dir = config_dir
        .join("contexts")
        .join("tls")
        .join(&digest)
        .join("docker");
    let tls = if tls_dir.join("ca.pem").is_file() {
        Some(tls_files(&tls_dir, &source_name)?)
    } else if matches!(endpoint, DockerEndpoint::Https { .. }) {
        return Err(LocalDaemonError::MissingTlsFile {
            source_name,
            missing: tls_dir.join("ca.pem"),
        });
    } else {
        None
    };
    Ok(finish(endpoint, tls, source_name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(env: &[(&str, &str)]) -> Result<LocalDaemon, LocalDaemonError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve_local_daemon(&|key| env.get(key).cloned())
    }

    fn write_tls(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for file in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(dir.join(file), "x").unwrap();
        }
    }

    #[test]
    fn default_is_the_socket() {
        let home = tempfile::tempdir().unwrap();
        let daemon = resolve(&[("HOME", home.path().to_str().unwrap())]).unwrap();
        assert_eq!(daemon.docker.to_string(), "unix:///var/run/docker.sock");
        assert!(daemon.warnings.is_empty());
    }

    #[test]
    fn tcp_with_tls_verify_is_https_with_the_cert_path() {
        let certs = tempfile::tempdir().unwrap();
        write_tls(certs.path());
        let daemon = resolve(&[
            ("DOCKER_HOST", "tcp://10.0.0.1:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", certs.path().to_str().unwrap()),
        ])
        .unwrap();
        assert_eq!(daemon.docker.to_string(), "https://10.0.0.1:2376");
        assert_eq!(daemon.tls.unwrap().ca, certs.path().join("ca.pem"));
        // Without the files: an error naming the missing one.
        let empty = tempfile::tempdir().unwrap();
        let error = resolve(&[
            ("DOCKER_HOST", "tcp://10.0.0.1:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", empty.path().to_str().unwrap()),
        ])
        .unwrap_err();
        assert!(error.to_string().contains("ca.pem"), "{error}");
    }

    #[test]
    fn plain_tcp_warns_and_unverified_tls_is_refused() {
        let daemon = resolve(&[("DOCKER_HOST", "tcp://10.0.0.1:2375")]).unwrap();
        assert_eq!(daemon.docker.to_string(), "tcp://10.0.0.1:2375");
        assert!(daemon.warnings[0].contains("without TLS"), "{daemon:?}");
        let error =
            resolve(&[("DOCKER_HOST", "tcp://10.0.0.1:2376"), ("DOCKER_TLS", "1")]).unwrap_err();
        assert!(matches!(error, LocalDaemonError::UnverifiedTls), "{error}");
    }

    fn write_context(config: &Path, name: &str, host: &str, skip: bool) {
        let digest = context_digest(name);
        let meta = config.join("contexts/meta").join(&digest);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            format!(
                r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":{skip}}}}}}}"#
            ),
        )
        .unwrap();
    }

    #[test]
    fn contexts_follow_the_cli_precedence() {
        let config = tempfile::tempdir().unwrap();
        let dir = config.path().to_str().unwrap();
        write_context(config.path(), "remote", "tcp://10.0.0.2:2376", false);
        write_tls(
            &config
                .path()
                .join("contexts/tls")
                .join(context_digest("remote"))
                .join("docker"),
        );
        write_context(config.path(), "insecure", "tcp://10.0.0.3:2376", true);
        std::fs::write(
            config.path().join("config.json"),
            r#"{"currentContext":"remote"}"#,
        )
        .unwrap();
        // currentContext.
        let daemon = resolve(&[("DOCKER_CONFIG", dir)]).unwrap();
        assert_eq!(daemon.docker.to_string(), "https://10.0.0.2:2376");
        assert!(daemon.tls.is_some());
        // DOCKER_CONTEXT beats currentContext, and SkipTLSVerify is refused.
        let error = resolve(&[("DOCKER_CONFIG", dir), ("DOCKER_CONTEXT", "insecure")]).unwrap_err();
        assert!(
            matches!(error, LocalDaemonError::SkipTlsVerify { .. }),
            "{error}"
        );
        // DOCKER_HOST beats both.
        let daemon = resolve(&[
            ("DOCKER_CONFIG", dir),
            ("DOCKER_CONTEXT", "insecure"),
            ("DOCKER_HOST", "unix:///tmp/d.sock"),
        ])
        .unwrap();
        assert_eq!(daemon.docker.to_string(), "unix:///tmp/d.sock");
        // "default" is the socket; an unknown context is an error.
        let daemon = resolve(&[("DOCKER_CONFIG", dir), ("DOCKER_CONTEXT", "default")]).unwrap();
        assert_eq!(daemon.docker.to_string(), "unix:///var/run/docker.sock");
        let error = resolve(&[("DOCKER_CONFIG", dir), ("DOCKER_CONTEXT", "nope")]).unwrap_err();
        assert!(
            matches!(error, LocalDaemonError::NoContext { .. }),
            "{error}"
        );
    }
}
