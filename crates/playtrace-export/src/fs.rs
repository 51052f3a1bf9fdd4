//! The filesystem writer: every artifact appears whole or not at all (temporary file, fsync,
//! rename, directory fsync — SPEC §7), and names that would escape the target directory are
//! refused.
//!
//! Writes are group-committed. One committer thread takes every write that is waiting (up to
//! [`MAX_BATCH`]), creates and fills their temporary files, fsyncs them in parallel, renames
//! them into place and fsyncs each directory once. Every file still goes through the SPEC's
//! four steps in order, and a write is answered only after its directory fsync; but a batch of
//! 256 costs one directory fsync instead of 256, and only one thread at a time creates or
//! renames names in the directory, so writers never spin on the kernel's directory lock (that
//! spinning burned a whole core on the 2-core benchmark machine).

use crate::atomic::sync_dir;
use crate::{Artifact, WriteError, WriteFuture, Writer};
use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use tokio::sync::oneshot;

/// Writes answered by one group commit, at most.
pub const MAX_BATCH: usize = 256;

/// Threads fsyncing the files of one batch: the fsyncs wait on the disk, not the CPU, so a few
/// in parallel let the device take them together.
const SYNC_THREADS: usize = 8;

/// Writes artifacts under a directory.
pub struct FsWriter {
    root: PathBuf,
    committer: OnceLock<mpsc::Sender<Job>>,
}

/// One write handed to the committer.
struct Job {
    path: PathBuf,
    bytes: Arc<Vec<u8>>,
    reply: oneshot::Sender<Result<String, WriteError>>,
}

impl FsWriter {
    /// A writer into `root` (created when needed).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FsWriter {
            root: root.into(),
            committer: OnceLock::new(),
        }
    }

    /// The committer's queue, starting its thread on first use; the thread ends when the
    /// writer is dropped.
    fn queue(&self) -> &mpsc::Sender<Job> {
        self.committer.get_or_init(|| {
            let (tx, rx) = mpsc::channel();
            let spawned = std::thread::Builder::new()
                .name("playtrace-fs-writer".into())
                .spawn(move || commit_loop(&rx));
            if let Err(e) = spawned {
                tracing::error!("cannot start the fs writer's thread: {e}");
            }
            tx
        })
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

    fn destination(&self) -> String {
        // A retry run from another directory must write where the export meant to.
        let root = std::path::absolute(&self.root).unwrap_or_else(|_| self.root.clone());
        format!("fs:{}", root.display())
    }

    fn write<'a>(&'a self, artifact: &'a Artifact) -> WriteFuture<'a> {
        Box::pin(async move {
            let path = target(&self.root, &artifact.name)?;
            let (reply, answer) = oneshot::channel();
            let job = Job {
                path,
                bytes: artifact.bytes.clone(),
                reply,
            };
            let stopped = || WriteError::Transient("the fs writer's thread stopped".into());
            self.queue().send(job).map_err(|_| stopped())?;
            answer.await.map_err(|_| stopped())?
        })
    }

    /// Enough writes in flight to fill a group commit.
    fn concurrency(&self) -> usize {
        MAX_BATCH
    }
}

fn commit_loop(jobs: &mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit(batch);
    }
}

/// A write on its way through the batch: its temporary file, then its outcome.
struct Staged {
    job: Job,
    tmp: PathBuf,
    file: Option<File>,
    error: Option<WriteError>,
}

impl Staged {
    fn fail(&mut self, path: &Path, e: &io::Error) {
        self.error = Some(io_error(path, e));
        self.file = None;
        let _ = fs::remove_file(&self.tmp);
    }
}

