//! De-duplication of emails (case-insensitive) and usernames, as the import refuses two users of
//! one tenant with the same. `keep-first` decides as rows stream by; the other policies
//! (`keep-newest`, `keep-last-login`, `drop-all`) need every row's keys first, so they take a
//! first pass that records, per key, its best row and how many rows share it (a 64-bit hash of
//! the key, a row number and an order value: a few dozen bytes per user, never the rows).
//! Each dropped user is a line of the CSV report a person can act on.

use crate::mapping::{DedupPolicy, Mapped};
use crate::Error;
use serde_json::Value;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write;

/// A key's holder: which row keeps it, by what order value, and how many rows share it.
#[derive(Debug, Clone)]
struct Holder {
    row: u64,
    order: i64,
    count: u32,
    original_id: Option<Box<str>>,
}

/// The keys of one user: `("email", lower-cased email)`, `("username", lower-cased username)`.
pub fn keys(m: &Mapped) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(2);
    for (kind, field) in [("email", "email"), ("username", "username")] {
        if let Some(Value::String(s)) = m.user.get(field) {
            let k = s.trim().to_lowercase();
            if !k.is_empty() {
                out.push((kind, k));
            }
        }
    }
    out
}

fn key_hash(kind: &str, key: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    kind.hash(&mut h);
    key.hash(&mut h);
    h.finish()
}

/// What happens to one user.
pub enum Verdict {
    Keep,
    /// Dropped: the report lines are already written.
    Drop,
}

pub struct Dedup {
    policy: DedupPolicy,
    holders: HashMap<u64, Holder>,
    report: Option<csv::Writer<Box<dyn Write + Send>>>,
    pub dropped: u64,
    /// Pass one of a two-pass policy is done: `holders` is final.
    settled: bool,
}

pub const REPORT_HEADER: [&str; 8] = [
    "key",
    "value",
    "row",
    "original_user_id",
    "action",
    "kept_row",
    "kept_original_user_id",
    "policy",
];

impl Dedup {
    pub fn new(policy: DedupPolicy, report: Option<Box<dyn Write + Send>>) -> Result<Dedup, Error> {
        let mut report = report.map(csv::Writer::from_writer);
        if let Some(w) = &mut report {
            w.write_record(REPORT_HEADER).map_err(io)?;
        }
        Ok(Dedup {
            policy,
            holders: HashMap::new(),
            report,
            dropped: 0,
            settled: policy == DedupPolicy::KeepFirst,
        })
    }

    pub fn two_pass(&self) -> bool {
        self.policy != DedupPolicy::KeepFirst
    }

    /// Pass one of a two-pass policy: records the user's keys with its order value.
    pub fn observe(&mut self, m: &Mapped, order: Option<i64>) {
        let order = order.unwrap_or(i64::MIN);
        for (kind, key) in keys(m) {
            let h = key_hash(kind, &key);
            match self.holders.get_mut(&h) {
                None => {
                    self.holders.insert(
                        h,
                        Holder {
                            row: m.row,
                            order,
                            count: 1,
                            original_id: m.original_id.as_deref().map(Into::into),
                        },
                    );
                }
                Some(holder) => {
                    holder.count += 1;
                    // Strictly later wins, so among equals the first row keeps the key.
                    if order > holder.order {
                        holder.row = m.row;
                        holder.order = order;
                        holder.original_id = m.original_id.as_deref().map(Into::into);
                    }
                }
            }
        }
    }

    pub fn settle(&mut self) {
        self.settled = true;
    }

    /// Decides a user (keep-first as rows come; the others from pass one's holders) and writes
    /// the report lines of a dropped one.
    pub fn decide(&mut self, m: &Mapped) -> Result<Verdict, Error> {
        debug_assert!(self.settled);
        let keys = keys(m);
        let mut lost: Vec<(&'static str, String, Holder)> = Vec::new();
        if self.policy == DedupPolicy::KeepFirst {
            for (kind, key) in &keys {
                if let Some(h) = self.holders.get(&key_hash(kind, key)) {
                    lost.push((kind, key.clone(), h.clone()));
                }
            }
            if lost.is_empty() {
                for (kind, key) in &keys {
                    self.holders.insert(
                        key_hash(kind, key),
                        Holder {
                            row: m.row,
                            order: 0,
                            count: 1,
                            original_id: m.original_id.as_deref().map(Into::into),
                        },
                    );
                }
            }
        } else {
            for (kind, key) in &keys {
                if let Some(h) = self.holders.get(&key_hash(kind, key)) {
                    let dropped = match self.policy {
                        DedupPolicy::DropAll => h.count > 1,
                        _ => h.row != m.row,
                    };
                    if dropped {
                        lost.push((kind, key.clone(), h.clone()));
                    }
                }
            }
        }
        if lost.is_empty() {
            return Ok(Verdict::Keep);
        }
        self.dropped += 1;
        let policy = match self.policy {
            DedupPolicy::KeepFirst => "keep-first",
            DedupPolicy::KeepNewest => "keep-newest",
            DedupPolicy::KeepLastLogin => "keep-last-login",
            DedupPolicy::DropAll => "drop-all",
        };
        if let Some(w) = &mut self.report {
            for (kind, key, h) in lost {
                let kept_by_other = self.policy != DedupPolicy::DropAll && h.row != m.row;
                let row = m.row.to_string();
                let kept_row = if kept_by_other {
                    h.row.to_string()
                } else {
                    String::new()
                };
                w.write_record([
                    kind,
                    key.as_str(),
                    row.as_str(),
                    m.original_id.as_deref().unwrap_or(""),
                    "dropped",
                    kept_row.as_str(),
                    if kept_by_other {
                        h.original_id.as_deref().unwrap_or("")
                    } else {
                        ""
                    },
                    policy,
                ])
                .map_err(io)?;
            }
        }
        Ok(Verdict::Drop)
    }

    pub fn finish(&mut self) -> Result<(), Error> {
        if let Some(w) = &mut self.report {
            w.flush().map_err(|e| Error::Io(e.to_string()))?;
        }
        Ok(())
    }
}

fn io(e: csv::Error) -> Error {
    Error::Io(format!("the de-duplication report: {e}"))
}
