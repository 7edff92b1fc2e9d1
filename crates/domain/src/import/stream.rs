//! An import request's JSON read as a stream: a first pass reads the request's flags and counts
//! its users without keeping them (from the text's structure, the parser only when that is not
//! plain); a second parses each user and hands it to the import at once, freeing the body's
//! chunks behind it (walking the same structure and parsing each user from memory, or the
//! parser over the whole stream when the first pass needed it). The body and the users built
//! from it are then never both whole in memory.

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
    /// Whether [`scan`] read the request: its second pass can then find each user by its
    /// brackets ([`walk`]).
    pub plain: bool,
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
        Some(f) => Ok(Flags { plain: true, ..f }),
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

/// A position in a body's chunks: [`scan`]'s, which only reads the body, and [`walk`]'s, which
/// frees the chunks it has left.
struct Cursor<B> {
    body: B,
    chunk: usize,
    pos: usize,
}

impl<B: std::ops::Deref<Target = ImportBody>> Cursor<B> {
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
/// parsed; the body's chunks are freed as the parse leaves them. A request the first pass
/// scanned (`plain`) is walked ([`walk`]), any other read by the parser as a stream.
pub(super) fn users(
    body: ImportBody,
    plain: bool,
    each: &mut dyn FnMut(usize, ImportUser),
) -> serde_json::Result<()> {
    if plain {
        walk(body, each)
    } else {
        users_streamed(body, each)
    }
}

/// The second pass by the parser alone, reading the body as a stream.
fn users_streamed(
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

/// The second pass over a request [`scan`] read: the structure is walked as the scan walked
/// it, and each user's text, found by its brackets, is parsed from memory — from its chunk when
/// it lies in one, else from a copy — which the parser does several times faster than from a
/// stream. Chunks the walk has left are freed.
fn walk(mut body: ImportBody, each: &mut dyn FnMut(usize, ImportUser)) -> serde_json::Result<()> {
    let hook = body.freed;
    let mut w = Walk {
        c: Cursor {
            body: &mut body,
            chunk: 0,
            pos: 0,
        },
        freed: 0,
        at: Lines::default(),
        since_hook: 0,
        hook,
    };
    w.request(each).unwrap_or_else(|| {
        Err(de::Error::custom(
            "the request's structure is not as scanned",
        ))
    })
}

/// [`walk`]'s state: its cursor, how many chunks it has freed, where they end in the body's
/// text (to place an error), and the bytes freed since the body's hook was last called.
struct Walk<'a> {
    c: Cursor<&'a mut ImportBody>,
    freed: usize,
    at: Lines,
    since_hook: usize,
    hook: Option<fn()>,
}

/// A place in a body's text as the parser counts it: the bytes before it, the line breaks
/// among them, and the offset at which the last line starts.
#[derive(Default, Clone)]
struct Lines {
    offset: usize,
    lines: usize,
    line_start: usize,
}

impl Lines {
    /// Moves past `bytes`, the next of the body.
    fn pass(&mut self, bytes: &[u8]) {
        self.lines += memchr::memchr_iter(b'\n', bytes).count();
        if let Some(at) = memchr::memrchr(b'\n', bytes) {
            self.line_start = self.offset + at + 1;
        }
        self.offset += bytes.len();
    }
}

impl Walk<'_> {
    /// The request object. `None` where its structure is not what [`scan`] accepted.
    fn request(
        &mut self,
        each: &mut dyn FnMut(usize, ImportUser),
    ) -> Option<serde_json::Result<()>> {
        let mut key = Vec::new();
        if self.c.token()? != b'{' {
            return None;
        }
        match self.c.token()? {
            b'}' => return Some(Ok(())),
            b'"' => {}
            _ => return None,
        }
        loop {
            // The scan read keys and values only as far as their quotes and brackets: the
            // parser reads the text of each key and of each value but the users, keeping
            // nothing, so that the walk refuses what the parser refuses.
            let start = (self.c.chunk, self.c.pos - 1);
            key.clear();
            self.c.key(&mut key)?;
            if let Err(e) = self.check(start) {
                return Some(Err(e));
            }
            if self.c.token()? != b':' {
                return None;
            }
            let first = self.c.token()?;
            if key == b"users" {
                if let Err(e) = self.users(first, each)? {
                    return Some(Err(e));
                }
            } else {
                let start = (self.c.chunk, self.c.pos - 1);
                self.c.value(first, None)?;
                if let Err(e) = self.check(start) {
                    return Some(Err(e));
                }
            }
            match self.c.token()? {
                b',' => {
                    if self.c.token()? != b'"' {
                        return None;
                    }
                }
                b'}' => return Some(Ok(())),
                _ => return None,
            }
        }
    }

