//! Loopback ports for the tests' child processes: slapd, aiosmtpd, the examples' servers.
//!
//! A child process binds the port it is given some time after the test has checked that the port
//! is free. A port from Linux's ephemeral range (32768 and up) can meanwhile go to any socket that
//! binds port 0 or connects out, and tests running beside this one open many of those; the child
//! then fails to bind, and whatever took the port answers in its place. Below the range only
//! explicit binds compete: those of this function, which hands out each port once per process.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// The first port handed out.
const LOW: u32 = 20_000;
/// How many ports there are to hand out, all below Linux's default ephemeral range.
const SPAN: u32 = 12_000;

/// A loopback port that nothing listens on now, not handed out before in this process, below the
/// ephemeral range. Processes start at different places in the span, so test binaries running at
/// the same time seldom meet.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id() % SPAN;
    for _ in 0..SPAN {
        let port = (LOW + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {LOW}..{}", LOW + SPAN);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_distinct_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            ports.len(),
            "a port handed out twice: {ports:?}"
        );
        for p in ports {
            assert!((LOW..LOW + SPAN).contains(&u32::from(p)), "{p}");
            TcpListener::bind(("127.0.0.1", p)).expect("the port is free");
        }
    }

    #[test]
    fn a_port_in_use_is_skipped() {
        let next = free_port() + 1;
        let Ok(_held) = TcpListener::bind(("127.0.0.1", next)) else {
            return;
        };
        assert_ne!(free_port(), next);
    }
}
