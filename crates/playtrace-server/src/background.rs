//! Background work that yields the CPU to live traffic: a rejects replay reads and re-parses
//! its pages on a thread of its own at the lowest CPU priority (`nice` 19), so on a machine whose
//! cores the replay keeps busy, a live request's threads that wake up get a core first instead
//! of waiting their turn behind the replay's (bench/recovery/README.md, round 11).
//!
//! Only work that holds nothing live traffic waits for runs here: the store's writer and the
//! live fold, which commit and fold live jobs between replay pages, stay at normal priority.
//! A thread's priority cannot be raised again without privileges (`RLIMIT_NICE`), so background
//! work never runs on a pooled thread that live work reuses: each job gets a thread that ends
//! with it.
//!
//! `SCHED_IDLE` would yield even more strictly, but setting a scheduling policy needs `unsafe`
//! libc calls (the workspace forbids `unsafe`); `setpriority` on the calling thread is safe
//! through `rustix`, which the tree already builds. Elsewhere than Linux the thread runs at
//! normal priority.

use std::io;
use std::thread::JoinHandle;

/// The niceness background threads run at: the lowest priority an unprivileged thread can set.
pub(crate) const NICENESS: i32 = 19;

/// Runs `work` on a new thread named `name` at [`NICENESS`]. A priority that cannot be lowered
/// (a platform without per-thread priorities) is logged and the work runs anyway.
pub(crate) fn spawn<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> io::Result<JoinHandle<T>> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            if let Err(e) = lower_this_thread() {
                tracing::debug!("background thread keeps its priority: {e}");
            }
            work()
        })
}

/// Lowers the calling thread's CPU priority to [`NICENESS`]. On Linux, `setpriority` with
/// `PRIO_PROCESS` and `who = 0` changes only the calling thread, not the whole process.
#[cfg(target_os = "linux")]
fn lower_this_thread() -> io::Result<()> {
    rustix::process::setpriority_process(None, NICENESS).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn lower_this_thread() -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "per-thread priorities are only set on Linux",
    ))
}

/// The calling thread's niceness (`None` where it cannot be read per thread).
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn this_thread_niceness() -> Option<i32> {
    rustix::process::getpriority_process(None).ok()
}

/// The calling thread's niceness (`None` where it cannot be read per thread).
#[cfg(all(test, not(target_os = "linux")))]
pub(crate) fn this_thread_niceness() -> Option<i32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn background_work_runs_at_the_lowest_priority_and_leaves_its_caller_as_it_was() {
        let before = this_thread_niceness();
        let inside = spawn("bg-test", this_thread_niceness)
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(inside, Some(NICENESS));
        assert_eq!(this_thread_niceness(), before);
    }
}
