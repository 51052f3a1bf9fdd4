//! The stdout writer: each artifact's bytes on standard output, in order, for pipes.

use crate::{Artifact, WriteError, WriteFuture, Writer};
use std::io::Write;
use std::sync::Mutex;

/// Writes artifacts to standard output, one after another.
#[derive(Default)]
pub struct StdoutWriter {
    lock: Mutex<()>,
}

impl Writer for StdoutWriter {
    fn id(&self) -> String {
        "stdout".into()
    }

    fn concurrency(&self) -> usize {
        1
    }

    fn write<'a>(&'a self, artifact: &'a Artifact) -> WriteFuture<'a> {
        Box::pin(async move {
            let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            let mut out = std::io::stdout().lock();
            out.write_all(&artifact.bytes)
                .and_then(|()| out.flush())
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::BrokenPipe => {
                        WriteError::Permanent("stdout was closed".into())
                    }
                    _ => WriteError::Transient(format!("stdout: {e}")),
                })?;
            Ok("stdout".into())
        })
    }
}
