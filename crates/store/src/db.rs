//! The store's two ways to its database, behind one small interface: PostgreSQL through sqlx's
//! PostgreSQL driver (its own driver: the `Any` driver converted every argument and row once
//! more; connections as `pg` keeps them), SQLite through `rusqlite` on the calling thread (see
//! `lite`).
//!
//! The store's SQL is the same on both (`$n` parameters, portable statements); what differs
//! here is only how a statement reaches the database and how a row is read back.

use crate::lite::{self, Lite, LiteRow, LiteTx};
use crate::pg::Pg;
use crate::{backend, db_err, Arg};
use portcullis_domain::StoreResult;
use rusqlite::types::Value;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Postgres, Row as _};
use std::sync::Arc;

#[derive(Clone)]
pub(crate) enum Db {
    /// PostgreSQL: statements alone on `pg`'s own connections, transactions on sqlx's pool.
    Pg(Arc<Pg>),
    Lite(Arc<Lite>),
}

/// A result row of either backend.
pub(crate) enum Row {
    Pg(PgRow),
    Lite(LiteRow),
}

/// A column type the store reads: text, integers, either of them nullable.
pub(crate) trait Col: Sized {
    fn of_pg(row: &PgRow, column: &str) -> Result<Self, sqlx::Error>;
    fn of_lite(v: &Value) -> Option<Self>;
}

impl Col for String {
    fn of_pg(row: &PgRow, column: &str) -> Result<Self, sqlx::Error> {
        row.try_get(column)
    }
    fn of_lite(v: &Value) -> Option<Self> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl Col for i64 {
    fn of_pg(row: &PgRow, column: &str) -> Result<Self, sqlx::Error> {
        row.try_get(column)
    }
    fn of_lite(v: &Value) -> Option<Self> {
        match v {
            Value::Integer(n) => Some(*n),
            _ => None,
        }
    }
}

impl<T: Col> Col for Option<T>
where
    for<'r> Option<T>: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    fn of_pg(row: &PgRow, column: &str) -> Result<Self, sqlx::Error> {
        row.try_get(column)
    }
    fn of_lite(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            v => T::of_lite(v).map(Some),
        }
    }
}

impl Row {
    /// Column `column` as a `T`; a wrong type is a backend error naming the column.
    pub(crate) fn get<T: Col>(&self, column: &str) -> StoreResult<T> {
        match self {
            Row::Pg(r) => T::of_pg(r, column).map_err(backend),
            Row::Lite(r) => {
                let v = r.value(column)?;
                T::of_lite(v).ok_or_else(|| {
                    backend(format!(
                        "column [{column}] holds {:?}, not {}",
                        v.data_type(),
                        std::any::type_name::<T>()
                    ))
                })
            }
        }
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

fn bind_all<'q>(sql: &'q str, args: &[Arg]) -> PgQuery<'q> {
    args.iter().fold(sqlx::query(sql), |q, a| match a {
        Arg::Text(t) => q.bind(t.clone()),
        Arg::Int(i) => q.bind(*i),
        Arg::OptInt(i) => q.bind(*i),
    })
}

/// As [`bind_all`], moving the values in: the bulk path binds every user's body once, uncopied.
fn bind_owned(sql: &str, args: Vec<Arg>) -> PgQuery<'_> {
    args.into_iter().fold(sqlx::query(sql), |q, a| match a {
        Arg::Text(t) => q.bind(t),
        Arg::Int(i) => q.bind(i),
        Arg::OptInt(i) => q.bind(i),
    })
}

fn pg_rows(rows: Vec<PgRow>) -> Vec<Row> {
    rows.into_iter().map(Row::Pg).collect()
}

fn lite_rows(rows: Vec<LiteRow>) -> Vec<Row> {
    rows.into_iter().map(Row::Lite).collect()
}

impl Db {
    /// A read (on SQLite, beside the writer).
    pub(crate) async fn read(&self, sql: &str, args: &[Arg]) -> StoreResult<Vec<Row>> {
        match self {
            Db::Pg(pg) => {
                let mut s = pg.single().await.map_err(db_err)?;
                let rows = bind_all(sql, args).fetch_all(&mut s.conn).await;
                s.finish(rows).map(pg_rows).map_err(db_err)
            }
            Db::Lite(l) => l.read(sql, args).await.map(lite_rows),
        }
    }

