//! An import request's JSON read as a stream: a first pass reads the request's flags and counts
//! its users without keeping them; a second hands each user to the import as soon as it is
//! parsed and frees the body's chunks behind it. The body and the users built from it are
//! then never both whole in memory.

use super::ImportUser;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, BufRead, Read};

/// A request body as the chunks it arrived in.
#[derive(Default)]
pub struct ImportBody {
    chunks: VecDeque<Box<dyn AsRef<[u8]> + Send + Sync>>,
    len: usize,
    freed: Option<fn()>,
}

/// Bytes of body freed between two calls of [`ImportBody::on_freed`]'s hook.
const FREED_STEP: usize = 8 << 20;

impl ImportBody {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the next chunk of the body.
    pub fn push(&mut self, chunk: impl AsRef<[u8]> + Send + Sync + 'static) {
        let n = chunk.as_ref().len();
        if n > 0 {
            self.len += n;
            self.chunks.push_back(Box::new(chunk));
        }
    }

    /// Calls `hook` each time the parse has freed some megabytes of the body: the server asks
    /// its allocator to hand them back to the system then, so that the body shrinks in memory
    /// as the rows built from it grow.
    pub fn on_freed(&mut self, hook: fn()) {
        self.freed = Some(hook);
    }

    /// The body's size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl From<Vec<u8>> for ImportBody {
    fn from(v: Vec<u8>) -> Self {
        let mut b = ImportBody::new();
        b.push(v);
        b
    }
}

impl From<String> for ImportBody {
    fn from(s: String) -> Self {
        s.into_bytes().into()
    }
}

/// Reads a body without consuming it (the first pass).
struct Peek<'a> {
    body: &'a ImportBody,
    chunk: usize,
    pos: usize,
}

impl BufRead for Peek<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while let Some(c) = self.body.chunks.get(self.chunk) {
            let c = (**c).as_ref();
            if self.pos < c.len() {
                return Ok(&c[self.pos..]);
            }
            self.chunk += 1;
            self.pos = 0;
        }
        Ok(&[])
    }
    fn consume(&mut self, n: usize) {
        self.pos += n;
    }
}

/// Reads a body and frees each chunk once read (the second pass).
struct Drain {
    body: ImportBody,
    pos: usize,
    freed: usize,
}

impl BufRead for Drain {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while let Some(c) = self.body.chunks.front() {
            let n = (**c).as_ref().len();
            if self.pos < n {
                break;
            }
            self.body.chunks.pop_front();
            self.pos = 0;
            self.freed += n;
            if self.freed >= FREED_STEP {
                self.freed = 0;
                if let Some(hook) = self.body.freed {
                    hook();
                }
            }
        }
        Ok(match self.body.chunks.front() {
            Some(c) => &(**c).as_ref()[self.pos..],
            None => &[],
        })
    }
    fn consume(&mut self, n: usize) {
        self.pos += n;
    }
}

