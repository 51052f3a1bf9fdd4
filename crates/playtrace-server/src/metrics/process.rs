//! The standard `process_*` metrics (as Prometheus client libraries export them), read from
//! `/proc/self` on Linux; nothing elsewhere.

use super::text::{header, sample};

/// Clock ticks per second of `/proc` times (`sysconf(_SC_CLK_TCK)`, 100 on every Linux
/// architecture Rust targets).
const CLK_TCK: f64 = 100.0;

/// Appends the process metrics; those that cannot be read are left out.
pub(crate) fn render(out: &mut String) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command name (which may contain spaces), from field 3 (`state`) on.
    let Some(fields) = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect::<Vec<_>>())
    else {
        return;
    };
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    if let (Some(utime), Some(stime)) = (field(14), field(15)) {
        header(
            out,
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
        );
        sample(
            out,
            "process_cpu_seconds_total",
            &[],
            (utime + stime) / CLK_TCK,
        );
    }
    if let Some(vsize) = field(23) {
        header(
            out,
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
        );
        sample(out, "process_virtual_memory_bytes", &[], vsize);
    }
    if let Some(rss) = status_kib("VmRSS:") {
        header(
            out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
        );
        sample(out, "process_resident_memory_bytes", &[], rss * 1024.0);
    }
    if let (Some(start), Some(boot)) = (field(22), boot_time()) {
        header(
            out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
        );
        sample(
            out,
            "process_start_time_seconds",
            &[],
            boot + start / CLK_TCK,
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        header(
            out,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
        );
        sample(out, "process_open_fds", &[], fds.count() as f64);
    }
    if let Some(max) = max_open_files() {
        header(
            out,
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
        );
        sample(out, "process_max_fds", &[], max);
    }
}

fn status_kib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("btime "))?;
    line["btime ".len()..].trim().parse().ok()
}

fn max_open_files() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn linux_processes_report_cpu_memory_fds_and_start_time() {
        let mut out = String::new();
        super::render(&mut out);
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_max_fds ",
            "process_start_time_seconds ",
        ] {
            let line = out
                .lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("{name} in {out}"));
            let v: f64 = line[name.len()..].parse().unwrap();
            assert!(v >= 0.0, "{line}");
        }
        let start = out
            .lines()
            .find(|l| l.starts_with("process_start_time_seconds "))
            .unwrap();
        let start: f64 = start["process_start_time_seconds ".len()..]
            .parse()
            .unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            start <= now + 1.0 && start > now - 86_400.0 * 365.0,
            "{start} vs {now}"
        );
    }
}