    /// One write statement on its own; the rows it changed.
    pub(crate) async fn write(&self, sql: &str, args: &[Arg]) -> StoreResult<u64> {
        match self {
            Db::Pg(pg) => {
                let mut s = pg.single().await.map_err(db_err)?;
                let done = bind_all(sql, args).execute(&mut s.conn).await;
                s.finish(done).map(|r| r.rows_affected()).map_err(db_err)
            }
            Db::Lite(l) => l.write(sql, args).await,
        }
    }

    /// One write statement that answers rows (`RETURNING`), committed before it answers. On
    /// SQLite it goes into the writer's group commit, with whatever other writes are queued.
    pub(crate) async fn write_returning(&self, sql: &str, args: &[Arg]) -> StoreResult<Vec<Row>> {
        match self {
            Db::Pg(pg) => {
                let mut s = pg.single().await.map_err(db_err)?;
                let rows = bind_all(sql, args).fetch_all(&mut s.conn).await;
                s.finish(rows).map(pg_rows).map_err(db_err)
            }
            // In the group commit: concurrent logins' attempt counts share one commit.
            Db::Lite(l) => l.submit_returning(sql, args).await.map(lite_rows),
        }
    }

    /// As [`write_returning`](Db::write_returning), but on PostgreSQL planned afresh at each
    /// call (an unnamed statement, not the connection's cached one). For a statement over a
    /// table that grows fast from empty: a plan cached while it was nearly empty scans all of
    /// it sequentially until the next `ANALYZE` replaces the plan, and autovacuum comes to a
    /// table only every minute or so. Planning costs a fraction of a millisecond.
    pub(crate) async fn write_returning_planned(
        &self,
        sql: &str,
        args: &[Arg],
    ) -> StoreResult<Vec<Row>> {
        match self {
            Db::Pg(pg) => {
                let mut s = pg.single().await.map_err(db_err)?;
                let rows = bind_all(sql, args)
                    .persistent(false)
                    .fetch_all(&mut s.conn)
                    .await;
                s.finish(rows).map(pg_rows).map_err(db_err)
            }
            Db::Lite(_) => self.write_returning(sql, args).await,
        }
    }

    /// A transaction of short statements.
    pub(crate) async fn begin(&self) -> StoreResult<Tx> {
        self.begin_with(false).await
    }

    /// A transaction whose statements may run long (bulk loads and deletes): on SQLite they run
    /// where the runtime can move its other tasks off the thread meanwhile.
    pub(crate) async fn begin_long(&self) -> StoreResult<Tx> {
        self.begin_with(true).await
    }

    async fn begin_with(&self, long: bool) -> StoreResult<Tx> {
        match self {
            Db::Pg(pg) => pg.pool.begin().await.map(Tx::Pg).map_err(db_err),
            Db::Lite(l) => l.begin(long).await.map(Tx::Lite),
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            Db::Pg(pg) => pg.close().await,
            Db::Lite(l) => l.close(),
        }
    }
}

/// An open transaction; dropped uncommitted, it rolls back.
pub(crate) enum Tx {
    Pg(sqlx::Transaction<'static, Postgres>),
    Lite(LiteTx),
}

impl Tx {
    pub(crate) async fn read(&mut self, sql: &str, args: &[Arg]) -> StoreResult<Vec<Row>> {
        match self {
            Tx::Pg(tx) => bind_all(sql, args)
                .fetch_all(&mut **tx)
                .await
                .map(pg_rows)
                .map_err(db_err),
            Tx::Lite(tx) => tx.read(sql, args).map(lite_rows),
        }
    }

    pub(crate) async fn write(&mut self, sql: &str, args: &[Arg]) -> StoreResult<u64> {
        match self {
            Tx::Pg(tx) => bind_all(sql, args)
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected())
                .map_err(db_err),
            Tx::Lite(tx) => tx.write(sql, args),
        }
    }