macro_rules! read_from_buf {
    ($t:ty) => {
        impl Read for $t {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let buf = self.fill_buf()?;
                let n = buf.len().min(out.len());
                out[..n].copy_from_slice(&buf[..n]);
                self.consume(n);
                Ok(n)
            }
        }
    };
}
read_from_buf!(Peek<'_>);
read_from_buf!(Drain);

/// The request's fields beside its users, and how many users it has.
#[derive(Debug, Default, Clone)]
pub(super) struct Flags {
    pub users: usize,
    pub encryption_scheme: Option<String>,
    pub factor: Option<u32>,
    pub validate_db_constraints: bool,
    pub upsert: bool,
}

/// The first pass: the flags, with the users counted and skipped.
pub(super) fn flags(body: &ImportBody) -> serde_json::Result<Flags> {
    let peek = Peek {
        body,
        chunk: 0,
        pos: 0,
    };
    let mut de = serde_json::Deserializer::from_reader(io::BufReader::with_capacity(1 << 16, peek));
    let f = de::Deserializer::deserialize_map(&mut de, FlagsVisitor)?;
    de.end()?;
    Ok(f)
}

/// The flags of a request held as text.
pub(super) fn flags_of_text(text: &str) -> serde_json::Result<Flags> {
    let mut de = serde_json::Deserializer::from_str(text);
    let f = de::Deserializer::deserialize_map(&mut de, FlagsVisitor)?;
    de.end()?;
    Ok(f)
}

/// Every user of a request held as text, in order, without keeping them.
pub(super) fn users_of_text(
    text: &str,
    each: &mut dyn FnMut(usize, ImportUser),
) -> serde_json::Result<()> {
    let mut de = serde_json::Deserializer::from_str(text);
    de::Deserializer::deserialize_map(&mut de, UsersVisitor { each })?;
    de.end()
}

struct FlagsVisitor;

impl<'de> Visitor<'de> for FlagsVisitor {
    type Value = Flags;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct ImportRequest")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Flags, A::Error> {
        let mut f = Flags::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "users" => f.users = map.next_value_seed(CountUsers)?,
                "encryptionScheme" => f.encryption_scheme = map.next_value()?,
                "factor" => f.factor = map.next_value()?,
                "validateDbConstraints" => f.validate_db_constraints = map.next_value()?,
                "upsert" => f.upsert = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(f)
    }
}

/// Counts the users, checking only that they are a list.
struct CountUsers;

impl<'de> DeserializeSeed<'de> for CountUsers {
    type Value = usize;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for CountUsers {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut n = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(n)
    }
}

/// The second pass: every user in order, handed to `each` with its index as soon as it is
/// parsed; the body's chunks are freed as the parse leaves them.
pub(super) fn users(
    body: ImportBody,
    each: &mut dyn FnMut(usize, ImportUser),
) -> serde_json::Result<()> {
    let drain = Drain {
        body,
        pos: 0,
        freed: 0,
    };
    let mut de =
        serde_json::Deserializer::from_reader(io::BufReader::with_capacity(1 << 16, drain));
    de::Deserializer::deserialize_map(&mut de, UsersVisitor { each })?;
    de.end()
}

struct UsersVisitor<'f> {
    each: &'f mut dyn FnMut(usize, ImportUser),
}

impl<'de> Visitor<'de> for UsersVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct ImportRequest")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "users" {
                map.next_value_seed(EachUser {
                    each: &mut *self.each,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct EachUser<'f> {
    each: &'f mut dyn FnMut(usize, ImportUser),
}

impl<'de> DeserializeSeed<'de> for EachUser<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EachUser<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while let Some(u) = seq.next_element::<ImportUser>()? {
            (self.each)(i, u);
            i += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(text: &str, size: usize) -> ImportBody {
        let mut b = ImportBody::new();
        for c in text.as_bytes().chunks(size) {
            b.push(c.to_vec());
        }
        b
    }

    #[test]
    fn flags_after_the_users_are_read_and_users_come_one_by_one() {
        let text = r#"{"users": [{"email": "a@x.io"}, {"email": "b@x.io", "data": {"k": [1]}}],
                       "upsert": true, "factor": 12, "other": {"x": 1}}"#;
        let f = flags(&chunked(text, 7)).unwrap();
        assert_eq!((f.users, f.upsert, f.factor), (2, true, Some(12)));
        let mut seen = Vec::new();
        users(chunked(text, 5), &mut |i, u| seen.push((i, u.user.email))).unwrap();
        assert_eq!(
            seen,
            vec![(0, Some("a@x.io".into())), (1, Some("b@x.io".into()))]
        );
    }

    #[test]
    fn malformed_json_is_an_error_of_the_first_pass() {
        assert!(flags(&chunked(r#"{"users": [{"email": }]}"#, 4)).is_err());
        assert!(flags(&chunked(r#"{"users": {}}"#, 4)).is_err());
        assert!(flags(&chunked(r#"{"users": []} x"#, 4)).is_err());
    }
}
