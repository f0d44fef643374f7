//! The loader's window on files: the [`FileSystem`] trait, the disk ([`RealFileSystem`])
//! and in-memory files for tests and fuzzing ([`MemoryFileSystem`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Reads files for the loader; [`RealFileSystem`] reads the disk.
pub trait FileSystem {
    /// The content of a text file.
    fn read_to_string(&self, path: &Path) -> std::io::Result<String>;
    /// Whether a file exists.
    fn is_file(&self, path: &Path) -> bool;
}

/// The machine's file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFileSystem;

impl FileSystem for RealFileSystem {
    fn read_to_string(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }
}

/// In-memory files, for tests and fuzzing.
#[derive(Debug, Clone, Default)]
pub struct MemoryFileSystem {
    /// Files by absolute path.
    pub files: BTreeMap<PathBuf, String>,
}

impl MemoryFileSystem {
    /// Adds a file.
    pub fn with(mut self, path: impl Into<PathBuf>, content: impl Into<String>) -> Self {
        self.files.insert(path.into(), content.into());
        self
    }
}

impl FileSystem for MemoryFileSystem {
    fn read_to_string(&self, path: &Path) -> std::io::Result<String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
    }
    fn is_file(&self, path: &Path) -> bool {
        self.files.contains_key(path)
    }
}
