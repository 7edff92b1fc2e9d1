//! Sources of legacy rows, each streamed: a SQL database by URL (`sqlite://`, `postgres://`,
//! `mysql://`/`mariadb://`) read with one query, a CSV file, an NDJSON file, or a JSON file (an
//! array, or an object whose array of records sits under a key). Rows travel in small chunks over
//! a bounded channel, so reading runs beside the mapping and memory holds a few chunks, never the
//! source.

use crate::Error;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Rows per chunk sent over the channel: enough to make the channel's cost vanish.
const CHUNK: usize = 512;
/// Chunks the channel holds before the reader waits for the mapping.
const CHANNEL_CHUNKS: usize = 8;

/// The column names of a tabular source, shared by all its rows.
#[derive(Debug, Default)]
pub struct Columns {
    pub names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Columns {
    pub fn new(names: Vec<String>) -> Columns {
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        Columns { names, index }
    }

    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }
}

/// One legacy record: its number in the source (1-based: the row of a query's answer, the line
/// of a CSV or NDJSON file, the element of a JSON array) and its values by column.
#[derive(Debug, Clone)]
pub struct Row {
    pub number: u64,
    pub columns: Arc<Columns>,
    pub values: Vec<Value>,
}

impl Row {
    /// The value of a column; `a.b` reaches into a JSON object held by column `a` when no
    /// column is named `a.b` itself. A missing column reads as `None`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        if let Some(i) = self.columns.position(name) {
            return self.values.get(i);
        }
        let mut parts = name.split('.');
        let first = parts.next()?;
        let mut v = self.values.get(self.columns.position(first)?)?;
        for p in parts {
            v = match v {
                Value::Object(m) => m.get(p)?,
                Value::Array(a) => a.get(p.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(v)
    }

    /// A row made from a JSON object (each key a column).
    pub fn from_object(number: u64, obj: serde_json::Map<String, Value>) -> Row {
        let (names, values): (Vec<String>, Vec<Value>) = obj.into_iter().unzip();
        Row {
            number,
            columns: Arc::new(Columns::new(names)),
            values,
        }
    }

    /// Sets a column, adding it when the row lacks it (presets derive columns this way).
    pub fn set(&mut self, name: &str, value: Value) {
        if let Some(i) = self.columns.position(name) {
            self.values[i] = value;
        } else {
            let mut names = self.columns.names.clone();
            names.push(name.to_string());
            self.columns = Arc::new(Columns::new(names));
            self.values.push(value);
        }
    }
}

/// Where the rows come from.
#[derive(Debug, Clone)]
pub enum SourceSpec {
    Sqlite(PathBuf),
    Postgres(String),
    MySql(String),
    Csv {
        path: PathBuf,
        delimiter: u8,
    },
    Ndjson(PathBuf),
    /// A JSON array, or the array under `records` (a dotted path) of a JSON object.
    Json {
        path: PathBuf,
        records: Option<String>,
    },
}

impl SourceSpec {
    /// Reads `--source`: a database URL, or a file whose extension says its format.
    pub fn parse(source: &str) -> Result<SourceSpec, Error> {
        if let Some(rest) = source
            .strip_prefix("sqlite://")
            .or_else(|| source.strip_prefix("sqlite:"))
        {
            let path = rest.split('?').next().unwrap_or(rest);
            return Ok(SourceSpec::Sqlite(PathBuf::from(path)));
        }
        if source.starts_with("postgres://") || source.starts_with("postgresql://") {
            return Ok(SourceSpec::Postgres(source.to_string()));
        }
        if source.starts_with("mysql://") {
            return Ok(SourceSpec::MySql(source.to_string()));
        }
        if let Some(rest) = source.strip_prefix("mariadb://") {
            return Ok(SourceSpec::MySql(format!("mysql://{rest}")));
        }
        let path = PathBuf::from(source);
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "csv" => Ok(SourceSpec::Csv {
                path,
                delimiter: b',',
            }),
            "tsv" => Ok(SourceSpec::Csv {
                path,
                delimiter: b'\t',
            }),
            "ndjson" | "jsonl" => Ok(SourceSpec::Ndjson(path)),
            "json" => Ok(SourceSpec::Json {
                path,
                records: None,
            }),
            _ => Err(Error::Config(format!(
                "--source {source}: not a database URL (sqlite://, postgres://, mysql://, mariadb://) \
                 nor a .csv, .tsv, .ndjson, .jsonl or .json file"
            ))),
        }
    }

    pub fn is_sql(&self) -> bool {
        matches!(
            self,
            SourceSpec::Sqlite(_) | SourceSpec::Postgres(_) | SourceSpec::MySql(_)
        )
    }

    /// The source as the manifest names it: a URL without its password, or the file's path.
    pub fn describe(&self) -> String {
        fn without_password(url: &str) -> String {
            match (url.find("://"), url.rfind('@')) {
                (Some(s), Some(at)) if at > s => {
                    let auth = &url[s + 3..at];
                    match auth.split_once(':') {
                        Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                        None => url.to_string(),
                    }
                }
                _ => url.to_string(),
            }
        }
        match self {
            SourceSpec::Sqlite(p) => format!("sqlite://{}", p.display()),
            SourceSpec::Postgres(u) | SourceSpec::MySql(u) => without_password(u),
            SourceSpec::Csv { path, .. }
            | SourceSpec::Ndjson(path)
            | SourceSpec::Json { path, .. } => path.display().to_string(),
        }
    }
}

