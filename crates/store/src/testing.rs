//! Throw-away databases for tests: a temporary SQLite file, or a fresh PostgreSQL schema on the
//! server named by `PORTCULLIS_TEST_POSTGRES_URL` (default: the local `test` database), so tests
//! run in parallel without seeing each other. The schema is dropped when the value is dropped.

use crate::SqlStore;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn postgres_url() -> String {
    std::env::var("PORTCULLIS_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    pub store: SqlStore,
    /// The URL a second connection (another server node, the CLI) can use.
    pub url: String,
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// The PostgreSQL schema this database lives in (`None` for SQLite): a second connection
    /// must `SET search_path` to it.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Runs one raw statement (benchmarks shaping data the API would take long to make).
    pub async fn execute(&self, sql: &str) -> Result<u64, String> {
        self.store
            .db
            .write(sql, &[])
            .await
            .map_err(|e| e.to_string())
    }

    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => Self::sqlite().await,
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("portcullis.db").display());
        let store = SqlStore::connect(&url).await.expect("SQLite opens");
        TestDb {
            store,
            url,
            schema: None,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> TestDb {
        use sqlx::Executor;
        let base = postgres_url();
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&base)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL at {base} is needed for these tests (set PORTCULLIS_TEST_POSTGRES_URL): {e}")
            });
        admin
            .execute(format!("CREATE SCHEMA \"{schema}\"").as_str())
            .await
            .expect("schema created");
        let store = SqlStore::connect_in_schema(&base, Some(&schema))
            .await
            .expect("PostgreSQL store opens");
        let sep = if base.contains('?') { '&' } else { '?' };
        TestDb {
            store,
            url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
            schema: Some(schema),
            _dir: None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(schema) = self.schema.take() else {
            return;
        };
        let base = postgres_url();
        // Drop runs inside the test's runtime: clean up from a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                use sqlx::Executor;
                if let Ok(mut c) = <sqlx::PgConnection as sqlx::Connection>::connect(&base).await {
                    let _ = c
                        .execute(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE").as_str())
                        .await;
                }
            });
        })
        .join();
    }
}

/// Declares each named async test body `async fn name(backend: Backend)` as two tests, one per
/// backend, so every behaviour is proved on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::testing::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::testing::Backend::Postgres).await
            }
        }
    )*};
}
