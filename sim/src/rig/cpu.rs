//! CPU accounting from `/proc`, as `shared/peerbench` does it: how much CPU the coordinator's
//! servers, this process and the rest of the machine used over a measured window. On a small
//! machine the load generator competes with the servers for the same cores, so a benchmark says
//! how much of the machine each side used, and the servers' CPU per operation is the figure that
//! stays meaningful when other work shares the machine.
//!
//! Caveats: `/proc` counts in clock ticks (`USER_HZ`, 100 per second on Linux), so a window
//! should be a few seconds long; a process that exits during the window stops being counted.

use std::time::Instant;

/// Clock ticks per second in `/proc` (`USER_HZ`): fixed at 100 by the kernel's ABI on every
/// architecture Skyway builds for (it is not `CONFIG_HZ`).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU counters at one instant.
#[derive(Debug, Clone)]
pub struct Snapshot {
    at: Instant,
    machine_busy: u64,
    machine_total: u64,
    servers: u64,
    me: u64,
}

/// CPU used over a window, in cores (2.0 = both cores of a 2-core machine, fully busy).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Seconds the window lasted.
    pub seconds: f64,
    /// The whole machine (every core, every process).
    pub machine_cores: f64,
    /// The servers whose process ids were given.
    pub servers_cores: f64,
    /// This process (the load generator).
    pub loadgen_cores: f64,
    /// Everything else on the machine (other processes); near 0 on a quiet machine.
    pub other_cores: f64,
}

impl Usage {
    /// The servers' CPU time per operation, in microseconds, for `ops` operations completed
    /// in the window.
    pub fn server_us_per_op(&self, ops: u64) -> f64 {
        if ops == 0 { 0.0 } else { self.servers_cores * self.seconds * 1e6 / ops as f64 }
    }
}

/// Reads the counters now, for the given server processes.
pub fn snapshot(server_pids: &[u32]) -> Snapshot {
    let (machine_busy, machine_total) =
        std::fs::read_to_string("/proc/stat").ok().and_then(|s| machine_ticks(&s)).unwrap_or((0, 0));
    let ticks_of = |path: &str| std::fs::read_to_string(path).ok().and_then(|s| process_ticks(&s));
    Snapshot {
        at: Instant::now(),
        machine_busy,
        machine_total,
        servers: server_pids.iter().filter_map(|pid| ticks_of(&format!("/proc/{pid}/stat"))).sum(),
        me: ticks_of("/proc/self/stat").unwrap_or(0),
    }
}

/// The CPU used between two snapshots.
pub fn usage(before: &Snapshot, after: &Snapshot) -> Usage {
    let cores_of_machine = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let seconds = (after.at - before.at).as_secs_f64().max(1e-9);
    let cores = |ticks: u64| ticks as f64 / TICKS_PER_SECOND / seconds;
    let total = after.machine_total.saturating_sub(before.machine_total).max(1) as f64;
    let machine = after.machine_busy.saturating_sub(before.machine_busy) as f64 / total * cores_of_machine;
    let servers = cores(after.servers.saturating_sub(before.servers));
    let loadgen = cores(after.me.saturating_sub(before.me));
    Usage {
        seconds,
        machine_cores: machine,
        servers_cores: servers,
        loadgen_cores: loadgen,
        other_cores: (machine - servers - loadgen).max(0.0),
    }
}

/// Busy and total ticks of all cores, from the first line of `/proc/stat`.
fn machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    // user nice system idle iowait irq softirq steal
    let fields: Vec<u64> = line.split_whitespace().take(8).map(|f| f.parse().ok()).collect::<Option<_>>()?;
    if fields.len() < 8 {
        return None;
    }
    let total: u64 = fields.iter().sum();
    Some((total - fields[3] - fields[4], total))
}

/// User plus system ticks of a process (all its threads), from its `/proc/PID/stat`.
fn process_ticks(stat: &str) -> Option<u64> {
    // The command name is in parentheses and may contain spaces; fields count from after it.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_ticks_count_idle_and_iowait_as_not_busy() {
        let stat = "cpu  100 5 50 1000 20 1 2 3 0 0\ncpu0 50 2 25 500 10 1 1 1 0 0\n";
        assert_eq!(machine_ticks(stat), Some((161, 1181)));
        assert_eq!(machine_ticks("intr 1 2 3"), None);
    }

    #[test]
    fn process_ticks_add_user_and_system_time_past_a_name_with_spaces() {
        let stat = "4242 (tokio rt (w)) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 567 0 0 20 0 9 0 100 0 0";
        assert_eq!(process_ticks(stat), Some(1234 + 567));
        assert_eq!(process_ticks("4242 (x) S 1"), None);
    }

    #[test]
    fn cpu_per_operation_is_server_time_over_operations() {
        let usage = Usage { seconds: 10.0, servers_cores: 1.4, ..Usage::default() };
        // 14 CPU seconds over 70,000 operations: 200 µs each.
        assert!((usage.server_us_per_op(70_000) - 200.0).abs() < 1e-9);
        assert_eq!(usage.server_us_per_op(0), 0.0);
    }
}
