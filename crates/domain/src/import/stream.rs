//! An import request's JSON read as a stream: a first pass reads the request's flags and counts
//! its users without keeping them (from the text's structure, the parser only when that is not
//! plain); a second parses each user and hands it to the import at once, freeing the body's
//! chunks behind it. The body and the users built from it are then never both whole in memory.

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
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Flags {
    pub users: usize,
    pub encryption_scheme: Option<String>,
    pub factor: Option<u32>,
    pub validate_db_constraints: bool,
    pub upsert: bool,
}

/// The first pass: the flags, with the users counted and skipped. A scan of the text's
/// structure finds them ([`scan`]); a request it cannot read plainly is parsed instead, which
/// names the error's position.
pub(super) fn flags(body: &ImportBody) -> serde_json::Result<Flags> {
    match scan(body) {
        Some(f) => Ok(f),
        None => flags_parsed(body),
    }
}

/// The first pass by the JSON parser.
fn flags_parsed(body: &ImportBody) -> serde_json::Result<Flags> {
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

/// Reads the request's flags and counts its users from the structure of its text alone:
/// strings are skipped to their closing quote (with `memchr`), objects and arrays by their
/// brackets, and only the values of the flags are parsed. It is many times faster than the
/// parser on a body that is almost all users, and it checks less: what it does not check (the
/// text of the users and of unknown fields) the second pass parses and refuses. `None` when
/// the text is not an object of plain keys, each with one well-bracketed value, or a flag's
/// value is not of its type: the parser then reads the request and names the error.
fn scan(body: &ImportBody) -> Option<Flags> {
    let mut c = Cursor {
        body,
        chunk: 0,
        pos: 0,
    };
    let mut f = Flags::default();
    if c.token()? != b'{' {
        return None;
    }
    let mut key = Vec::new();
    let mut value = Vec::new();
    match c.token()? {
        b'}' => return c.rest_is_blank().then_some(f),
        b'"' => {}
        _ => return None,
    }
    loop {
        key.clear();
        c.key(&mut key)?;
        if c.token()? != b':' {
            return None;
        }
        let first = c.token()?;
        if key == b"users" {
            f.users = c.count_array(first)?;
        } else {
            // Only a flag's value is kept (an unknown field's may be large).
            let flag = matches!(
                key.as_slice(),
                b"encryptionScheme" | b"factor" | b"validateDbConstraints" | b"upsert"
            );
            value.clear();
            value.push(first);
            c.value(first, flag.then_some(&mut value))?;
            let v = value.as_slice();
            let typed = match key.as_slice() {
                b"encryptionScheme" => serde_json::from_slice(v).map(|x| f.encryption_scheme = x),
                b"factor" => serde_json::from_slice(v).map(|x| f.factor = x),
                b"validateDbConstraints" => {
                    serde_json::from_slice(v).map(|x| f.validate_db_constraints = x)
                }
                b"upsert" => serde_json::from_slice(v).map(|x| f.upsert = x),
                _ => Ok(()),
            };
            typed.ok()?;
        }
        match c.token()? {
            b',' => {
                if c.token()? != b'"' {
                    return None;
                }
            }
            b'}' => return c.rest_is_blank().then_some(f),
            _ => return None,
        }
    }
}

/// The most of a key or a flag's value [`scan`] keeps: every flag and its value fit many times
/// over. A longer one is left to the parser, so a request cannot make the scan copy most of
/// its body.
const MAX_KEPT: usize = 1024;

/// Adds `bytes` to a kept key or value; `None` once it would pass [`MAX_KEPT`].
fn keep(kept: &mut Vec<u8>, bytes: &[u8]) -> Option<()> {
    (kept.len() + bytes.len() <= MAX_KEPT).then(|| kept.extend_from_slice(bytes))
}

/// The position of [`scan`] in a body's chunks.
struct Cursor<'a> {
    body: &'a ImportBody,
    chunk: usize,
    pos: usize,
}

