//! Stopping long-running loops on SIGINT/SIGTERM.

use anyhow::Context;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Sets `flag` on SIGINT/SIGTERM (a small runtime on its own thread waits for the signal).
pub fn flag_on_signal(flag: Arc<AtomicBool>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot watch for signals")?;
    std::thread::Builder::new()
        .name("playtrace-signal".into())
        .spawn(move || {
            runtime.block_on(playtrace_server::shutdown_signal());
            flag.store(true, Ordering::Relaxed);
        })
        .context("cannot watch for signals")?;
    Ok(())
}
