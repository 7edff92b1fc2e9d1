//! SQLite's own page cache, with one page number kept off its books.
//!
//! When a B-tree split leaves its new pages out of order, SQLite swaps their numbers through a
//! temporary one: the page that holds the database's locking byte (page 262,145 at 4 KiB), which
//! never holds data. The default cache notes every key it sees as its highest, and at each
//! commit drops the pages above the database's size; with a highest key far beyond the file, it
//! walks its whole hash table to find them (thousands of buckets with the 32 MiB cache). Keys
//! land all over the UUID-keyed indexes, so nearly every write transaction splits a page; for the
//! webhook worker's many small transactions the walk alone is a tenth of its CPU.
//!
//! This wrapper hands every call to the default cache unchanged, except that the temporary
//! number is stored under key 0, which no page ever has: the default cache's highest key stays
//! within the file, and the commit's truncation only looks at the pages actually past its end.
//! The swap moves the page out of the temporary number before it returns, so no page is left
//! there; a lookup of the temporary number still finds the page that holds it.

use rusqlite::ffi;
use std::ffi::{c_int, c_uint, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The default cache's methods, which the wrapper calls.
static INNER: OnceLock<Methods> = OnceLock::new();

/// SQLite's method table: function pointers and the argument SQLite gives them, which SQLite
/// itself shares between its threads.
struct Methods(ffi::sqlite3_pcache_methods2);

// SAFETY: the table is written once, before SQLite starts, and only read afterwards; its
// argument pointer is SQLite's, used only by SQLite's own thread-safe cache.
unsafe impl Send for Methods {}
unsafe impl Sync for Methods {}

/// SQLite's locking byte: the page that holds it is never a database page.
const PENDING_BYTE: u64 = 0x4000_0000;

/// Where a temporary page is stored in the default cache.
const PARKED: c_uint = 0;

/// Pages moved through the temporary number since the process started.
static PARKINGS: AtomicU64 = AtomicU64::new(0);

/// How many times a page has been moved through the temporary number (the wrapper at work).
#[cfg(test)]
fn parkings() -> u64 {
    PARKINGS.load(Ordering::Relaxed)
}

/// One cache: the default cache's handle and the locking page's number for its page size.
struct Cache {
    inner: *mut ffi::sqlite3_pcache,
    locking_page: c_uint,
}

fn inner() -> &'static ffi::sqlite3_pcache_methods2 {
    &INNER.get().expect("installed before use").0
}

/// # Safety
/// `p` is a handle this module's `create` returned and `destroy` has not freed.
unsafe fn cache<'a>(p: *mut ffi::sqlite3_pcache) -> &'a Cache {
    &*(p as *const Cache)
}

impl Cache {
    fn key(&self, key: c_uint) -> c_uint {
        if key == self.locking_page {
            PARKED
        } else {
            key
        }
    }
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    let m = inner();
    match m.xInit {
        Some(f) => f(m.pArg),
        None => ffi::SQLITE_OK,
    }
}

unsafe extern "C" fn shutdown(_: *mut c_void) {
    let m = inner();
    if let Some(f) = m.xShutdown {
        f(m.pArg)
    }
}

unsafe extern "C" fn create(
    sz_page: c_int,
    sz_extra: c_int,
    purgeable: c_int,
) -> *mut ffi::sqlite3_pcache {
    let Some(f) = inner().xCreate else {
        return std::ptr::null_mut();
    };
    let p = f(sz_page, sz_extra, purgeable);
    if p.is_null() {
        return p;
    }
    let locking_page = (PENDING_BYTE / sz_page.max(1) as u64 + 1).min(c_uint::MAX as u64) as c_uint;
    Box::into_raw(Box::new(Cache {
        inner: p,
        locking_page,
    })) as *mut ffi::sqlite3_pcache
}

unsafe extern "C" fn cachesize(p: *mut ffi::sqlite3_pcache, n: c_int) {
    if let Some(f) = inner().xCachesize {
        f(cache(p).inner, n)
    }
}

unsafe extern "C" fn pagecount(p: *mut ffi::sqlite3_pcache) -> c_int {
    match inner().xPagecount {
        Some(f) => f(cache(p).inner),
        None => 0,
    }
}

