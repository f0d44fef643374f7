//! Building images: which files of a context are sent (`.dockerignore`, in [`ignore`]) and the
//! content hash that says whether an image must be built again.
//!
//! The hash covers what the builder sees: every file and folder sent (path, kind, mode, and a
//! SHA-256 of each file's bytes or a link's target), the Dockerfile's path or inline text, and
//! the settings that shape the image (`args`, `target`, `labels`, `network`, `extra_hosts`,
//! `shm_size`, `tags`). Times, owners, `no_cache`, `pull` and `cache_from` are left out: they
//! do not say what the image should be. The runtime walks the folder and digests the files;
//! this module only decides, from that data.

pub mod ignore;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::compose::Build;

pub use ignore::{IgnoreError, IgnoreFile};

/// The label a built image carries with its [`context_hash`].
pub const LABEL_BUILD_HASH: &str = "nap.build-hash";

/// What one entry of a context is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EntryKind {
    /// A folder.
    Folder,
    /// A regular file, with the SHA-256 of its bytes (hex).
    File {
        /// SHA-256 of the content.
        sha256: String,
    },
    /// A symbolic link, with its target as written.
    Link {
        /// Where it points.
        target: String,
    },
}

/// One file or folder sent to the builder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContextEntry {
    /// Path relative to the context, `/`-separated.
    pub path: String,
    /// Permission bits (`0o755`).
    pub mode: u32,
    /// Folder, file or link.
    #[serde(flatten)]
    pub kind: EntryKind,
}

/// The image-shaping settings of a build, as hashed.
#[derive(Serialize)]
struct HashedSettings<'a> {
    dockerfile: &'a str,
    dockerfile_inline: Option<&'a str>,
    args: BTreeMap<&'a str, &'a str>,
    target: Option<&'a str>,
    labels: &'a BTreeMap<String, String>,
    network: Option<&'a str>,
    extra_hosts: &'a [String],
    shm_size: Option<&'a str>,
    tags: &'a [String],
}

/// The content hash of a build: `entries` (in any order; they are sorted by path), the
/// Dockerfile's path in the context (`dockerfile`) and `build`'s settings. Args without a
/// value are left out, as the builder leaves them unset.
pub fn context_hash(entries: &[ContextEntry], dockerfile: &str, build: &Build) -> String {
    let mut sorted: Vec<&ContextEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let settings = HashedSettings {
        dockerfile,
        dockerfile_inline: build.dockerfile_inline.as_deref(),
        args: build
            .args
            .iter()
            .filter_map(|(key, value)| Some((key.as_str(), value.as_deref()?)))
            .collect(),
        target: build.target.as_deref(),
        labels: &build.labels,
        network: build.network.as_deref(),
        extra_hosts: &build.extra_hosts,
        shm_size: build.shm_size.as_deref(),
        tags: &build.tags,
    };
    let mut hasher = Sha256::new();
    hasher.update(b"nap build context v1\n");
    hasher.update(serde_json::to_vec(&settings).unwrap_or_default());
    for entry in sorted {
        hasher.update(b"\n");
        hasher.update(serde_json::to_vec(entry).unwrap_or_default());
    }
    hasher
        .finalize()
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, sha256: &str) -> ContextEntry {
        ContextEntry {
            path: path.into(),
            mode: 0o644,
            kind: EntryKind::File {
                sha256: sha256.into(),
            },
        }
    }

    #[test]
    fn the_hash_follows_content_and_settings_not_order() {
        let build = Build::default();
        let entries = vec![file("Dockerfile", "aa"), file("app/main.py", "bb")];
        let base = context_hash(&entries, "Dockerfile", &build);
        assert_eq!(base.len(), 64);
        let reversed: Vec<ContextEntry> = entries.iter().rev().cloned().collect();
        assert_eq!(context_hash(&reversed, "Dockerfile", &build), base);

        let changed = vec![file("Dockerfile", "aa"), file("app/main.py", "cc")];
        assert_ne!(context_hash(&changed, "Dockerfile", &build), base);
        let renamed = vec![file("Dockerfile", "aa"), file("app/other.py", "bb")];
        assert_ne!(context_hash(&renamed, "Dockerfile", &build), base);
        let mut executable = entries.clone();
        executable[1].mode = 0o755;
        assert_ne!(context_hash(&executable, "Dockerfile", &build), base);
        let mut folder = entries.clone();
        folder.push(ContextEntry {
            path: "empty".into(),
            mode: 0o755,
            kind: EntryKind::Folder,
        });
        assert_ne!(context_hash(&folder, "Dockerfile", &build), base);

        assert_ne!(context_hash(&entries, "other.Dockerfile", &build), base);
        let with_arg = Build {
            args: BTreeMap::from([("V".to_string(), Some("1".to_string()))]),
            ..Build::default()
        };
        assert_ne!(context_hash(&entries, "Dockerfile", &with_arg), base);
        let unset_arg = Build {
            args: BTreeMap::from([("V".to_string(), None)]),
            ..Build::default()
        };
        assert_eq!(context_hash(&entries, "Dockerfile", &unset_arg), base);
        let target = Build {
            target: Some("prod".into()),
            ..Build::default()
        };
        assert_ne!(context_hash(&entries, "Dockerfile", &target), base);
        let no_cache = Build {
            no_cache: Some(true),
            cache_from: vec!["x".into()],
            ..Build::default()
        };
        assert_eq!(
            context_hash(&entries, "Dockerfile", &no_cache),
            base,
            "cache settings do not change what the image is"
        );
    }
}
