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

/// An error and its causes on one line, each cause once: a cause whose text the message
/// already contains (a library that puts its source's text in its own message) is not
/// repeated, so the OS error is never printed twice.
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// Writes a command's result to `-o/--output PATH` (atomically: whole or not at all) or, without
/// one, to standard output.
pub fn emit(output: Option<&std::path::Path>, bytes: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    match output {
        Some(path) if path.as_os_str() != "-" => {
            playtrace_export::atomic::write_atomic(path, bytes)
                .with_context(|| format!("cannot write --output `{}`", path.display()))
        }
        _ => Ok(write_stdout(bytes)?),
    }
}

/// A duration for people, in its two largest units: `1h 10m`, `3m 5s`, `12s`, `850ms`,
/// `2d 3h`. Ages and latencies in reports; machine output keeps milliseconds.
pub fn human_duration(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        return "?".to_string();
    }
    if ms < 1000.0 {
        return format!("{}ms", ms.round() as u64);
    }
    let secs = (ms / 1000.0).round() as u64;
    let units = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let mut parts = Vec::new();
    let mut rest = secs;
    for (name, size) in units {
        if rest >= size || !parts.is_empty() {
            parts.push((rest / size, name));
            rest %= size;
        }
        if parts.len() == 2 {
            break;
        }
    }
    match parts.as_slice() {
        [(a, u), (0, _)] | [(a, u)] => format!("{a}{u}"),
        [(a, u), (b, v)] => format!("{a}{u} {b}{v}"),
        _ => "0s".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human_duration(3_991_975.0), "1h 6m");
        assert_eq!(human_duration(4_200_000.0), "1h 10m");
        assert_eq!(human_duration(185_000.0), "3m 5s");
        assert_eq!(human_duration(12_000.0), "12s");
        assert_eq!(human_duration(850.0), "850ms");
        assert_eq!(human_duration(3_600_000.0), "1h");
        assert_eq!(human_duration(183_600_000.0), "2d 3h");
    }
}