unsafe extern "C" fn fetch(
    p: *mut ffi::sqlite3_pcache,
    key: c_uint,
    create: c_int,
) -> *mut ffi::sqlite3_pcache_page {
    let c = cache(p);
    match inner().xFetch {
        Some(f) => f(c.inner, c.key(key), create),
        None => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn unpin(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    discard: c_int,
) {
    if let Some(f) = inner().xUnpin {
        f(cache(p).inner, page, discard)
    }
}

unsafe extern "C" fn rekey(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    old: c_uint,
    new: c_uint,
) {
    let c = cache(p);
    if new == c.locking_page {
        PARKINGS.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(f) = inner().xRekey {
        f(c.inner, page, c.key(old), c.key(new))
    }
}

unsafe extern "C" fn truncate(p: *mut ffi::sqlite3_pcache, limit: c_uint) {
    if let Some(f) = inner().xTruncate {
        f(cache(p).inner, limit)
    }
}

unsafe extern "C" fn destroy(p: *mut ffi::sqlite3_pcache) {
    let c = Box::from_raw(p as *mut Cache);
    if let Some(f) = inner().xDestroy {
        f(c.inner)
    }
}

unsafe extern "C" fn shrink(p: *mut ffi::sqlite3_pcache) {
    if let Some(f) = inner().xShrink {
        f(cache(p).inner)
    }
}

/// Installs the wrapper around SQLite's default page cache. It answers SQLite's code; only
/// before SQLite's initialization (before the process opens its first database) does it take
/// effect, otherwise SQLite keeps its cache as it is.
///
/// # Safety
/// No other thread uses SQLite meanwhile (`sqlite3_config`'s own condition), and it runs once (from
/// `configure_sqlite`'s `Once`).
pub(crate) unsafe fn install() -> c_int {
    let mut current: ffi::sqlite3_pcache_methods2 = std::mem::zeroed();
    let rc = ffi::sqlite3_config(
        ffi::SQLITE_CONFIG_GETPCACHE2,
        &mut current as *mut ffi::sqlite3_pcache_methods2,
    );
    if rc != ffi::SQLITE_OK || current.xFetch.is_none() {
        return if rc == ffi::SQLITE_OK {
            ffi::SQLITE_ERROR
        } else {
            rc
        };
    }
    let _ = INNER.set(Methods(current));
    let wrapped = ffi::sqlite3_pcache_methods2 {
        iVersion: 1,
        pArg: std::ptr::null_mut(),
        xInit: Some(init),
        xShutdown: Some(shutdown),
        xCreate: Some(create),
        xCachesize: Some(cachesize),
        xPagecount: Some(pagecount),
        xFetch: Some(fetch),
        xUnpin: Some(unpin),
        xRekey: Some(rekey),
        xTruncate: Some(truncate),
        xDestroy: Some(destroy),
        xShrink: Some(shrink),
    };
    ffi::sqlite3_config(
        ffi::SQLITE_CONFIG_PCACHE2,
        &wrapped as *const ffi::sqlite3_pcache_methods2,
    )
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    /// Random keys split index pages out of order, which moves pages through the temporary
    /// number; the database stays whole and reads back every row, through a cache that has held
    /// them and through a fresh connection.
    #[test]
    fn pages_moved_through_the_locking_page_number_leave_the_database_whole() {
        crate::lite::configure_sqlite();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("split.db");
        let conn = Connection::open(&file).unwrap();
        conn.execute_batch(crate::lite::PRAGMAS).unwrap();
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
            .unwrap();
        let before = super::parkings();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut keys = Vec::new();
        for _ in 0..200 {
            conn.execute_batch("BEGIN").unwrap();
            for _ in 0..100 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let k = format!("{x:016x}-{}", "k".repeat(40));
                conn.execute("INSERT INTO t (k, v) VALUES (?1, ?2)", (&k, "v".repeat(60)))
                    .unwrap();
                keys.push(k);
            }
            conn.execute_batch("COMMIT").unwrap();
        }
        assert!(
            super::parkings() > before,
            "no split moved a page through the temporary number: the wrapper is not installed"
        );
        for c in [&conn, &Connection::open(&file).unwrap()] {
            let ok: String = c
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .unwrap();
            assert_eq!(ok, "ok");
            let n: i64 = c
                .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap();
            assert_eq!(n as usize, keys.len());
            for k in keys.iter().step_by(97) {
                let v: String = c
                    .query_row("SELECT v FROM t WHERE k = ?1", [k], |r| r.get(0))
                    .unwrap();
                assert_eq!(v.len(), 60);
            }
        }
    }
}
