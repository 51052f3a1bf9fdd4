//! Progress for long runs: appears on a terminal only after a couple of seconds (short runs
//! stay clean), never when stderr is piped, and is cleared before results print.

use indicatif::{HumanBytes, HumanDuration, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a run must take before a bar appears.
const DELAY: Duration = Duration::from_secs(2);
const TICK: Duration = Duration::from_millis(100);

/// A progress display driven by a shared byte counter.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts watching `counter` (bytes consumed) out of `total` when stderr is a terminal and
    /// `enabled`; otherwise does nothing.
    pub fn start(enabled: bool, total: Option<u64>, counter: Arc<AtomicU64>) -> Progress {
        Self::start_with(enabled, total, counter, None)
    }

    /// Like [`Progress::start`], counting `unit`s (`"artifacts"`) instead of bytes.
    pub fn start_items(
        enabled: bool,
        total: u64,
        counter: Arc<AtomicU64>,
        unit: &'static str,
    ) -> Progress {
        Self::start_with(enabled, Some(total), counter, Some(unit))
    }

    fn start_with(
        enabled: bool,
        total: Option<u64>,
        counter: Arc<AtomicU64>,
        unit: Option<&'static str>,
    ) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress { stop, thread: None };
        }
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            while started.elapsed() < DELAY {
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(TICK);
            }
            let bar = match (total, unit) {
                (Some(total), Some(unit)) => {
                    ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
                        .with_style(
                            ProgressStyle::with_template(&format!(
                                "{{spinner}} {{pos}}/{{len}} {unit} {{wide_bar}} {{msg}}"
                            ))
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                        )
                }
                (Some(total), None) => {
                    ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
                        .with_style(
                            ProgressStyle::with_template(
                                "{spinner} {bytes}/{total_bytes} {wide_bar} {msg}",
                            )
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                        )
                }
                (None, _) => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
                    .with_style(
                        ProgressStyle::with_template("{spinner} {bytes} read, {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    ),
            };
            while !flag.load(Ordering::Relaxed) {
                let done = counter.load(Ordering::Relaxed);
                bar.set_position(done);
                // Rate and time left from the real start: the bar itself appears two seconds in.
                let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-3);
                let mut message = match unit {
                    Some(unit) => format!("{rate:.0} {unit}/s"),
                    None => format!("{}/s", HumanBytes(rate as u64)),
                };
                if let (Some(total), true) = (total, rate > 0.0) {
                    let left = total.saturating_sub(done) as f64 / rate;
                    message.push_str(&format!(
                        ", {} left",
                        HumanDuration(Duration::from_secs_f64(left))
                    ));
                }
                bar.set_message(message);
                std::thread::sleep(TICK);
            }
            bar.finish_and_clear();
        });
        Progress {
            stop,
            thread: Some(thread),
        }
    }

    /// Removes the display (before output is printed).
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