    /// The users array whose first byte `first` was read: each user parsed and handed on.
    fn users(
        &mut self,
        first: u8,
        each: &mut dyn FnMut(usize, ImportUser),
    ) -> Option<serde_json::Result<()>> {
        if first != b'[' {
            return None;
        }
        let mut t = self.c.token()?;
        if t == b']' {
            return Some(Ok(()));
        }
        let mut copy = Vec::new();
        let mut i = 0;
        loop {
            // The token was read from this chunk, just before `pos`.
            let start = (self.c.chunk, self.c.pos - 1);
            self.c.value(t, None)?;
            let end = (self.c.chunk, self.c.pos);
            let text = self.text(start, end, &mut copy);
            match serde_json::from_slice::<ImportUser>(text) {
                Ok(u) => each(i, u),
                Err(e) => return Some(Err(self.placed::<ImportUser>(e, start, text))),
            }
            i += 1;
            self.free_before(end.0);
            match self.c.token()? {
                b',' => t = self.c.token()?,
                b']' => return Some(Ok(())),
                _ => return None,
            }
        }
    }

    /// The text from `start` to `end` (chunk, position): a slice of its chunk, or copied into
    /// `copy` when it spans chunks.
    fn text<'t>(
        &'t self,
        start: (usize, usize),
        end: (usize, usize),
        copy: &'t mut Vec<u8>,
    ) -> &'t [u8] {
        let chunk = |k: usize| (**self.c.body.chunks.get(k).expect("walked")).as_ref();
        if start.0 == end.0 {
            return &chunk(start.0)[start.1..end.1];
        }
        copy.clear();
        copy.extend_from_slice(&chunk(start.0)[start.1..]);
        for k in start.0 + 1..end.0 {
            copy.extend_from_slice(chunk(k));
        }
        copy.extend_from_slice(&chunk(end.0)[..end.1]);
        copy
    }

    /// Frees the chunks before `chunk`, counting their bytes and lines.
    fn free_before(&mut self, chunk: usize) {
        while self.freed < chunk {
            let gone = std::mem::replace(
                &mut self.c.body.chunks[self.freed],
                Box::new(&[] as &'static [u8]),
            );
            let bytes = (*gone).as_ref();
            self.at.pass(bytes);
            self.freed += 1;
            self.since_hook += bytes.len();
            if self.since_hook >= FREED_STEP {
                self.since_hook = 0;
                if let Some(hook) = self.hook {
                    hook();
                }
            }
        }
    }

    /// Has the parser read the JSON text from `start` to the cursor, keeping nothing: straight
    /// from the body's chunks, as a key's or an unknown field's value may span many.
    fn check(&self, start: (usize, usize)) -> serde_json::Result<()> {
        let span = || Span {
            body: &*self.c.body,
            at: start,
            end: (self.c.chunk, self.c.pos),
        };
        let mut de = serde_json::Deserializer::from_reader(span());
        <IgnoredAny as de::Deserialize>::deserialize(&mut de)
            .and_then(|_| de.end())
            .map_err(|e| self.placed::<IgnoredAny>(e, start, span()))
    }

    /// The parser's error `e` for the `text` of a `T` that starts at `start`, placed at its
    /// line and column in the whole body: the text is parsed again after as many line breaks
    /// and spaces as come before it, so the parser counts them itself. Only a failing import
    /// pays this.
    fn placed<T: de::DeserializeOwned>(
        &self,
        e: serde_json::Error,
        start: (usize, usize),
        text: impl Read,
    ) -> serde_json::Error {
        let chunk = |k: usize| (**self.c.body.chunks.get(k).expect("walked")).as_ref();
        let mut at = self.at.clone();
        for k in self.freed..start.0 {
            at.pass(chunk(k));
        }
        at.pass(&chunk(start.0)[..start.1]);
        // The byte after the text, where the parser meets a number cut short.
        let next = self.c.body.chunks.get(self.c.chunk).and_then(|c| {
            let c = (**c).as_ref();
            c.get(self.c.pos..=self.c.pos)
        });
        let padded = io::repeat(b'\n')
            .take(at.lines as u64)
            .chain(io::repeat(b' ').take((at.offset - at.line_start) as u64))
            .chain(text)
            .chain(next.unwrap_or_default());
        let mut de = serde_json::Deserializer::from_reader(io::BufReader::new(padded));
        match T::deserialize(&mut de).and_then(|_| de.end()) {
            Err(placed) => placed,
            Ok(()) => e,
        }
    }
}

