//! Operators' drains: which pools and origins are taken out of service by hand, kept in a small
//! state file under `--state-dir` so that they survive restarts.
//!
//! The file (`drains.json`) holds the latest decision for every pool or origin an operator
//! has ever drained — drained *or enabled again* — with when and by whom it was made:
//!
//! ```json
//! {
//!   "format": "geosteer-drains",
//!   "version": 1,
//!   "drains": [
//!     { "zone": "example.com.", "pool": "us-east", "origin": "127.0.1.1",
//!       "drained": true, "at_ms": 1764600000000, "by": "ns1" },
//!     { "zone": "example.com.", "pool": "eu-central",
//!       "drained": false, "at_ms": 1764600300000, "by": "ns2" }
//!   ]
//! }
//! ```
//!
//! `origin` is the origin's probe address (absent: the whole pool). Keeping the enables
//! (`drained: false`) and the times makes the set a last-writer-wins map: [`Drains::merge`]
//! takes an entry only when it is newer than the one held (ties broken by `by`), so
//! instances that exchange their entries in any order agree on the result. The file is
//! written to a temporary name, flushed and renamed over the old one, so a crash leaves the
//! old file or the new one, never a mix.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The state file's name under `--state-dir`.
pub const FILE_NAME: &str = "drains.json";

const FORMAT: &str = "geosteer-drains";
const VERSION: u32 = 1;

/// What a drain applies to: a pool, or one origin of it (by probe address).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Key {
    /// The zone whose configuration defines the pool, as a full name (`example.com.`).
    pub zone: String,
    /// The pool.
    pub pool: String,
    /// The origin's probe address; `None` for the whole pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// The latest decision about a [`Key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The pool or origin.
    #[serde(flatten)]
    pub key: Key,
    /// Drained (true) or in service again (false).
    pub drained: bool,
    /// When it was decided, in Unix milliseconds.
    pub at_ms: u64,
    /// Which instance it was decided on (`--instance`).
    pub by: String,
}

impl Entry {
    /// Whether `self` wins over `other` (same key): later, or as late and a greater `by`.
    fn newer_than(&self, other: &Entry) -> bool {
        (self.at_ms, &self.by) > (other.at_ms, &other.by)
    }
}

#[derive(Serialize, Deserialize)]
struct FileV1 {
    format: String,
    version: u32,
    drains: Vec<Entry>,
}

/// Every drain decision, and where they are kept (if anywhere).
#[derive(Debug, Default)]
pub struct Drains {
    entries: BTreeMap<Key, Entry>,
    path: Option<PathBuf>,
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Drains {
    /// Drains kept in memory only (no `--state-dir`): they last until the process ends.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// Reads `dir/drains.json` (none yet: no drains), creating `dir` if needed. A file that
    /// cannot be read or parsed is an error: starting without an operator's drains would put
    /// drained origins back into service.
    pub fn open(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("{}: cannot create the state directory: {e}", dir.display()))?;
        let path = dir.join(FILE_NAME);
        let entries = match std::fs::read_to_string(&path) {
            Ok(text) => parse(&text).map_err(|e| format!("{}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
        };
        let mut d = Self {
            entries: BTreeMap::new(),
            path: Some(path),
        };
        for e in entries {
            d.merge(e);
        }
        Ok(d)
    }

    /// Where the drains are kept, if anywhere.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Every entry, drained or not, in key order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// The keys drained now.
    pub fn drained(&self) -> impl Iterator<Item = &Key> {
        self.entries.values().filter(|e| e.drained).map(|e| &e.key)
    }

    /// The entry of `key`, if any decision was ever made about it.
    pub fn get(&self, key: &Key) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// Takes `entry` if it is newer than the one held for its key (last writer wins). Returns
    /// whether it was taken. A peer's entries are applied with this, in any order.
    pub fn merge(&mut self, entry: Entry) -> bool {
        match self.entries.get(&entry.key) {
            Some(held) if !entry.newer_than(held) => false,
            _ => {
                self.entries.insert(entry.key.clone(), entry);
                true
            }
        }
    }

    /// Records an operator's decision made here, now: a copy of the drains with it, to be
    /// [saved](Drains::save) before it replaces these.
    pub fn with(&self, key: Key, drained: bool, by: &str) -> Self {
        let at_ms = match self.entries.get(&key) {
            // Never behind an entry already held (a clock stepped back must not lose it).
            Some(held) => now_ms().max(held.at_ms + 1),
            None => now_ms(),
        };
        let mut next = Self {
            entries: self.entries.clone(),
            path: self.path.clone(),
        };
        next.merge(Entry {
            key,
            drained,
            at_ms,
            by: by.to_string(),
        });
        next
    }

    /// The file's text.
    pub fn to_json(&self) -> String {
        let file = FileV1 {
            format: FORMAT.into(),
            version: VERSION,
            drains: self.entries.values().cloned().collect(),
        };
        let mut s = serde_json::to_string_pretty(&file).expect("plain data serialises");
        s.push('\n');
        s
    }

    /// Writes the file atomically (see [`write_atomically`]). Does nothing without a state
    /// directory.
    pub fn save(&self) -> std::io::Result<()> {
        match &self.path {
            Some(path) => write_atomically(path, &self.to_json()),
            None => Ok(()),
        }
    }

    /// The same drains, kept at `path`.
    pub fn at(self, path: Option<&Path>) -> Self {
        Self {
            entries: self.entries,
            path: path.map(PathBuf::from),
        }
    }
}

/// Writes `text` to `path` so that a crash leaves the old file or the new one: a temporary
/// file beside it, flushed to disk, renamed over it, and the directory flushed.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or("state".into(), |n| n.to_string_lossy());
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// The entries of a state file's text.
pub fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let file: FileV1 = serde_json::from_str(text).map_err(|e| format!("line {}: {e}", e.line()))?;
    if file.format != FORMAT {
        return Err(format!("not a drains file (format {:?})", file.format));
    }
    if file.version != VERSION {
        return Err(format!(
            "version {} is not one this geosteer reads ({VERSION})",
            file.version
        ));
    }
    Ok(file.drains)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pool: &str, origin: Option<&str>) -> Key {
        Key {
            zone: "example.com.".into(),
            pool: pool.into(),
            origin: origin.map(String::from),
        }
    }

