//! The rustls client configuration for an `https://` Docker daemon, built the way the Docker
//! CLI's `--tlsverify` does it: the root store holds only the given CA (never the system's or
//! webpki's roots, so a certificate from any public CA is refused), the daemon's certificate
//! must name the address dialled, and nap presents its client certificate and key.
//!
//! This module reads the three PEM files; it does not connect.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nap_core::inventory::TlsFiles;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

/// Why the TLS files could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("cannot read {what} {}: {message}", path.display())]
    Read {
        /// `CA certificate`, `client certificate` or `client key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A PEM file holds no certificate.
    #[error("{what} {} holds no certificate", path.display())]
    Empty {
        /// `CA certificate` or `client certificate`.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the material.
    #[error("cannot use the TLS files ({}, {}, {}): {message}", files.ca.display(), files.cert.display(), files.key.display())]
    Config {
        /// The files.
        files: TlsFiles,
        /// What rustls said.
        message: String,
    },
}

fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read_error = |message: String| TlsError::Read {
        what,
        path: path.to_path_buf(),
        message,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| read_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read_error(e.to_string()))?;
    if certificates.is_empty() {
        return Err(TlsError::Empty {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(certificates)
}

/// A client configuration trusting only `files.ca` and presenting `files.cert` / `files.key`.
pub fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, TlsError> {
    let config_error = |message: String| TlsError::Config {
        files: files.clone(),
        message,
    };
    let mut roots = RootCertStore::empty();
    for certificate in certificates("CA certificate", &files.ca)? {
        roots
            .add(certificate)
            .map_err(|e| config_error(format!("CA certificate {}: {e}", files.ca.display())))?;
    }
    let chain = certificates("client certificate", &files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::Read {
        what: "client key",
        path: files.key.clone(),
        message: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| config_error(e.to_string()))?;
    Ok(Arc::new(config))
}
