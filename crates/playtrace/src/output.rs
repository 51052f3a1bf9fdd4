//! How a command ends and what it prints: exit statuses and standard output.

use std::io::Write;

/// How a command ended, as documented exit codes (errors are 2, in `main`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: success.
    Success,
    /// 1: the command's check failed.
    CheckFailed,
}

/// Writes to stdout; a closed pipe (`| head`) ends output quietly rather than as an error.
pub fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
