//! The memory allocator of Portcullis's processes (`portcullis` and its benches, so that the
//! benches' figures are the server's): mimalloc, set to hand freed memory back to the system
//! promptly, and the call that returns what a big import freed.
//!
//! Linking this crate installs the allocator; a binary calls [`return_freed_memory_promptly`]
//! first thing in `main`.

/// mimalloc instead of glibc's allocator: an import spent about a fifth of its CPU in glibc's
/// `malloc`/`free` (chunk unlinking and consolidation) building and dropping JSON values.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// mimalloc's own: frees what the calling thread's heap caches and returns free pages to
    /// the system. Linked from `libmimalloc-sys`, which `mimalloc` builds.
    fn mi_collect(force: bool);
    fn mi_option_set(option: std::os::raw::c_int, value: std::os::raw::c_long);
    #[cfg(test)]
    fn mi_option_get(option: std::os::raw::c_int) -> std::os::raw::c_long;
}

/// mimalloc's `mi_option_purge_delay`, as its v3 header numbers its options.
const MI_OPTION_PURGE_DELAY: std::os::raw::c_int = 15;

/// Makes freed memory leave the process as it is freed, so that a big import's peak is its
/// body and the rows in flight rather than everything it touched.
///
/// - mimalloc v3 keeps a wholly freed page for a second before returning it to the system: an
///   import frees its body's chunks and each written slice of rows well within that, so left
///   alone the peak grows with everything the request allocates. It returns them at once. The
///   pages a thread reuses at once it keeps anyway (its own free lists), so a busy node does
///   not return and fault in the same pages between two requests: the webhook and gateway
///   benches show no difference.
/// - Transparent huge pages keep a whole 2 MiB resident for any live byte in it, and mimalloc
///   asks for them on its arenas, so its 64 KiB pages returned inside one stay resident.
///   They are turned off for this process only.
///
/// Measured on one import of 100,000 users (44 MiB): a 162–194 MiB peak without these, about
/// 125 MiB with them, at the same users/s (`scripts/bench/import-peak.py`).
pub fn return_freed_memory_promptly() {
    // SAFETY: mi_option_set writes one option's value and is meant to be called at any time;
    // prctl with PR_SET_THP_DISABLE takes plain integers and only sets a flag of this process.
    unsafe {
        mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Returns the memory a big import freed to the system, so that a node's resident size goes
/// back down once its imports end instead of staying at their peak.
pub fn return_freed_memory() {
    // SAFETY: mi_collect takes no pointers and may be called from any thread at any time.
    unsafe { mi_collect(true) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option is set by number: the number must name, in the mimalloc this links, the
    /// purge delay, whose default there is 1000 ms until it is set.
    #[test]
    fn the_option_number_names_the_purge_delay() {
        if std::env::vars().any(|(k, _)| k.starts_with("MIMALLOC_")) {
            panic!("run without MIMALLOC_ variables: they change the defaults this reads");
        }
        // SAFETY: reads and writes of options, which mimalloc allows at any time.
        unsafe {
            assert_eq!(mi_option_get(MI_OPTION_PURGE_DELAY), 1000);
        }
        return_freed_memory_promptly();
        unsafe {
            assert_eq!(mi_option_get(MI_OPTION_PURGE_DELAY), 0);
        }
    }
}
