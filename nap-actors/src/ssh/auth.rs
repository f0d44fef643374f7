//! Logging in: offers the identities nap may use, one after another, until the host accepts
//! one. Sources are an identity file (decrypted with a passphrase asked on the terminal, only
//! when stdin is one), the ssh-agent at `SSH_AUTH_SOCK`, and the default key files
//! `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa` when no identity is configured.
//!
//! A refusal lists every key tried, by file path or agent comment and fingerprint, never key
//! material. Passphrases are zeroized after use and never logged. No password or
//! keyboard-interactive login.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::client::{self, AuthResult};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey};
use zeroize::Zeroizing;

use super::session::HostKeyChecker;
use super::{SshError, SshHost, SshOptions};

/// The key files tried when no identity is configured, in `~/.ssh`.
pub const DEFAULT_IDENTITY_FILES: [&str; 3] = ["id_ed25519", "id_ecdsa", "id_rsa"];

/// The default identity files under `home` that exist.
pub fn default_identities(home: &Path) -> Vec<PathBuf> {
    DEFAULT_IDENTITY_FILES
        .iter()
        .map(|name| home.join(".ssh").join(name))
        .filter(|path| path.exists())
        .collect()
}

/// One key as a refusal names it.
fn describe(key: &PublicKey) -> String {
    format!(
        "{} {}",
        key.algorithm().as_str(),
        key.fingerprint(HashAlg::Sha256)
    )
}

/// Tries the identities in order: the configured file (else the agent, then the default files),
/// then the agent when the file did not do it.
pub(super) async fn authenticate(
    handle: &mut client::Handle<HostKeyChecker>,
    host: &Arc<SshHost>,
    options: &SshOptions,
) -> Result<(), SshError> {
    let mut tried = Vec::new();
    let mut remaining_methods = Vec::new();
    let files: Vec<PathBuf> = match &options.identity {
        Some(path) => vec![path.clone()],
        None => Vec::new(),
    };
    let agent_first = options.identity.is_none();
    if agent_first && try_agent(handle, host, options, &mut tried, &mut remaining_methods).await? {
        return Ok(());
    }
    let defaults = match (&options.identity, &options.home) {
        (None, Some(home)) => default_identities(home),
        _ => Vec::new(),
    };
    for path in files.iter().chain(defaults.iter()) {
        let key = match read_identity(host, path, options.passphrase_prompt).await {
            Ok(Some(key)) => key,
            Ok(None) => {
                tried.push(format!(
                    "{} (encrypted, and stdin is no terminal to ask its passphrase)",
                    path.display()
                ));
                continue;
            }
            Err(error) => return Err(error),
        };
        tried.push(format!(
            "{} ({})",
            path.display(),
            describe(key.public_key())
        ));
        if offer_key(handle, host, key, &mut remaining_methods).await? {
            return Ok(());
        }
    }
    if !agent_first && try_agent(handle, host, options, &mut tried, &mut remaining_methods).await? {
        return Ok(());
    }
    Err(SshError::AuthenticationRefused {
        host: host.clone(),
        user: host.target.user.clone(),
        tried,
        remaining_methods,
    })
}

async fn rsa_hash(
    handle: &mut client::Handle<HostKeyChecker>,
    host: &Arc<SshHost>,
    key: &PublicKey,
) -> Result<Option<HashAlg>, SshError> {
    if !key.algorithm().is_rsa() {
        return Ok(None);
    }
    Ok(handle
        .best_supported_rsa_hash()
        .await
        .map_err(|source| SshError::Protocol {
            host: host.clone(),
            during: "authenticating",
            source,
        })?
        .flatten())
}

/// Offers one private key; `Ok(false)` when the host refused it.
async fn offer_key(
    handle: &mut client::Handle<HostKeyChecker>,
    host: &Arc<SshHost>,
    key: PrivateKey,
    remaining_methods: &mut Vec<String>,
) -> Result<bool, SshError> {
    let hash = rsa_hash(handle, host, key.public_key()).await?;
    let result = handle
        .authenticate_publickey(
            host.target.user.clone(),
            PrivateKeyWithHashAlg::new(Arc::new(key), hash),
        )
        .await
        .map_err(|source| SshError::Protocol {
            host: host.clone(),
            during: "authenticating",
            source,
        })?;
    Ok(accepted(result, remaining_methods))
}

