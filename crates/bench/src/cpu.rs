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