/// The receiving end of a running source.
pub struct Rows {
    rx: mpsc::Receiver<Result<Vec<Row>, Error>>,
}

impl Rows {
    /// The next chunk of rows, an error that ended the source, or `None` at its end.
    pub async fn next_chunk(&mut self) -> Option<Result<Vec<Row>, Error>> {
        self.rx.recv().await
    }
}

/// Sends rows in chunks; `false` once the receiver is gone (the run stopped).
struct Sender {
    tx: mpsc::Sender<Result<Vec<Row>, Error>>,
    chunk: Vec<Row>,
}

impl Sender {
    fn new(tx: mpsc::Sender<Result<Vec<Row>, Error>>) -> Sender {
        Sender {
            tx,
            chunk: Vec::with_capacity(CHUNK),
        }
    }

    fn push_blocking(&mut self, row: Row) -> bool {
        self.chunk.push(row);
        if self.chunk.len() >= CHUNK {
            let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
            return self.tx.blocking_send(Ok(chunk)).is_ok();
        }
        true
    }

    async fn push(&mut self, row: Row) -> bool {
        self.chunk.push(row);
        if self.chunk.len() >= CHUNK {
            let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
            return self.tx.send(Ok(chunk)).await.is_ok();
        }
        true
    }

    fn finish_blocking(mut self, result: Result<(), Error>) {
        if !self.chunk.is_empty() {
            let _ = self.tx.blocking_send(Ok(std::mem::take(&mut self.chunk)));
        }
        if let Err(e) = result {
            let _ = self.tx.blocking_send(Err(e));
        }
    }

    async fn finish(mut self, result: Result<(), Error>) {
        if !self.chunk.is_empty() {
            let _ = self.tx.send(Ok(std::mem::take(&mut self.chunk))).await;
        }
        if let Err(e) = result {
            let _ = self.tx.send(Err(e)).await;
        }
    }
}

/// Starts reading `spec` (with `query` for a SQL source) on a task or thread of its own.
pub fn open(spec: &SourceSpec, query: Option<&str>) -> Result<Rows, Error> {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let needs_query = || {
        query.map(str::to_string).ok_or_else(|| {
            Error::Config(
                "a SQL source needs a query: `[source] query = \"SELECT ...\"` in the mapping, or --from PRESET".into(),
            )
        })
    };
    match spec.clone() {
        SourceSpec::Sqlite(path) => {
            let q = needs_query()?;
            tokio::task::spawn_blocking(move || {
                let mut s = Sender::new(tx);
                let r = read_sqlite(&path, &q, &mut s);
                s.finish_blocking(r);
            });
        }
        SourceSpec::Postgres(url) => {
            let q = needs_query()?;
            tokio::spawn(async move {
                let mut s = Sender::new(tx);
                let r = read_postgres(&url, &q, &mut s).await;
                s.finish(r).await;
            });
        }
        SourceSpec::MySql(url) => {
            let q = needs_query()?;
            tokio::spawn(async move {
                let mut s = Sender::new(tx);
                let r = read_mysql(&url, &q, &mut s).await;
                s.finish(r).await;
            });
        }
        SourceSpec::Csv { path, delimiter } => {
            tokio::task::spawn_blocking(move || {
                let mut s = Sender::new(tx);
                let r = read_csv(&path, delimiter, &mut s);
                s.finish_blocking(r);
            });
        }
        SourceSpec::Ndjson(path) => {
            tokio::task::spawn_blocking(move || {
                let mut s = Sender::new(tx);
                let r = read_ndjson(&path, &mut s);
                s.finish_blocking(r);
            });
        }
        SourceSpec::Json { path, records } => {
            tokio::task::spawn_blocking(move || {
                let mut s = Sender::new(tx);
                let r = read_json(&path, records.as_deref(), &mut s);
                s.finish_blocking(r);
            });
        }
    }
    Ok(Rows { rx })
}

