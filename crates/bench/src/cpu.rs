//! CPU time read from `/proc`: of this process, this thread, another process or thread, so a
//! measurement can say what its operations cost beside their wall time.

use std::time::Duration;

/// User + system CPU time from a `stat` file of proc(5) (a process's or a thread's), at the
/// kernel's tick (10 ms).
pub(crate) fn of(stat: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(stat).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of proc(5) (utime, stime), counted after the command name.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// This process's CPU time, its ended threads' included.
pub(crate) fn this_process() -> Option<Duration> {
    of("/proc/self/stat")
}

/// This thread's CPU time.
pub(crate) fn this_thread() -> Option<Duration> {
    of("/proc/thread-self/stat")
}

/// The `stat` file of the calling thread, to be read from another thread later.
pub(crate) fn this_thread_stat() -> Option<String> {
    // The link reads `<pid>/task/<tid>`.
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    Some(format!("/proc/{}/stat", link.display()))
}

/// The CPU time of every process whose command is `command` (as `/proc/<pid>/comm` names it),
/// by process id: PostgreSQL's server and its backends are `postgres`, whichever user runs
/// them.
pub(crate) fn of_command(command: &str) -> std::collections::HashMap<u32, Duration> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Default::default();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim_end() == command)
        })
        .filter_map(|pid| Some((pid, of(&format!("/proc/{pid}/stat"))?)))
        .collect()
}

/// The CPU time `command`'s processes took between two readings of [`of_command`]: a process
/// that started in between counts from its start; one that ended in between is not counted.
pub(crate) fn of_command_since(
    command: &str,
    before: &std::collections::HashMap<u32, Duration>,
) -> Duration {
    of_command(command)
        .into_iter()
        .map(|(pid, now)| now.saturating_sub(before.get(&pid).copied().unwrap_or_default()))
        .sum()
}
