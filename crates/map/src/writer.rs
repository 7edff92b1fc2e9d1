//! The output: minified FusionAuth import files of at most `batch` users each, named in order
//! (`users-000001.json`, …) so `portcullis import DIR` takes them in that order, each written
//! under a temporary name and renamed when complete (an interrupted run leaves no half file that
//! an import would take), and the manifest `manifest.toml` beside them (not `.json`, which the
//! import would read as a batch).

use crate::Error;
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const MANIFEST: &str = "manifest.toml";
pub const DUPLICATES: &str = "duplicates.csv";
pub const PASSWORDLESS: &str = "passwordless.csv";

pub struct BatchWriter {
    dir: PathBuf,
    batch: usize,
    /// The request's flags, written after the users of each file.
    tail: String,
    current: Option<(PathBuf, std::io::BufWriter<std::fs::File>)>,
    in_current: usize,
    pub files: Vec<(String, usize)>,
    buf: Vec<u8>,
}

impl BatchWriter {
    pub fn new(
        dir: &Path,
        batch: usize,
        validate_db_constraints: bool,
        upsert: bool,
    ) -> BatchWriter {
        let mut tail = format!("],\"validateDbConstraints\":{validate_db_constraints}");
        if upsert {
            tail.push_str(",\"upsert\":true");
        }
        tail.push('}');
        BatchWriter {
            dir: dir.to_path_buf(),
            batch: batch.max(1),
            tail,
            current: None,
            in_current: 0,
            files: Vec::new(),
            buf: Vec::with_capacity(1024),
        }
    }

    fn name(n: usize) -> String {
        format!("users-{n:06}.json")
    }

    pub fn write(&mut self, user: &Map<String, Value>) -> Result<(), Error> {
        if self.current.is_none() {
            let name = Self::name(self.files.len() + 1);
            let tmp = self.dir.join(format!(".{name}.partial"));
            let f = std::fs::File::create(&tmp)
                .map_err(|e| Error::Io(format!("cannot create {}: {e}", tmp.display())))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            w.write_all(b"{\"users\":[").map_err(ioe)?;
            self.current = Some((tmp, w));
            self.files.push((name, 0));
            self.in_current = 0;
        }
        let (_, w) = self.current.as_mut().expect("opened above");
        self.buf.clear();
        if self.in_current > 0 {
            self.buf.push(b',');
        }
        serde_json::to_writer(&mut self.buf, user).map_err(|e| Error::Io(e.to_string()))?;
        w.write_all(&self.buf).map_err(ioe)?;
        self.in_current += 1;
        if let Some(last) = self.files.last_mut() {
            last.1 = self.in_current;
        }
        if self.in_current >= self.batch {
            self.close()?;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), Error> {
        if let Some((tmp, mut w)) = self.current.take() {
            w.write_all(self.tail.as_bytes()).map_err(ioe)?;
            w.flush().map_err(ioe)?;
            let name = &self.files.last().expect("a file is open").0;
            std::fs::rename(&tmp, self.dir.join(name)).map_err(ioe)?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<Vec<(String, usize)>, Error> {
        self.close()?;
        Ok(self.files)
    }
}

fn ioe(e: std::io::Error) -> Error {
    Error::Io(e.to_string())
}

/// Refuses an output directory that holds import files already: they would be imported with
/// the new ones.
pub fn prepare_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Io(format!("cannot create {}: {e}", dir.display())))?;
    let taken = std::fs::read_dir(dir)
        .map_err(|e| Error::Io(format!("cannot read {}: {e}", dir.display())))?
        .filter_map(|e| e.ok())
        .any(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.ends_with(".json") || n == MANIFEST || n == ".portcullis-import-done"
        });
    if taken {
        return Err(Error::Config(format!(
            "{} already holds import files or a manifest: give map an empty directory",
            dir.display()
        )));
    }
    Ok(())
}