    fn entry(pool: &str, drained: bool, at_ms: u64, by: &str) -> Entry {
        Entry {
            key: key(pool, Some("127.0.1.1")),
            drained,
            at_ms,
            by: by.into(),
        }
    }

    #[test]
    fn the_latest_decision_wins_in_any_order() {
        let decisions = [
            entry("p", true, 10, "ns1"),
            entry("p", false, 20, "ns2"),
            entry("p", true, 20, "ns1"),
            entry("q", true, 5, "ns3"),
        ];
        // Every order of arrival ends in the same state.
        let orders = [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1]];
        let mut results = Vec::new();
        for order in orders {
            let mut d = Drains::in_memory();
            for i in order {
                d.merge(decisions[i].clone());
            }
            results.push(d.entries().cloned().collect::<Vec<_>>());
        }
        assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
        // At the same time, "ns2" > "ns1": enabled.
        let d = &results[0];
        assert_eq!(d.len(), 2);
        assert!(!d.iter().find(|e| e.key.pool == "p").unwrap().drained);
    }

    #[test]
    fn a_local_decision_is_never_older_than_the_one_it_replaces() {
        let mut d = Drains::in_memory();
        d.merge(entry("p", true, u64::MAX / 2, "peer"));
        let d = d.with(key("p", Some("127.0.1.1")), false, "me");
        let e = d.get(&key("p", Some("127.0.1.1"))).unwrap();
        assert!(!e.drained && e.by == "me" && e.at_ms > u64::MAX / 2);
        assert_eq!(d.drained().count(), 0);
    }

    #[test]
    fn the_file_survives_a_round_trip_and_bad_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = Drains::open(dir.path()).unwrap();
        assert_eq!(d.entries().count(), 0);
        let d = d
            .with(key("p", Some("127.0.1.1")), true, "ns1")
            .with(key("q", None), true, "ns1");
        d.save().unwrap();
        let again = Drains::open(dir.path()).unwrap();
        assert_eq!(
            again.entries().collect::<Vec<_>>(),
            d.entries().collect::<Vec<_>>()
        );
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(text.contains("\"format\": \"geosteer-drains\""), "{text}");
        // Nothing but the file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [FILE_NAME]);

        std::fs::write(
            dir.path().join(FILE_NAME),
            "{\"format\": \"geosteer-drains\",\n",
        )
        .unwrap();
        let err = Drains::open(dir.path()).unwrap_err();
        assert!(err.contains("drains.json: line 2"), "{err}");
        std::fs::write(
            dir.path().join(FILE_NAME),
            r#"{"format":"geosteer-drains","version":9,"drains":[]}"#,
        )
        .unwrap();
        assert!(Drains::open(dir.path()).unwrap_err().contains("version 9"));
    }
}