fn source_err(what: impl std::fmt::Display) -> Error {
    Error::Source(what.to_string())
}

fn read_sqlite(path: &std::path::Path, query: &str, s: &mut Sender) -> Result<(), Error> {
    use rusqlite::types::ValueRef;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| source_err(format!("cannot open {}: {e}", path.display())))?;
    let mut stmt = conn
        .prepare(query)
        .map_err(|e| source_err(format!("the query failed: {e}")))?;
    let columns = Arc::new(Columns::new(
        stmt.column_names().iter().map(|c| c.to_string()).collect(),
    ));
    let n = columns.names.len();
    let mut rows = stmt
        .query([])
        .map_err(|e| source_err(format!("the query failed: {e}")))?;
    let mut number = 0u64;
    while let Some(r) = rows
        .next()
        .map_err(|e| source_err(format!("reading row {}: {e}", number + 1)))?
    {
        number += 1;
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            let v = match r.get_ref(i).map_err(source_err)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(i) => Value::from(i),
                ValueRef::Real(f) => Value::from(f),
                ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
            };
            values.push(v);
        }
        if !s.push_blocking(Row {
            number,
            columns: columns.clone(),
            values,
        }) {
            return Ok(());
        }
    }
    Ok(())
}

/// Says which column of which type a driver cannot read, and what to do about it.
fn unreadable(column: &str, ty: &str) -> Error {
    Error::Source(format!(
        "column {column:?} has type {ty}, which map does not read: cast it to text in the query"
    ))
}

async fn read_postgres(url: &str, query: &str, s: &mut Sender) -> Result<(), Error> {
    use futures_util::TryStreamExt;
    use sqlx::{Column, Connection, Row as _, TypeInfo};
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| source_err(format!("cannot connect to PostgreSQL: {e}")))?;
    let mut stream = sqlx::query(query).fetch(&mut conn);
    let mut columns: Option<Arc<Columns>> = None;
    let mut number = 0u64;
    while let Some(r) = stream
        .try_next()
        .await
        .map_err(|e| source_err(format!("the query failed: {e}")))?
    {
        number += 1;
        let cols = columns.get_or_insert_with(|| {
            Arc::new(Columns::new(
                r.columns().iter().map(|c| c.name().to_string()).collect(),
            ))
        });
        let mut values = Vec::with_capacity(cols.names.len());
        for (i, c) in r.columns().iter().enumerate() {
            let ty = c.type_info().name();
            let e = |err: sqlx::Error| {
                source_err(format!("row {number}, column {:?}: {err}", c.name()))
            };
            let v = match ty {
                "BOOL" => r.try_get::<Option<bool>, _>(i).map_err(e)?.map(Value::from),
                "INT2" => r.try_get::<Option<i16>, _>(i).map_err(e)?.map(Value::from),
                "INT4" => r.try_get::<Option<i32>, _>(i).map_err(e)?.map(Value::from),
                "INT8" => r.try_get::<Option<i64>, _>(i).map_err(e)?.map(Value::from),
                "FLOAT4" => r.try_get::<Option<f32>, _>(i).map_err(e)?.map(Value::from),
                "FLOAT8" => r.try_get::<Option<f64>, _>(i).map_err(e)?.map(Value::from),
                "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "CITEXT" | "UNKNOWN" => r
                    .try_get_unchecked::<Option<String>, _>(i)
                    .map_err(e)?
                    .map(Value::from),
                "UUID" => r
                    .try_get::<Option<uuid::Uuid>, _>(i)
                    .map_err(e)?
                    .map(|u| Value::from(u.to_string())),
                "JSON" | "JSONB" => r.try_get::<Option<Value>, _>(i).map_err(e)?,
                "TIMESTAMPTZ" => r
                    .try_get::<Option<chrono::DateTime<chrono::Utc>>, _>(i)
                    .map_err(e)?
                    .map(|t| Value::from(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))),
                "TIMESTAMP" => r
                    .try_get::<Option<chrono::NaiveDateTime>, _>(i)
                    .map_err(e)?
                    .map(|t| Value::from(t.format("%Y-%m-%dT%H:%M:%S%.f").to_string())),
                "DATE" => r
                    .try_get::<Option<chrono::NaiveDate>, _>(i)
                    .map_err(e)?
                    .map(|d| Value::from(d.to_string())),
                "TEXT[]" | "VARCHAR[]" | "NAME[]" => r
                    .try_get::<Option<Vec<String>>, _>(i)
                    .map_err(e)?
                    .map(Value::from),
                other => return Err(unreadable(c.name(), other)),
            };
            values.push(v.unwrap_or(Value::Null));
        }
        if !s
            .push(Row {
                number,
                columns: cols.clone(),
                values,
            })
            .await
        {
            return Ok(());
        }
    }
    Ok(())
}