    /// As [`write`](Self::write), moving the arguments in: the bulk path binds every user's
    /// body once, uncopied.
    pub(crate) async fn write_owned(&mut self, sql: &str, args: Vec<Arg>) -> StoreResult<u64> {
        match self {
            Tx::Pg(tx) => bind_owned(sql, args)
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected())
                .map_err(db_err),
            Tx::Lite(tx) => tx.write(sql, &args),
        }
    }

    /// Inserts `rows` into `head` (`table (columns)`), `cols` fields each as `encode` gives
    /// them. PostgreSQL: `COPY head FROM STDIN (FORMAT binary)`, sent a buffer at a time so
    /// that only one buffer of encoded rows is ever held. SQLite: multi-row INSERTs, each value
    /// bound straight from the row.
    pub(crate) async fn insert_rows<T: Sync>(
        &mut self,
        head: &str,
        cols: usize,
        rows: &[T],
        encode: impl Fn(&T, &mut dyn Fields) + Sync,
    ) -> StoreResult<u64> {
        let tx = match self {
            Tx::Lite(tx) => return tx.insert_rows(head, cols, rows, &encode),
            Tx::Pg(tx) => tx,
        };
        if rows.is_empty() {
            return Ok(0);
        }
        let sql = format!("COPY {head} FROM STDIN (FORMAT binary)");
        let mut copy = tx.copy_in_raw(&sql).await.map_err(db_err)?;
        let mut buf = CopyRows::start();
        for r in rows {
            buf.row(cols as i16);
            encode(r, &mut buf);
            if buf.0.len() >= COPY_BUFFER {
                let full = std::mem::replace(&mut buf.0, Vec::with_capacity(COPY_BUFFER + 4096));
                if let Err(e) = copy.send(full).await {
                    let _ = copy.abort("the import failed").await;
                    return Err(db_err(e));
                }
            }
        }
        buf.0.extend_from_slice(&(-1i16).to_be_bytes());
        if let Err(e) = copy.send(buf.0).await {
            let _ = copy.abort("the import failed").await;
            return Err(db_err(e));
        }
        copy.finish().await.map_err(db_err)
    }

    pub(crate) async fn commit(self) -> StoreResult<()> {
        match self {
            Tx::Pg(tx) => tx.commit().await.map_err(db_err),
            Tx::Lite(tx) => tx.commit(),
        }
    }
}

/// Bytes of encoded rows sent to a COPY at a time.
const COPY_BUFFER: usize = 1 << 20;

/// Where a bulk insert's row puts its fields, in column order ([`Tx::insert_rows`]).
pub(crate) trait Fields {
    fn text(&mut self, v: Option<&str>);
    /// A UUID as the text the TEXT id columns hold.
    fn id(&mut self, id: uuid::Uuid) {
        let mut s = [0u8; uuid::fmt::Hyphenated::LENGTH];
        self.text(Some(id.hyphenated().encode_lower(&mut s)));
    }
    fn int(&mut self, v: Option<i64>);
}

/// Rows in PostgreSQL's binary COPY format: a header, then per row its field count and each
/// field as a length and its bytes (TEXT as UTF-8, BIGINT as 8 big-endian bytes, NULL as -1).
pub(crate) struct CopyRows(Vec<u8>);

impl CopyRows {
    fn start() -> Self {
        let mut b = Vec::with_capacity(COPY_BUFFER + 4096);
        b.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        b.extend_from_slice(&0i32.to_be_bytes()); // flags
        b.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        CopyRows(b)
    }

    /// Starts a row of `fields` fields.
    fn row(&mut self, fields: i16) {
        self.0.extend_from_slice(&fields.to_be_bytes());
    }
}

impl Fields for CopyRows {
    fn text(&mut self, v: Option<&str>) {
        match v {
            Some(t) => {
                self.0.extend_from_slice(&(t.len() as i32).to_be_bytes());
                self.0.extend_from_slice(t.as_bytes());
            }
            None => self.0.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }

    fn int(&mut self, v: Option<i64>) {
        match v {
            Some(n) => {
                self.0.extend_from_slice(&8i32.to_be_bytes());
                self.0.extend_from_slice(&n.to_be_bytes());
            }
            None => self.0.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
}

pub(crate) use lite::migrate as migrate_lite;