impl Cursor<'_> {
    /// What is left of the current chunk, moving on to the next when it is used up.
    fn rest(&mut self) -> Option<&[u8]> {
        loop {
            let c = (**self.body.chunks.get(self.chunk)?).as_ref();
            if self.pos < c.len() {
                return Some(&c[self.pos..]);
            }
            self.chunk += 1;
            self.pos = 0;
        }
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.rest()?.first()?;
        self.pos += 1;
        Some(b)
    }

    /// The next byte that is not JSON whitespace.
    fn token(&mut self) -> Option<u8> {
        loop {
            match self.byte()? {
                b' ' | b'\t' | b'\n' | b'\r' => {}
                b => return Some(b),
            }
        }
    }

    /// Reads the rest of a key whose opening quote was read into `key`; `None` if it has an
    /// escape (not a plain key).
    fn key(&mut self, key: &mut Vec<u8>) -> Option<()> {
        loop {
            let rest = self.rest()?;
            match memchr::memchr2(b'"', b'\\', rest) {
                None => {
                    keep(key, rest)?;
                    self.pos += rest.len();
                }
                Some(at) if rest[at] == b'"' => {
                    keep(key, &rest[..at])?;
                    self.pos += at + 1;
                    return Some(());
                }
                Some(_) => return None,
            }
        }
    }

    /// Skips the rest of a string whose opening quote was read, its bytes added to `raw`.
    fn string(&mut self, raw: &mut Option<&mut Vec<u8>>) -> Option<()> {
        loop {
            let rest = self.rest()?;
            let Some(at) = memchr::memchr2(b'"', b'\\', rest) else {
                if let Some(r) = raw {
                    keep(r, rest)?;
                }
                self.pos += rest.len();
                continue;
            };
            let quote = rest[at] == b'"';
            if let Some(r) = raw {
                keep(r, &rest[..=at])?;
            }
            self.pos += at + 1;
            if quote {
                return Some(());
            }
            // The escaped byte (an escaped quote does not end the string).
            let b = self.byte()?;
            if let Some(r) = raw {
                keep(r, &[b])?;
            }
        }
    }

    /// Skips the rest of a value whose first byte `first` was read, its bytes added to `raw`:
    /// a string to its closing quote, an object or array to its closing bracket, anything
    /// else up to the next comma, bracket or whitespace.
    fn value(&mut self, first: u8, mut raw: Option<&mut Vec<u8>>) -> Option<()> {
        match first {
            b'"' => self.string(&mut raw),
            b'{' | b'[' => {
                let mut depth = 1usize;
                while depth > 0 {
                    let b = self.byte()?;
                    if let Some(r) = raw.as_deref_mut() {
                        keep(r, &[b])?;
                    }
                    match b {
                        b'"' => self.string(&mut raw)?,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => depth -= 1,
                        _ => {}
                    }
                }
                Some(())
            }
            _ => loop {
                match *self.rest()?.first()? {
                    b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r' => return Some(()),
                    b => {
                        if let Some(r) = raw.as_deref_mut() {
                            keep(r, &[b])?;
                        }
                        self.pos += 1;
                    }
                }
            },
        }
    }

    /// Counts the elements of the array whose first byte `first` was read, skipping each;
    /// `None` if it is not an array or an element is missing before a comma or the end.
    fn count_array(&mut self, first: u8) -> Option<usize> {
        if first != b'[' {
            return None;
        }
        let mut n = 0;
        let mut t = self.token()?;
        if t == b']' {
            return Some(0);
        }
        loop {
            if matches!(t, b',' | b']' | b'}' | b':') {
                return None;
            }
            self.value(t, None)?;
            n += 1;
            match self.token()? {
                b',' => t = self.token()?,
                b']' => return Some(n),
                _ => return None,
            }
        }
    }

    /// Whether only whitespace is left.
    fn rest_is_blank(&mut self) -> bool {
        self.token().is_none()
    }
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
    fn malformed_json_is_an_error_of_one_pass_or_the_other() {
        // The structure is wrong: the first pass refuses it.
        for text in [
            r#"{"users": {}}"#,
            r#"{"users": []} x"#,
            r#"{"users": [{"email": "a"},]}"#,
            r#"{"users": [{"email": "a"}"#,
            r#"{"users": [{]}"#,
        ] {
            assert!(flags(&chunked(text, 4)).is_err(), "{text}");
        }
        // Well bracketed but not JSON inside a user: counted, then refused by the second pass.
        let text = r#"{"users": [{"email": }]}"#;
        assert_eq!(flags(&chunked(text, 4)).unwrap().users, 1);
        assert!(users(chunked(text, 4), &mut |_, _| {}).is_err());
    }

    /// Requests the scan reads, with strings that hold quotes, escapes and brackets, nested
    /// values, flags before and after the users, and unknown fields.
    const PLAIN: &[&str] = &[
        r#"{"users": []}"#,
        r#"{}"#,
        r#" { "users" : [ { "email" : "a@x.io" } ] , "upsert" : true } "#,
        r#"{"upsert":false,"factor":null,"users":[{"a":"]}\"[{"},{"b":[1,[2,{"c":"\\"}]]},3,"x",null]}"#,
        r#"{"encryptionScheme": "salted-sha256", "factor": 5000, "validateDbConstraints": true,
            "other": {"deep": [{"x": "}\u0022"}]}, "users": [{"email": "a\"b@x.io"}, {}]}"#,
        r#"{"users": [{}], "users": [{}, {}], "extra": -1.5e3, "more": "\\"}"#,
    ];

    #[test]
    fn the_scan_reads_what_the_parser_reads() {
        for text in PLAIN {
            for size in [1, 2, 3, 7, 64, 4096] {
                let body = chunked(text, size);
                let parsed = flags_parsed(&body).unwrap();
                assert_eq!(scan(&body), Some(parsed), "{text} in chunks of {size}");
            }
        }
    }

    #[test]
    fn on_any_text_the_scan_agrees_with_the_parser_whenever_both_read_it() {
        // The plain requests with bytes cut out or swapped for JSON's punctuation.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..20_000 {
            let mut text = PLAIN[next(PLAIN.len())].as_bytes().to_vec();
            for _ in 0..1 + next(3) {
                let at = next(text.len().max(1)).min(text.len().saturating_sub(1));
                if text.is_empty() {
                    break;
                }
                match next(2) {
                    0 => {
                        text.remove(at);
                    }
                    _ => text[at] = b"{}[]\",:\\ 0tn"[next(11)],
                }
            }
            let body = chunked(&String::from_utf8_lossy(&text), 1 + next(8));
            if let (Some(scanned), Ok(parsed)) = (scan(&body), flags_parsed(&body)) {
                assert_eq!(scanned, parsed, "{}", String::from_utf8_lossy(&text));
            }
        }
    }

    #[test]
    fn what_the_scan_cannot_read_plainly_goes_to_the_parser() {
        for text in [
            // An escaped key, a flag of the wrong type, trailing text, no object.
            r#"{"ups\u0065rt": true, "users": [{}]}"#,
            r#"{"upsert": "yes", "users": [{}]}"#,
            r#"{"factor": 1.5, "users": [{}]}"#,
            r#"{"users": [{}]} {}"#,
            r#"[{"users": []}]"#,
            r#"{"users": [{}] "upsert": true}"#,
        ]
        .into_iter()
        .map(String::from)
        // A key or a flag's value longer than the scan keeps.
        .chain([
            format!(r#"{{"{}": 1, "users": [{{}}]}}"#, "k".repeat(MAX_KEPT + 1)),
            format!(
                r#"{{"encryptionScheme": "{}", "users": [{{}}]}}"#,
                "s".repeat(MAX_KEPT)
            ),
        ]) {
            let text = text.as_str();
            let body = chunked(text, 3);
            assert_eq!(scan(&body), None, "{text}");
            assert_eq!(
                flags(&body).map_err(|e| e.to_string()),
                flags_parsed(&body).map_err(|e| e.to_string()),
                "{text}"
            );
        }
    }
}