fn accepted(result: AuthResult, remaining_methods: &mut Vec<String>) -> bool {
    match result {
        AuthResult::Success => true,
        AuthResult::Failure {
            remaining_methods: methods,
            ..
        } => {
            *remaining_methods = methods.iter().map(String::from).collect();
            false
        }
    }
}

/// Offers each plain key the agent holds; `Ok(false)` when there is no agent or the host
/// refused them all. An agent that cannot be reached is noted in `tried`, not an error.
async fn try_agent(
    handle: &mut client::Handle<HostKeyChecker>,
    host: &Arc<SshHost>,
    options: &SshOptions,
    tried: &mut Vec<String>,
    remaining_methods: &mut Vec<String>,
) -> Result<bool, SshError> {
    let Some(socket) = &options.agent_socket else {
        return Ok(false);
    };
    let mut agent = match AgentClient::connect_uds(socket).await {
        Ok(agent) => agent,
        Err(error) => {
            tried.push(format!(
                "the agent at {} (cannot connect: {error})",
                socket.display()
            ));
            return Ok(false);
        }
    };
    let identities = match agent.request_identities().await {
        Ok(identities) => identities,
        Err(error) => {
            tried.push(format!(
                "the agent at {} (cannot list keys: {error})",
                socket.display()
            ));
            return Ok(false);
        }
    };
    let keys: Vec<(PublicKey, String)> = identities
        .into_iter()
        .filter_map(|identity| match identity {
            AgentIdentity::PublicKey { key, comment } => Some((key, comment)),
            AgentIdentity::Certificate { .. } => None,
        })
        .collect();
    if keys.is_empty() {
        tried.push(format!("the agent at {} (holds no keys)", socket.display()));
    }
    for (key, comment) in keys {
        tried.push(format!("agent key {comment:?} ({})", describe(&key)));
        let hash = rsa_hash(handle, host, &key).await?;
        match handle
            .authenticate_publickey_with(host.target.user.clone(), key, hash, &mut agent)
            .await
        {
            Ok(result) => {
                if accepted(result, remaining_methods) {
                    return Ok(true);
                }
            }
            Err(error) => {
                tracing::debug!(host = host.name, %error, "agent could not sign");
                if let Some(last) = tried.last_mut() {
                    last.push_str(&format!(" (the agent did not sign: {error})"));
                }
            }
        }
    }
    Ok(false)
}

/// Reads and decodes a private key off the async threads. An encrypted key is decrypted with
/// a passphrase asked on the terminal when `prompt` is set and stdin is a terminal; otherwise
/// it is `Ok(None)`.
async fn read_identity(
    host: &Arc<SshHost>,
    identity: &Path,
    prompt: bool,
) -> Result<Option<PrivateKey>, SshError> {
    let path = identity.to_path_buf();
    let read_error = |source| SshError::ReadIdentity {
        host: host.clone(),
        identity: identity.to_path_buf(),
        source,
    };
    let host_name = host.name.clone();
    tokio::task::spawn_blocking(move || match russh::keys::load_secret_key(&path, None) {
        Ok(key) => Ok(Some(key)),
        Err(russh::keys::Error::KeyIsEncrypted) => {
            if !(prompt && std::io::stdin().is_terminal()) {
                return Ok(None);
            }
            let passphrase = Zeroizing::new(rpassword::prompt_password(format!(
                "passphrase for {} (ssh to host {host_name:?}): ",
                path.display()
            ))?);
            russh::keys::load_secret_key(&path, Some(passphrase.as_str())).map(Some)
        }
        Err(error) => Err(error),
    })
    .await
    .unwrap_or_else(|join_error| Err(std::io::Error::other(join_error).into()))
    .map_err(read_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_identities_are_the_existing_files_in_order() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".ssh")).unwrap();
        assert!(default_identities(home.path()).is_empty());
        for name in ["id_rsa", "id_ed25519"] {
            std::fs::write(home.path().join(".ssh").join(name), "").unwrap();
        }
        assert_eq!(
            default_identities(home.path()),
            vec![
                home.path().join(".ssh/id_ed25519"),
                home.path().join(".ssh/id_rsa")
            ]
        );
    }
}
