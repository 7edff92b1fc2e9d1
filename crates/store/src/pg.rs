//! PostgreSQL's connections: sqlx's pool for transactions, and connections of our own for the
//! statements that run alone (reads and single writes, most of the store's traffic).
//!
//! Why not sqlx's pool for those too: sqlx sends a `Sync` on every connection it takes back, in a
//! task of its own, before another caller may have it. Nobody waits for that round trip, but the
//! machine pays it and its two wake-ups once per statement; on 2 cores that costs a
//! slow-migration login (two statements) about 0.08 ms (`portcullis-bench migrate`).
//!
//! What the `Sync` protects against is handled here without it: a connection goes back to the
//! idle list only when its statement ran to the end, with rows or with an error from PostgreSQL
//! itself. One whose caller went away mid-statement, or that failed in transport, is dropped,
//! and the next caller opens a fresh one.

use portcullis_domain::{StoreError, StoreResult};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Executor};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Connections for single statements at most (besides the pool's for transactions).
const SINGLE_CONNECTIONS: usize = 16;
/// Connections sqlx's pool keeps for transactions at most.
const TRANSACTION_CONNECTIONS: u32 = 8;
/// How long a statement waits for a free connection before it fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Pg {
    /// Transactions (`begin`), and the schema migrations.
    pub pool: PgPool,
    options: PgConnectOptions,
    schema: Option<String>,
    idle: Mutex<Vec<PgConnection>>,
    permits: Semaphore,
}

/// A connection taken for one statement; see [`Single::finish`].
pub(crate) struct Single<'a> {
    pub conn: PgConnection,
    home: &'a Pg,
    _permit: SemaphorePermit<'a>,
}

/// Makes `conn` work in `schema` (tests give each test its own).
async fn enter_schema(conn: &mut PgConnection, schema: &Option<String>) -> Result<(), sqlx::Error> {
    if let Some(s) = schema {
        conn.execute(format!("SET search_path TO \"{s}\"").as_str())
            .await?;
    }
    Ok(())
}

impl Pg {
    /// The database at `url`, migrated; every connection works in `schema` when one is given.
    pub async fn open(
        url: &str,
        schema: Option<&str>,
        migrations: &sqlx::migrate::Migrator,
    ) -> StoreResult<Self> {
        let schema = schema.map(str::to_string);
        let for_pool = schema.clone();
        // No ping before each acquire (sqlx's default): it is one more round trip per
        // statement, and a dead connection shows itself as an error on the statement anyway.
        let pool = PgPoolOptions::new()
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .max_connections(TRANSACTION_CONNECTIONS)
            .after_connect(move |conn, _| {
                let schema = for_pool.clone();
                Box::pin(async move { enter_schema(conn, &schema).await })
            })
            .connect(url)
            .await
            .map_err(|e| {
                let url = crate::redact(url);
                StoreError::Backend(format!("cannot open the database [{url}]: {e}"))
            })?;
        migrations
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("schema migration failed: {e}")))?;
        Ok(Self::new(pool, schema))
    }

    fn new(pool: PgPool, schema: Option<String>) -> Self {
        let options = (*pool.connect_options()).clone();
        Self {
            pool,
            options,
            schema,
            idle: Mutex::default(),
            permits: Semaphore::new(SINGLE_CONNECTIONS),
        }
    }

    /// An idle connection, or a new one when none is idle; waits while all are busy.
    pub async fn single(&self) -> Result<Single<'_>, sqlx::Error> {
        tokio::time::timeout(ACQUIRE_TIMEOUT, async {
            let permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| sqlx::Error::PoolClosed)?;
            let idle = self.idle.lock().expect("not poisoned").pop();
            let conn = match idle {
                Some(c) => c,
                None => self.connect_one().await?,
            };
            Ok(Single {
                conn,
                home: self,
                _permit: permit,
            })
        })
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    async fn connect_one(&self) -> Result<PgConnection, sqlx::Error> {
        let mut conn = self.options.connect().await?;
        enter_schema(&mut conn, &self.schema).await?;
        Ok(conn)
    }

    /// Closes the idle connections and the pool; statements still running finish first.
    pub async fn close(&self) {
        self.permits.close();
        let idle = std::mem::take(&mut *self.idle.lock().expect("not poisoned"));
        for c in idle {
            let _ = sqlx::Connection::close(c).await;
        }
        self.pool.close().await;
    }

    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.idle.lock().expect("not poisoned").len()
    }
}

impl Single<'_> {
    /// Hands the connection back when `outcome` shows its statement ran to the end, and passes
    /// `outcome` on. Dropping a `Single` instead (its caller went away) closes the connection.
    pub fn finish<T>(self, outcome: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        let whole = matches!(&outcome, Ok(_) | Err(sqlx::Error::Database(_)));
        if whole && !self.home.permits.is_closed() {
            self.home.idle.lock().expect("not poisoned").push(self.conn);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::postgres::PgPoolOptions;
    use sqlx::Row;

    /// The machine's PostgreSQL, as every store test uses it.
    async fn pg() -> Pg {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(&crate::testing::postgres_url())
            .await
            .expect("PostgreSQL answers (set PORTCULLIS_TEST_POSTGRES_URL)");
        Pg::new(pool, None)
    }

    async fn pid(pg: &Pg) -> i32 {
        let mut s = pg.single().await.unwrap();
        let r = sqlx::query("SELECT pg_backend_pid() AS p")
            .fetch_one(&mut s.conn)
            .await;
        s.finish(r).unwrap().get("p")
    }

    #[tokio::test]
    async fn a_finished_statement_gives_its_connection_back_even_when_postgres_refused_it() {
        let pg = pg().await;
        let first = pid(&pg).await;
        assert_eq!(pid(&pg).await, first, "the idle connection is used again");
        let mut s = pg.single().await.unwrap();
        let r = sqlx::query("SELECT 1/0").execute(&mut s.conn).await;
        assert!(matches!(s.finish(r), Err(sqlx::Error::Database(_))));
        assert_eq!(pg.idle_count(), 1);
        // The refused statement left the connection ready for the next one.
        assert_eq!(pid(&pg).await, first);
        pg.close().await;
    }

    #[tokio::test]
    async fn a_statement_given_up_midway_closes_its_connection() {
        let pg = pg().await;
        let first = pid(&pg).await;
        let slow = async {
            let mut s = pg.single().await.unwrap();
            let r = sqlx::query("SELECT pg_sleep(5)").execute(&mut s.conn).await;
            s.finish(r)
        };
        assert!(tokio::time::timeout(Duration::from_millis(200), slow)
            .await
            .is_err());
        assert_eq!(
            pg.idle_count(),
            0,
            "a connection mid-statement is not reused"
        );
        let next = pid(&pg).await;
        assert_ne!(next, first, "the next statement runs on a new connection");
        pg.close().await;
    }
}
