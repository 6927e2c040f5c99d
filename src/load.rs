//! Loading `zones/` into an immutable [`Snapshot`]: everything the query path reads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hickory_proto::rr::Name;

use crate::error::{ConfigError, ConfigErrors};
use crate::zone::{Zone, Zones, master};

/// What one load produced. Queries read a snapshot through an `ArcSwap`, so a reload builds a
/// whole new one beside the old and swaps it in only when it is complete and valid.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub zones: Zones,
}

impl Snapshot {
    pub fn record_count(&self) -> usize {
        self.zones.iter().map(|z| z.record_count).sum()
    }

    /// One line for logs and `geosteer check`.
    pub fn summary(&self) -> String {
        let mut names: Vec<String> = self.zones.iter().map(|z| z.origin.to_string()).collect();
        names.sort();
        format!(
            "{} zone{} ({}), {} records",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            self.record_count()
        )
    }
}

/// Loads every `<origin>.zone` in `dir`. All errors found are returned together.
pub fn load(dir: &Path) -> Result<Snapshot, ConfigErrors> {
    let mut errors = Vec::new();
    let mut zones = Zones::default();
    let files = match zone_files(dir) {
        Ok(f) => f,
        Err(e) => return Err(ConfigErrors(vec![e])),
    };
    if files.is_empty() {
        return Err(ConfigErrors(vec![ConfigError::file(
            dir,
            "no zone files (<origin>.zone) in this directory",
        )]));
    }
    // Names are case-insensitive, and `example.com.zone` and `example.com..zone` both name
    // example.com.: two files for one zone would otherwise leave one silently unserved.
    let mut seen: HashMap<Name, PathBuf> = HashMap::new();
    for (path, origin) in files {
        let origin = match origin {
            Ok(o) => o,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if let Some(first) = seen.get(&origin.to_lowercase()) {
            errors.push(ConfigError::file(
                &path,
                format!("zone {origin} is already defined by {}", first.display()),
            ));
            continue;
        }
        seen.insert(origin.to_lowercase(), path.clone());
        let records = master::read_zone_file(&path, &origin, &mut errors);
        if let Some(zone) = Zone::build(&origin, &path, records, &mut errors) {
            zones.insert(zone);
        }
    }
    if errors.is_empty() {
        Ok(Snapshot { zones })
    } else {
        Err(ConfigErrors(errors))
    }
}

type ZoneFile = (PathBuf, Result<Name, ConfigError>);

fn zone_files(dir: &Path) -> Result<Vec<ZoneFile>, ConfigError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| ConfigError::file(dir, format!("cannot read zones directory: {e}")))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| ConfigError::file(dir, e.to_string()))?;
        let path = entry.path();
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = file_name.strip_suffix(".zone") else {
            continue;
        };
        if !path.is_file() {
            continue;
        }
        let origin = Name::from_ascii(stem)
            .map(|mut n| {
                n.set_fqdn(true);
                n
            })
            .map_err(|e| {
                ConfigError::file(&path, format!("file name is not a zone name ({stem}): {e}"))
            });
        out.push((path, origin));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
