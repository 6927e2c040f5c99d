//! The `keygen` and `ds` commands.

use std::path::Path;

use super::key::{self, Algorithm, FLAGS_KSK, FLAGS_ZSK};
use super::name;
use super::time;

/// What kind of key `keygen` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Combined signing key (flags 257): signs everything; the default.
    Csk,
    /// Key-signing key (flags 257): signs the DNSKEY RRset once a ZSK is present.
    Ksk,
    /// Zone-signing key (flags 256).
    Zsk,
}

impl KeyKind {
    fn flags(self) -> u16 {
        match self {
            KeyKind::Csk | KeyKind::Ksk => FLAGS_KSK,
            KeyKind::Zsk => FLAGS_ZSK,
        }
    }

    fn role(self) -> &'static str {
        match self {
            KeyKind::Csk => "combined signing key",
            KeyKind::Ksk => "key-signing key",
            KeyKind::Zsk => "zone-signing key",
        }
    }
}

/// `geosteer keygen`: makes a key pair for `zone` in `dir` and returns its base name
/// (`K<zone>.+<alg>+<tag>`, as dnssec-keygen prints it).
pub fn keygen(zone: &str, algorithm: &str, kind: KeyKind, dir: &Path) -> Result<String, String> {
    let zone = name::parse_text(zone)?;
    let alg = Algorithm::parse(algorithm)
        .ok_or_else(|| format!("unknown algorithm {algorithm:?} (ecdsap256sha256 or ed25519)"))?;
    let (_, base) = key::generate_into(dir, &zone, alg, kind.flags(), kind.role(), time::now())?;
    Ok(base
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default())
}

/// `geosteer ds`: the DS records (SHA-256) of `zone`'s SEP keys (KSKs, CSKs) in `dir` that
/// are not deleted nor revoked; of every key when there is no SEP key. Warnings go to the
/// second list.
pub fn ds(zone: &str, dir: &Path) -> Result<(Vec<String>, Vec<String>), String> {
    let zone = name::parse_text(zone)?;
    let mut warnings = Vec::new();
    let keys = key::load_zone_keys(dir, &zone, &mut warnings).map_err(|errs| {
        errs.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    let now = time::now();
    let live: Vec<&key::ZoneKey> = keys
        .iter()
        .filter(|k| !k.dnskey.is_revoked() && k.timing.delete.is_none_or(|t| t > now))
        .collect();
    if live.is_empty() {
        return Err(format!(
            "no keys for {} in {}",
            name::to_text(&zone),
            dir.display()
        ));
    }
    let sep: Vec<&&key::ZoneKey> = live.iter().filter(|k| k.dnskey.is_sep()).collect();
    let lines = if sep.is_empty() {
        warnings.push(
            "no key has the SEP flag (KSK/CSK, flags 257): printing the DS of every key".into(),
        );
        live.iter().map(|k| k.dnskey.ds_text()).collect()
    } else {
        sep.iter().map(|k| k.dnskey.ds_text()).collect()
    };
    Ok((lines, warnings))
}