async fn read_mysql(url: &str, query: &str, s: &mut Sender) -> Result<(), Error> {
    use futures_util::TryStreamExt;
    use sqlx::{Column, Connection, Row as _, TypeInfo};
    let mut conn = sqlx::MySqlConnection::connect(url)
        .await
        .map_err(|e| source_err(format!("cannot connect to MySQL/MariaDB: {e}")))?;
    let mut stream = sqlx::query(query).fetch(&mut conn);
    let mut columns: Option<Arc<Columns>> = None;
    let mut number = 0u64;
    while let Some(r) = stream
        .try_next()
        .await
        .map_err(|e| source_err(format!("the query failed: {e}")))?
    {
        number += 1;
        let cols = columns.get_or_insert_with(|| {
            Arc::new(Columns::new(
                r.columns().iter().map(|c| c.name().to_string()).collect(),
            ))
        });
        let mut values = Vec::with_capacity(cols.names.len());
        for (i, c) in r.columns().iter().enumerate() {
            let ty = c.type_info().name();
            let e = |err: sqlx::Error| {
                source_err(format!("row {number}, column {:?}: {err}", c.name()))
            };
            let v = match ty {
                "BOOLEAN" => r.try_get::<Option<bool>, _>(i).map_err(e)?.map(Value::from),
                "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => {
                    r.try_get::<Option<i64>, _>(i).map_err(e)?.map(Value::from)
                }
                "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED"
                | "INT UNSIGNED" | "BIGINT UNSIGNED" => {
                    r.try_get::<Option<u64>, _>(i).map_err(e)?.map(Value::from)
                }
                "FLOAT" => r.try_get::<Option<f32>, _>(i).map_err(e)?.map(Value::from),
                "DOUBLE" => r.try_get::<Option<f64>, _>(i).map_err(e)?.map(Value::from),
                "VARCHAR" | "CHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM"
                | "SET" => r
                    .try_get_unchecked::<Option<String>, _>(i)
                    .map_err(e)?
                    .map(Value::from),
                "VARBINARY" | "BINARY" | "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" => r
                    .try_get_unchecked::<Option<Vec<u8>>, _>(i)
                    .map_err(e)?
                    .map(|b| Value::from(String::from_utf8_lossy(&b).into_owned())),
                "JSON" => r.try_get::<Option<Value>, _>(i).map_err(e)?,
                "DATETIME" => r
                    .try_get::<Option<chrono::NaiveDateTime>, _>(i)
                    .map_err(e)?
                    .map(|t| Value::from(t.format("%Y-%m-%dT%H:%M:%S%.f").to_string())),
                "TIMESTAMP" => r
                    .try_get::<Option<chrono::DateTime<chrono::Utc>>, _>(i)
                    .map_err(e)?
                    .map(|t| Value::from(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))),
                "DATE" => r
                    .try_get::<Option<chrono::NaiveDate>, _>(i)
                    .map_err(e)?
                    .map(|d| Value::from(d.to_string())),
                other => return Err(unreadable(c.name(), other)),
            };
            values.push(v.unwrap_or(Value::Null));
        }
        if !s
            .push(Row {
                number,
                columns: cols.clone(),
                values,
            })
            .await
        {
            return Ok(());
        }
    }
    Ok(())
}