/// Temporary names are unique per process and write, so two writes of the same name in one
/// batch never share a temporary file.
fn temporary_path(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(
        ".playtrace-tmp-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    path.with_file_name(name)
}

/// Temporary file, fsync, rename, directory fsync — for a whole batch at once.
fn commit(batch: Vec<Job>) {
    let mut staged: Vec<Staged> = batch
        .into_iter()
        .map(|job| Staged {
            tmp: temporary_path(&job.path),
            job,
            file: None,
            error: None,
        })
        .collect();

    // 1. Create and fill the temporary files (one thread touches the directory's names).
    let mut ready_dirs = BTreeSet::new();
    for s in &mut staged {
        let dir = parent(&s.job.path).to_path_buf();
        if !ready_dirs.contains(&dir) {
            if let Err(e) = ensure_dir(&dir) {
                s.error = Some(io_error(&dir, &e));
                continue;
            }
            ready_dirs.insert(dir);
        }
        let created = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&s.tmp)
            .and_then(|mut f| f.write_all(&s.job.bytes).map(|()| f));
        match created {
            Ok(f) => s.file = Some(f),
            Err(e) => s.fail(&s.job.path.clone(), &e),
        }
    }

    // 2. Fsync them, a few at a time.
    let synced: Vec<(usize, io::Error)> = sync_files(&staged);
    for (i, e) in synced {
        let path = staged[i].job.path.clone();
        staged[i].fail(&path, &e);
    }

    // 3. Rename each into place.
    let mut renamed_dirs = BTreeSet::new();
    for s in &mut staged {
        if s.file.take().is_none() {
            continue;
        }
        match fs::rename(&s.tmp, &s.job.path) {
            Ok(()) => {
                renamed_dirs.insert(parent(&s.job.path).to_path_buf());
            }
            Err(e) => s.fail(&s.job.path.clone(), &e),
        }
    }

    // 4. One fsync per directory makes the renames durable.
    for dir in renamed_dirs {
        if let Err(e) = File::open(&dir).and_then(|d| d.sync_all()) {
            for s in staged.iter_mut().filter(|s| s.error.is_none()) {
                if parent(&s.job.path) == dir {
                    s.error = Some(io_error(&dir, &e));
                }
            }
        }
    }

    for s in staged {
        let answer = match s.error {
            Some(e) => Err(e),
            None => Ok(s.job.path.display().to_string()),
        };
        // The caller may have given up waiting; the file is written either way.
        let _ = s.job.reply.send(answer);
    }
}

/// Fsyncs every open temporary file; returns the ones that failed.
fn sync_files(staged: &[Staged]) -> Vec<(usize, io::Error)> {
    let open: Vec<(usize, &File)> = staged
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.file.as_ref().map(|f| (i, f)))
        .collect();
    if open.len() <= 1 {
        return open
            .into_iter()
            .filter_map(|(i, f)| f.sync_all().err().map(|e| (i, e)))
            .collect();
    }
    let threads = SYNC_THREADS.min(open.len());
    let per_thread = open.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = open
            .chunks(per_thread)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|&(i, f)| f.sync_all().err().map(|e| (i, e)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .zip(open.chunks(per_thread))
            .flat_map(|(h, chunk)| {
                h.join().unwrap_or_else(|_| {
                    chunk
                        .iter()
                        .map(|&(i, _)| (i, io::Error::other("the fsync thread panicked")))
                        .collect()
                })
            })
            .collect()
    })
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates `dir` and any missing parents, fsyncing each parent that gained an entry, so a
/// directory made for an artifact survives a crash along with it.
fn ensure_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(up) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        ensure_dir(up)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => sync_dir(dir),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Disk full and the like may pass; permissions and bad paths will not.
fn io_error(path: &Path, e: &io::Error) -> WriteError {
    use std::io::ErrorKind::*;
    let message = format!("{}: {e}", path.display());
    match e.kind() {
        PermissionDenied | NotFound | InvalidInput | InvalidFilename | IsADirectory
        | NotADirectory | ReadOnlyFilesystem | AlreadyExists => WriteError::Permanent(message),
        _ => WriteError::Transient(message),
    }
}
