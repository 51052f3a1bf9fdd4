//! The filesystem writer: every artifact appears whole or not at all (temporary file, fsync,
//! rename, directory fsync), and names that would escape the target directory are refused.

use crate::atomic::write_atomic;
use crate::{Artifact, WriteError, WriteFuture, Writer};
use std::path::{Component, Path, PathBuf};

/// Writes artifacts under a directory.
pub struct FsWriter {
    root: PathBuf,
}

impl FsWriter {
    /// A writer into `root` (created when needed).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FsWriter { root: root.into() }
    }
}

/// The path of `name` under `root`, or why it is refused: absolute paths, `..`, and empty or
/// special components could write outside the directory the user chose.
pub fn target(root: &Path, name: &str) -> Result<PathBuf, WriteError> {
    let refuse = |why: &str| {
        WriteError::Permanent(format!(
            "artifact name `{name}` {why}; names must be relative paths inside the target directory"
        ))
    };
    if name.is_empty() {
        return Err(refuse("is empty"));
    }
    let path = Path::new(name);
    let mut out = root.to_path_buf();
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(refuse("contains `..`")),
            Component::RootDir | Component::Prefix(_) => return Err(refuse("is absolute")),
        }
    }
    if name.ends_with('/') || out == root {
        return Err(refuse("names a directory"));
    }
    Ok(out)
}

impl Writer for FsWriter {
    fn id(&self) -> String {
        format!("fs:{}", self.root.display())
    }

    fn write<'a>(&'a self, artifact: &'a Artifact) -> WriteFuture<'a> {
        let root = self.root.clone();
        let name = artifact.name.clone();
        let bytes = artifact.bytes.clone();
        Box::pin(async move {
            let path = target(&root, &name)?;
            tokio::task::spawn_blocking(move || {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
                }
                write_atomic(&path, &bytes).map_err(|e| io_error(&path, &e))?;
                Ok(path.display().to_string())
            })
            .await
            .map_err(|e| WriteError::Permanent(format!("the write task failed: {e}")))?
        })
    }
}

/// Disk full and the like may pass; permissions and bad paths will not.
fn io_error(path: &Path, e: &std::io::Error) -> WriteError {
    use std::io::ErrorKind::*;
    let message = format!("{}: {e}", path.display());
    match e.kind() {
        PermissionDenied | NotFound | InvalidInput | InvalidFilename | IsADirectory
        | NotADirectory | ReadOnlyFilesystem | AlreadyExists => WriteError::Permanent(message),
        _ => WriteError::Transient(message),
    }
}