fn read_csv(path: &std::path::Path, delimiter: u8, s: &mut Sender) -> Result<(), Error> {
    let mut rd = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(false)
        .from_path(path)
        .map_err(|e| source_err(format!("cannot read {}: {e}", path.display())))?;
    let headers = rd
        .headers()
        .map_err(|e| source_err(format!("{}: the header line: {e}", path.display())))?;
    let columns = Arc::new(Columns::new(
        headers.iter().map(|h| h.trim().to_string()).collect(),
    ));
    let mut record = csv::StringRecord::new();
    loop {
        match rd.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                return Err(Error::Row {
                    row: line,
                    column: String::new(),
                    message: format!("not a valid CSV record: {e}"),
                });
            }
        }
        let number = record.position().map(|p| p.line()).unwrap_or(0);
        let values = record
            .iter()
            .map(|v| {
                if v.is_empty() {
                    Value::Null
                } else {
                    Value::String(v.to_string())
                }
            })
            .collect();
        if !s.push_blocking(Row {
            number,
            columns: columns.clone(),
            values,
        }) {
            return Ok(());
        }
    }
}

fn read_ndjson(path: &std::path::Path, s: &mut Sender) -> Result<(), Error> {
    use std::io::BufRead;
    let f = std::fs::File::open(path)
        .map_err(|e| source_err(format!("cannot read {}: {e}", path.display())))?;
    let rd = std::io::BufReader::with_capacity(1 << 16, f);
    for (i, line) in rd.lines().enumerate() {
        let number = i as u64 + 1;
        let line = line.map_err(|e| source_err(format!("{}: {e}", path.display())))?;
        if line.trim().is_empty() {
            continue;
        }
        let obj: serde_json::Map<String, Value> =
            serde_json::from_str(&line).map_err(|e| Error::Row {
                row: number,
                column: String::new(),
                message: format!("not a JSON object: {e}"),
            })?;
        if !s.push_blocking(Row::from_object(number, obj)) {
            return Ok(());
        }
    }
    Ok(())
}

/// Streams the elements of a JSON array (at the top, or under a dotted key path) one by one.
fn read_json(path: &std::path::Path, records: Option<&str>, s: &mut Sender) -> Result<(), Error> {
    use serde::de::DeserializeSeed;
    let f = std::fs::File::open(path)
        .map_err(|e| source_err(format!("cannot read {}: {e}", path.display())))?;
    let rd = std::io::BufReader::with_capacity(1 << 16, f);
    let mut de = serde_json::Deserializer::from_reader(rd);
    let path_parts: Vec<String> = records
        .map(|r| r.split('.').map(str::to_string).collect())
        .unwrap_or_default();
    let mut state = JsonState {
        sender: s,
        number: 0,
        stopped: false,
        error: None,
    };
    let seed = AtPath {
        path: &path_parts,
        state: &mut state,
    };
    let r = seed.deserialize(&mut de);
    if let Some(e) = state.error {
        return Err(e);
    }
    r.map_err(|e| source_err(format!("{}: {e}", path.display())))
}

struct JsonState<'a> {
    sender: &'a mut Sender,
    number: u64,
    stopped: bool,
    error: Option<Error>,
}

/// Walks down `path` in nested objects, then reads the array found there element by element.
struct AtPath<'p, 's, 'a> {
    path: &'p [String],
    state: &'s mut JsonState<'a>,
}

impl<'de> serde::de::DeserializeSeed<'de> for AtPath<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.path.is_empty() {
            d.deserialize_seq(self)
        } else {
            d.deserialize_map(self)
        }
    }
}

impl<'de> serde::de::Visitor<'de> for AtPath<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str("an array of records")
        } else {
            write!(f, "an object with the key {:?}", self.path[0])
        }
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<Value>()? {
            if self.state.stopped || self.state.error.is_some() {
                continue;
            }
            self.state.number += 1;
            match v {
                Value::Object(obj) => {
                    if !self
                        .state
                        .sender
                        .push_blocking(Row::from_object(self.state.number, obj))
                    {
                        self.state.stopped = true;
                    }
                }
                _ => {
                    self.state.error = Some(Error::Row {
                        row: self.state.number,
                        column: String::new(),
                        message: "not a JSON object".into(),
                    })
                }
            }
        }
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        while let Some(k) = map.next_key::<String>()? {
            if !found && k == self.path[0] {
                found = true;
                map.next_value_seed(AtPath {
                    path: &self.path[1..],
                    state: &mut *self.state,
                })?;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        if !found {
            return Err(serde::de::Error::custom(format!(
                "no key {:?} holding the records",
                self.path[0]
            )));
        }
        Ok(())
    }
}