/// The text of a body from `at` to `end` (chunk, position), read where it lies.
struct Span<'a> {
    body: &'a ImportBody,
    at: (usize, usize),
    end: (usize, usize),
}

impl BufRead for Span<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.at < self.end {
            let c = (**self.body.chunks.get(self.at.0).expect("walked")).as_ref();
            let to = if self.at.0 == self.end.0 {
                self.end.1
            } else {
                c.len()
            };
            if self.at.1 < to {
                return Ok(&c[self.at.1..to]);
            }
            self.at = (self.at.0 + 1, 0);
        }
        Ok(&[])
    }
    fn consume(&mut self, n: usize) {
        self.at.1 += n;
    }
}

read_from_buf!(Span<'_>);

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
        users(chunked(text, 5), false, &mut |i, u| {
            seen.push((i, u.user.email))
        })
        .unwrap();
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
        assert!(users(chunked(text, 4), false, &mut |_, _| {}).is_err());
        assert!(users(chunked(text, 4), true, &mut |_, _| {}).is_err());
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

    /// A reproducible stream of numbers below the `n` each call is given (xorshift).
    fn below(mut seed: u64) -> impl FnMut(usize) -> usize {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        }
    }

    #[test]
    fn on_any_text_the_scan_agrees_with_the_parser_whenever_both_read_it() {
        // The plain requests with bytes cut out or swapped for JSON's punctuation.
        let mut next = below(0x9e37_79b9_7f4a_7c15);
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

    /// Requests with users the parser refuses somewhere inside, past line breaks, and users it
    /// reads with escapes, nesting and the fields beside a user's own.
    const USERS: &[&str] = &[
        "{\n  \"users\": [\n    {\"email\": \"a@x.io\"},\n    {\"email\": 42},\n    {}\n  ]\n}",
        "{\"users\": [{\"email\": \"a@x.io\", \"factor\": \"x\"}, {\"email\": }]}",
        "{\"users\": [{\"email\": \"a@x.io\"},\n{\"email\": \"b@x.io\", \"email\": \"c@x.io\"}]}",
        "{\"users\": [{\"email\": \"a@x.io\", \"salt\": \"s\",\n \"salt\": \"t\"}]}",
        "{\"users\": [{\"data\": {\"k\": \"v\\n\\\"}\"}, \"email\": \"a@x.io\",\n \"encryptionScheme\": \"bcrypt\", \"factor\": 10, \"salt\": \"s\"}], \"upsert\": true}",
        "{\"users\": [{\"email\": \"a@x.io\"}, {\"email\": \"b@x.io\", \"data\": [1,]}]}",
        "{\"users\": [1, {\"email\": \"a@x.io\"}]}",
        "{\n\"users\": [\n{\"email\": \"a@x.io\"},\n  {\"email\" 1}\n]}",
    ];

    /// What `users` hands over from `text` in chunks of `size` — each user's index, email,
    /// hash fields and given keys — or its error's text.
    fn handed(text: &str, size: usize, plain: bool) -> Result<Vec<String>, String> {
        let mut seen = Vec::new();
        users(chunked(text, size), plain, &mut |i, u| {
            seen.push(format!(
                "{i} {:?} {:?} {:?} {:?} {:?}",
                u.user.email, u.encryption_scheme, u.factor, u.salt, u.given
            ))
        })
        .map_err(|e| {
            format!(
                "{:?} at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            )
        })?;
        Ok(seen)
    }

    #[test]
    fn the_walk_hands_over_what_the_parser_does_and_places_its_errors_alike() {
        for text in PLAIN.iter().chain(USERS) {
            for size in [1, 2, 3, 7, 64, 4096] {
                assert!(flags(&chunked(text, size)).unwrap().plain, "{text}");
                let walked = handed(text, size, true);
                assert_eq!(
                    walked,
                    handed(text, size, false),
                    "{text} in chunks of {size}"
                );
            }
        }
        // The cases above do reach both ends.
        assert!(handed(USERS[4], 7, true).unwrap()[0].contains("Some(\"bcrypt\") Some(10)"));
        assert_eq!(
            handed(USERS[7], 7, true).unwrap_err(),
            "Syntax at line 4 column 12"
        );
        let mut none = |_, _| {};
        let e = users(chunked(USERS[7], 7), true, &mut none).unwrap_err();
        assert_eq!(e.to_string(), "expected `:` at line 4 column 12");
    }

    #[test]
    fn on_any_text_the_scan_reads_the_walk_agrees_with_the_parser() {
        // The requests above with bytes cut out or swapped for JSON's punctuation.
        let mut next = below(0x2545_f491_4f6c_dd1d);
        let seeds: Vec<&str> = PLAIN.iter().chain(USERS).copied().collect();
        let mut walked = 0;
        for _ in 0..20_000 {
            let mut text = seeds[next(seeds.len())].as_bytes().to_vec();
            for _ in 0..1 + next(3) {
                if text.is_empty() {
                    break;
                }
                let at = next(text.len());
                match next(2) {
                    0 => {
                        text.remove(at);
                    }
                    _ => text[at] = b"{}[]\",:\\ 0tn\n"[next(12)],
                }
            }
            let text = String::from_utf8_lossy(&text);
            let size = 1 + next(8);
            if flags(&chunked(&text, size)).is_ok_and(|f| f.plain) {
                walked += 1;
                assert_eq!(
                    handed(&text, size, true),
                    handed(&text, size, false),
                    "{text} in chunks of {size}"
                );
            }
        }
        assert!(walked > 1_000, "{walked} texts walked");
    }

    static FREED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    #[test]
    fn the_walk_frees_the_body_behind_it() {
        let big = "x".repeat(1 << 20);
        let each: Vec<String> = (0..20)
            .map(|i| format!(r#"{{"email": "u{i}@x.io", "data": {{"k": "{big}"}}}}"#))
            .collect();
        let text = format!(r#"{{"users": [{}]}}"#, each.join(","));
        let mut body = chunked(&text, 1 << 16);
        body.on_freed(|| {
            FREED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        let mut n = 0;
        // By the 12th user, more than 8 MiB of the body lies behind the walk.
        users(body, true, &mut |i, _| {
            n += 1;
            if i == 11 {
                assert!(FREED.load(std::sync::atomic::Ordering::Relaxed) >= 1);
            }
        })
        .unwrap();
        assert_eq!(n, 20);
        assert!(FREED.load(std::sync::atomic::Ordering::Relaxed) >= 2);
    }
}
