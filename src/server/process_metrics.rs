//! The process's own figures for `/metrics`, read from `/proc/self` (Linux): resident memory,
//! CPU seconds, open file descriptors and start time, under the names Prometheus client
//! libraries use with the `healbot_` prefix. Where `/proc` is missing nothing is rendered
//! rather than a made-up zero.

use std::fmt::Write;

/// The figures, or `None` for one that cannot be read.
#[derive(Debug, Default, PartialEq)]
pub struct ProcessFigures {
    pub resident_memory_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub start_time_seconds: Option<f64>,
}

fn sysconf(name: libc::c_int) -> Option<u64> {
    // SAFETY: sysconf only reads a configuration value.
    let v = unsafe { libc::sysconf(name) };
    u64::try_from(v).ok().filter(|v| *v > 0)
}

/// `/proc/self/stat`'s fields after the command name (which may hold spaces and parens).
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let after = &stat[stat.rfind(')')? + 1..];
    Some(after.split_whitespace().collect())
}

/// Reads the figures from `stat`, `statm`, `/proc/stat`'s btime, the fd count and the limits.
pub fn parse(
    stat: Option<&str>,
    statm: Option<&str>,
    boot_stat: Option<&str>,
    open_fds: Option<u64>,
    limits: Option<&str>,
    page_size: u64,
    ticks: u64,
) -> ProcessFigures {
    let fields = stat.and_then(stat_fields);
    // After the name: state is field 3 of stat(5), so field n is at index n - 3.
    let field = |n: usize| -> Option<f64> { fields.as_ref()?.get(n - 3)?.parse().ok() };
    let ticks_f = ticks as f64;
    let cpu_seconds = match (field(14), field(15)) {
        (Some(u), Some(s)) => Some((u + s) / ticks_f),
        _ => None,
    };
    let btime = boot_stat.and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    });
    let start_time_seconds = match (field(22), btime) {
        (Some(start), Some(boot)) => Some(boot + start / ticks_f),
        _ => None,
    };
    let resident_memory_bytes = statm
        .and_then(|t| t.split_whitespace().nth(1))
        .and_then(|p| p.parse::<u64>().ok())
        .map(|pages| pages * page_size);
    let max_fds = limits.and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l["Max open files".len()..].split_whitespace().next())
            .and_then(|v| v.parse().ok())
    });
    ProcessFigures {
        resident_memory_bytes,
        cpu_seconds,
        open_fds,
        max_fds,
        start_time_seconds,
    }
}

/// This process's figures now.
pub fn read() -> ProcessFigures {
    let text = |p: &str| std::fs::read_to_string(p).ok();
    let fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as u64);
    parse(
        text("/proc/self/stat").as_deref(),
        text("/proc/self/statm").as_deref(),
        text("/proc/stat").as_deref(),
        fds,
        text("/proc/self/limits").as_deref(),
        sysconf(libc::_SC_PAGESIZE).unwrap_or(4096),
        sysconf(libc::_SC_CLK_TCK).unwrap_or(100),
    )
}

pub fn render(out: &mut String) {
    let f = read();
    let mut gauge = |name: &str, kind: &str, help: &str, value: Option<String>| {
        if let Some(v) = value {
            let _ = writeln!(
                out,
                "# HELP healbot_{name} {help}\n# TYPE healbot_{name} {kind}\nhealbot_{name} {v}"
            );
        }
    };
    gauge(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        f.resident_memory_bytes.map(|v| v.to_string()),
    );
    gauge(
        "process_cpu_seconds_total",
        "counter",
        "User and system CPU time spent, in seconds.",
        f.cpu_seconds.map(|v| v.to_string()),
    );
    gauge(
        "process_open_fds",
        "gauge",
        "Open file descriptors.",
        f.open_fds.map(|v| v.to_string()),
    );
    gauge(
        "process_max_fds",
        "gauge",
        "The open file descriptor limit.",
        f.max_fds.map(|v| v.to_string()),
    );
    gauge(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since the Unix epoch, in seconds.",
        f.start_time_seconds.map(|v| v.to_string()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files_including_a_name_with_spaces() {
        // pid (comm) state ppid ... utime=field 14, stime=15, starttime=22.
        let stat =
            "42 (heal bot) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 1000 123 456";
        let f = parse(
            Some(stat),
            Some("1000 300 20 1 0 50 0"),
            Some("cpu 1 2 3\nbtime 1700000000\n"),
            Some(12),
            Some("Limit Soft Hard Units\nMax open files            1024                 4096                 files\n"),
            4096,
            100,
        );
        assert_eq!(f.cpu_seconds, Some(3.0));
        assert_eq!(f.start_time_seconds, Some(1_700_000_010.0));
        assert_eq!(f.resident_memory_bytes, Some(300 * 4096));
        assert_eq!(f.open_fds, Some(12));
        assert_eq!(f.max_fds, Some(1024));
    }

    #[test]
    fn this_process_has_figures() {
        let f = read();
        assert!(f.resident_memory_bytes.unwrap() > 0);
        assert!(f.open_fds.unwrap() >= 3);
        assert!(f.start_time_seconds.unwrap() > 1_600_000_000.0);
    }

    #[test]
    fn missing_files_render_nothing() {
        assert_eq!(
            parse(None, None, None, None, None, 4096, 100),
            ProcessFigures::default()
        );
    }
}
