//! DNSSEC keys: BIND-format key pairs (`K<zone>.+<alg>+<tag>.key` / `.private`, as
//! `dnssec-keygen` and `ldns-keygen` write them), key tags (RFC 4034 App. B), DS digests
//! (RFC 4509), and new keys.
//!
//! Algorithms 13 (ECDSAP256SHA256, RFC 6605) and 15 (ED25519, RFC 8080), signed with `ring`
//! (already in the tree through rustls; its P-256 is assembly-optimised and measured the
//! fastest of the candidates, see the commit message). BIND files hold the raw private scalar
//! (P-256) or seed (Ed25519): ring builds an ECDSA key pair from the scalar and the public point
//! of the `.key` file (checking that they agree) and an Ed25519 key pair from the seed.
//!
//! Private keys are never logged nor Debug-printed: [`KeyPair`] prints its algorithm only,
//! and the buffers that held private bytes are zeroed when dropped.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use data_encoding::{BASE64, HEXUPPER};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};

use super::name;
use super::time;

/// DNSKEY flags: Zone Key (RFC 4034 §2.1.1).
pub const FLAG_ZONE: u16 = 0x0100;
/// DNSKEY flags: Secure Entry Point, set on KSKs and CSKs (RFC 3757).
pub const FLAG_SEP: u16 = 0x0001;
/// DNSKEY flags: REVOKE (RFC 5011).
pub const FLAG_REVOKE: u16 = 0x0080;
/// Flags of a KSK or CSK.
pub const FLAGS_KSK: u16 = FLAG_ZONE | FLAG_SEP;
/// Flags of a ZSK.
pub const FLAGS_ZSK: u16 = FLAG_ZONE;
/// DS digest type SHA-256 (RFC 4509).
pub const DIGEST_SHA256: u8 = 2;

/// The signing algorithms geosteer implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// 13, ECDSA Curve P-256 with SHA-256 (RFC 6605).
    EcdsaP256Sha256,
    /// 15, Ed25519 (RFC 8080).
    Ed25519,
}

impl Algorithm {
    /// The DNSSEC algorithm number.
    pub fn number(self) -> u8 {
        match self {
            Algorithm::EcdsaP256Sha256 => 13,
            Algorithm::Ed25519 => 15,
        }
    }

    /// The algorithm with number `n`, if supported.
    pub fn from_number(n: u8) -> Option<Self> {
        match n {
            13 => Some(Algorithm::EcdsaP256Sha256),
            15 => Some(Algorithm::Ed25519),
            _ => None,
        }
    }

    /// The mnemonic (RFC 8624 registry spelling).
    pub fn mnemonic(self) -> &'static str {
        match self {
            Algorithm::EcdsaP256Sha256 => "ECDSAP256SHA256",
            Algorithm::Ed25519 => "ED25519",
        }
    }

    /// Parses a mnemonic (any case) or number.
    pub fn parse(s: &str) -> Option<Self> {
        if let Ok(n) = s.parse::<u8>() {
            return Self::from_number(n);
        }
        [Algorithm::EcdsaP256Sha256, Algorithm::Ed25519]
            .into_iter()
            .find(|a| a.mnemonic().eq_ignore_ascii_case(s))
    }

    /// Length of the public key in a DNSKEY and of the private key in a BIND file.
    fn key_lengths(self) -> (usize, usize) {
        match self {
            Algorithm::EcdsaP256Sha256 => (64, 32),
            Algorithm::Ed25519 => (32, 32),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mnemonic())
    }
}

/// The key tag of a DNSKEY RDATA (RFC 4034 Appendix B; algorithm 1's special case is not
/// needed for the algorithms geosteer reads).
pub fn key_tag(rdata: &[u8]) -> u16 {
    let mut ac: u32 = 0;
    for (i, &b) in rdata.iter().enumerate() {
        ac += if i & 1 == 0 {
            u32::from(b) << 8
        } else {
            u32::from(b)
        };
    }
    ac += (ac >> 16) & 0xFFFF;
    (ac & 0xFFFF) as u16
}

/// The public half of a zone key: what a DNSKEY record holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsKey {
    /// The zone's name, lower-cased wire form.
    pub owner: Vec<u8>,
    /// Flags: 256 a zone key, 257 with SEP (a KSK or CSK).
    pub flags: u16,
    /// Always 3 (RFC 4034 §2.1.2).
    pub protocol: u8,
    /// The algorithm number.
    pub algorithm: u8,
    /// The public key, as in the DNSKEY RDATA.
    pub public_key: Vec<u8>,
}

impl DnsKey {
    /// The DNSKEY RDATA (also the CDNSKEY RDATA, RFC 7344).
    pub fn rdata(&self) -> Vec<u8> {
        let mut r = Vec::with_capacity(4 + self.public_key.len());
        r.extend_from_slice(&self.flags.to_be_bytes());
        r.push(self.protocol);
        r.push(self.algorithm);
        r.extend_from_slice(&self.public_key);
        r
    }

    /// Its key tag (RFC 4034 Appendix B).
    pub fn tag(&self) -> u16 {
        key_tag(&self.rdata())
    }

    /// Whether the SEP flag is set: a KSK or a CSK, the key a DS points at.
    pub fn is_sep(&self) -> bool {
        self.flags & FLAG_SEP != 0
    }

    /// Whether the REVOKE flag is set (RFC 5011).
    pub fn is_revoked(&self) -> bool {
        self.flags & FLAG_REVOKE != 0
    }

    /// The DS RDATA with a SHA-256 digest (also the CDS RDATA).
    pub fn ds_rdata(&self) -> Vec<u8> {
        let mut input = Vec::with_capacity(self.owner.len() + 4 + self.public_key.len());
        name::push_lowercase(&mut input, &self.owner);
        input.extend_from_slice(&self.rdata());
        let digest = ring::digest::digest(&ring::digest::SHA256, &input);
        let mut r = Vec::with_capacity(4 + 32);
        r.extend_from_slice(&self.tag().to_be_bytes());
        r.push(self.algorithm);
        r.push(DIGEST_SHA256);
        r.extend_from_slice(digest.as_ref());
        r
    }

    /// The DS record in presentation format, as `dnssec-dsfromkey -2` prints it.
    pub fn ds_text(&self) -> String {
        let ds = self.ds_rdata();
        format!(
            "{} IN DS {} {} {} {}",
            name::to_text(&self.owner),
            self.tag(),
            self.algorithm,
            DIGEST_SHA256,
            HEXUPPER.encode(&ds[4..])
        )
    }

    /// The DNSKEY record in presentation format.
    pub fn dnskey_text(&self) -> String {
        format!(
            "{} IN DNSKEY {} {} {} {}",
            name::to_text(&self.owner),
            self.flags,
            self.protocol,
            self.algorithm,
            BASE64.encode(&self.public_key)
        )
    }
}

/// A key's timing metadata (BIND's `Created`, `Publish`, `Activate`, … fields), in seconds
/// since the epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timing {
    /// When the key was made.
    pub created: Option<u64>,
    /// When its DNSKEY enters the zone.
    pub publish: Option<u64>,
    /// When it starts signing.
    pub activate: Option<u64>,
    /// When it is revoked (RFC 5011).
    pub revoke: Option<u64>,
    /// When it stops signing.
    pub inactive: Option<u64>,
    /// When its DNSKEY leaves the zone.
    pub delete: Option<u64>,
    /// When its CDS/CDNSKEY are published.
    pub sync_publish: Option<u64>,
    /// When its CDS/CDNSKEY are withdrawn.
    pub sync_delete: Option<u64>,
}

impl Timing {
    fn field(&mut self, key: &str) -> Option<&mut Option<u64>> {
        Some(match key {
            "Created" => &mut self.created,
            "Publish" => &mut self.publish,
            "Activate" => &mut self.activate,
            "Revoke" => &mut self.revoke,
            "Inactive" => &mut self.inactive,
            "Delete" => &mut self.delete,
            "SyncPublish" => &mut self.sync_publish,
            "SyncDelete" => &mut self.sync_delete,
            _ => return None,
        })
    }

    /// A key with neither Publish nor Activate (ldns-keygen writes none) is published and
    /// active from the start, as BIND and ldns-signzone treat it.
    fn untimed(&self) -> bool {
        self.publish.is_none() && self.activate.is_none()
    }

    /// Whether the DNSKEY is in the zone at `now`: published, not yet deleted.
    pub fn is_published(&self, now: u64) -> bool {
        let published = self.untimed() || self.publish.is_some_and(|t| t <= now);
        // A key activated without a Publish time is published from then on.
        let activated = self.activate.is_some_and(|t| t <= now);
        (published || activated) && self.delete.is_none_or(|t| t > now)
    }

    /// Whether the key signs at `now`: activated, not yet retired, still published.
    pub fn is_active(&self, now: u64) -> bool {
        let active = self.untimed() || self.activate.is_some_and(|t| t <= now);
        active && self.inactive.is_none_or(|t| t > now) && self.is_published(now)
    }

    fn fields(&self) -> [(&'static str, Option<u64>); 8] {
        [
            ("Created", self.created),
            ("Publish", self.publish),
            ("Activate", self.activate),
            ("Revoke", self.revoke),
            ("Inactive", self.inactive),
            ("Delete", self.delete),
            ("SyncPublish", self.sync_publish),
            ("SyncDelete", self.sync_delete),
        ]
    }
}

/// Private bytes: zeroed when dropped, never printed.
struct Secret(Vec<u8>);

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize(&mut self.0);
    }
}

/// Overwrites `buf` with zeros in a way the optimiser keeps.
fn zeroize(buf: &mut [u8]) {
    for b in buf.iter_mut() {
        // SAFETY: `b` is a valid, aligned, exclusive reference.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

/// A private key ready to sign. Debug shows the algorithm only.
pub struct KeyPair {
    inner: KeyPairInner,
}

enum KeyPairInner {
    Ecdsa(EcdsaKeyPair, SystemRandom),
    Ed25519(Ed25519KeyPair),
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair({}, private key not shown)", self.algorithm())
    }
}

/// A signature: 64 octets for both algorithms (r‖s for P-256, RFC 6605 §4; R‖S for Ed25519).
pub type Signature = [u8; 64];

impl KeyPair {
    /// Builds a key pair from a BIND file's private key and the DNSKEY's public key.
    fn from_parts(alg: Algorithm, private: &[u8], public: &[u8]) -> Result<Self, String> {
        let (pub_len, priv_len) = alg.key_lengths();
        // A P-256 PrivateKey is an integer: ldns writes it without its leading zero octets
        // (1 key in 256 has one), so it is padded back to the fixed width. An Ed25519 seed is
        // an octet string and is never short.
        let mut padded = [0u8; 32];
        let private = if matches!(alg, Algorithm::EcdsaP256Sha256)
            && !private.is_empty()
            && private.len() < priv_len
            && priv_len == padded.len()
        {
            padded[priv_len - private.len()..].copy_from_slice(private);
            &padded[..]
        } else {
            private
        };
        if private.len() != priv_len {
            return Err(format!(
                "PrivateKey has {} octets; {alg} needs {priv_len}",
                private.len()
            ));
        }
        if public.len() != pub_len {
            return Err(format!(
                "public key has {} octets; {alg} needs {pub_len}",
                public.len()
            ));
        }
        let inner = match alg {
            Algorithm::EcdsaP256Sha256 => {
                let mut point = [0u8; 65];
                point[0] = 4; // uncompressed (SEC 1 §2.3.3)
                point[1..].copy_from_slice(public);
                let rng = SystemRandom::new();
                let kp = EcdsaKeyPair::from_private_key_and_public_key(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    private,
                    &point,
                    &rng,
                )
                .map_err(|e| format!("private and public key do not form a P-256 key pair: {e}"))?;
                KeyPairInner::Ecdsa(kp, rng)
            }
            Algorithm::Ed25519 => {
                let kp =
                    Ed25519KeyPair::from_seed_and_public_key(private, public).map_err(|e| {
                        format!("private and public key do not form an Ed25519 key pair: {e}")
                    })?;
                KeyPairInner::Ed25519(kp)
            }
        };
        Ok(Self { inner })
    }

    /// Its algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self.inner {
            KeyPairInner::Ecdsa(..) => Algorithm::EcdsaP256Sha256,
            KeyPairInner::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// The public key as a DNSKEY holds it.
    pub fn public_key(&self) -> Vec<u8> {
        match &self.inner {
            KeyPairInner::Ecdsa(kp, _) => kp.public_key().as_ref()[1..].to_vec(),
            KeyPairInner::Ed25519(kp) => kp.public_key().as_ref().to_vec(),
        }
    }

    /// Signs `msg`. ECDSA draws a fresh nonce from the system RNG (hedged with the message
    /// digest by ring); Ed25519 is deterministic.
    pub fn sign(&self, msg: &[u8]) -> Result<Signature, SignError> {
        let mut out = [0u8; 64];
        match &self.inner {
            KeyPairInner::Ecdsa(kp, rng) => {
                let s = kp.sign(rng, msg).map_err(|_| SignError)?;
                out.copy_from_slice(s.as_ref());
            }
            KeyPairInner::Ed25519(kp) => out.copy_from_slice(kp.sign(msg).as_ref()),
        }
        Ok(out)
    }
}

/// The system RNG failed (ECDSA needs a nonce): nothing can be signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignError;

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("signing failed: the system random number generator failed")
    }
}

impl std::error::Error for SignError {}

/// One zone key as loaded from a key directory.
#[derive(Debug)]
pub struct ZoneKey {
    /// The public key as a DNSKEY.
    pub dnskey: DnsKey,
    /// When it is published, active, retired.
    pub timing: Timing,
    /// `None` when only the `.key` file is there: the key is published, never signs.
    pub pair: Option<KeyPair>,
    /// The files' common path, without `.key` / `.private`.
    pub path: PathBuf,
}

impl ZoneKey {
    /// Its key tag.
    pub fn tag(&self) -> u16 {
        self.dnskey.tag()
    }
}

/// A key file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    /// The file.
    pub path: PathBuf,
    /// The line, when the problem is on one.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl KeyError {
    fn new(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for KeyError {}

/// Reads a `.key` file: the DNSKEY record (owner, optional TTL and class, `DNSKEY`, flags,
/// protocol, algorithm, base64 key that may be split by spaces), and the timing comments
/// dnssec-keygen writes (`; Publish: 20261201200941 (…)`).
pub fn read_public(path: &Path) -> Result<(DnsKey, Timing), KeyError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| KeyError::new(path, None, format!("cannot read: {e}")))?;
    parse_public(&text).map_err(|(line, msg)| KeyError::new(path, line, msg))
}

fn parse_public(text: &str) -> Result<(DnsKey, Timing), (Option<usize>, String)> {
    let mut timing = Timing::default();
    let mut record: Vec<&str> = Vec::new();
    let mut record_line = None;
    for (i, line) in text.lines().enumerate() {
        let (data, comment) = match line.find(';') {
            Some(at) => (&line[..at], Some(&line[at + 1..])),
            None => (line, None),
        };
        if let Some(c) = comment
            && let Some((k, v)) = c.trim().split_once(':')
            && let Some(slot) = timing.field(k.trim())
            && let Some(t) = v.split_whitespace().next().and_then(time::parse)
        {
            *slot = Some(t);
        }
        let toks = data
            .split_whitespace()
            .filter(|t| *t != "(" && *t != ")")
            .map(|t| t.trim_matches(|c| c == '(' || c == ')'));
        let before = record.len();
        record.extend(toks.filter(|t| !t.is_empty()));
        if record.len() > before && record_line.is_none() {
            record_line = Some(i + 1);
        }
    }
    let line = record_line;
    let err = |m: String| (line, m);
    let mut it = record.into_iter();
    let owner = it.next().ok_or((None, "no DNSKEY record".to_string()))?;
    let owner = name::parse_text(owner).map_err(err)?;
    let mut tok = it.next();
    // [TTL] [class] or [class] [TTL], then the type.
    for _ in 0..2 {
        match tok {
            Some(t) if t.bytes().all(|b| b.is_ascii_digit()) => tok = it.next(),
            Some(t) if t.eq_ignore_ascii_case("IN") => tok = it.next(),
            _ => break,
        }
    }
    match tok {
        Some(t) if t.eq_ignore_ascii_case("DNSKEY") => {}
        Some(t) => return Err(err(format!("expected a DNSKEY record, found {t:?}"))),
        None => return Err(err("truncated DNSKEY record".into())),
    }
    let mut num = |what: &str| -> Result<u16, (Option<usize>, String)> {
        it.next()
            .and_then(|t| t.parse::<u16>().ok())
            .ok_or_else(|| err(format!("bad or missing DNSKEY {what}")))
    };
    let flags = num("flags")?;
    let protocol = num("protocol")?;
    let algorithm = num("algorithm")?;
    if protocol != 3 {
        return Err(err(format!("DNSKEY protocol is {protocol}; it must be 3")));
    }
    let algorithm = u8::try_from(algorithm).map_err(|_| err("bad DNSKEY algorithm".into()))?;
    let b64: String = it.collect();
    let public_key = BASE64
        .decode(b64.as_bytes())
        .map_err(|e| err(format!("bad base64 in the public key: {e}")))?;
    if public_key.is_empty() {
        return Err(err("the DNSKEY has no public key".into()));
    }
    Ok((
        DnsKey {
            owner,
            flags,
            protocol: protocol as u8,
            algorithm,
            public_key,
        },
        timing,
    ))
}

/// What a `.private` file holds, the private key still encoded.
struct PrivateFile {
    algorithm: u8,
    private_key: Secret,
    timing: Timing,
}

fn parse_private(bytes: &[u8]) -> Result<PrivateFile, (Option<usize>, String)> {
    let text = std::str::from_utf8(bytes).map_err(|_| (None, "not UTF-8 text".to_string()))?;
    let mut format = None;
    let mut algorithm = None;
    let mut private_key = None;
    let mut timing = Timing::default();
    for (i, line) in text.lines().enumerate() {
        let line_no = Some(i + 1);
        let Some((k, v)) = line.split_once(':') else {
            if line.trim().is_empty() {
                continue;
            }
            return Err((line_no, "expected `Field: value`".into()));
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "Private-key-format" => format = Some(v),
            "Algorithm" => {
                let n = v
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u8>().ok());
                algorithm = Some(n.ok_or((line_no, "bad Algorithm".to_string()))?);
            }
            // Never echo the value: it is the secret.
            "PrivateKey" => {
                private_key =
                    Some(Secret(BASE64.decode(v.as_bytes()).map_err(|_| {
                        (line_no, "PrivateKey is not valid base64".to_string())
                    })?))
            }
            "Engine" | "Label" => {
                return Err((
                    line_no,
                    "keys held in an HSM (Engine/Label) are not supported".into(),
                ));
            }
            _ => {
                if let Some(slot) = timing.field(k) {
                    *slot =
                        Some(time::parse(v).ok_or((
                            line_no,
                            format!("bad {k} time {v:?} (want YYYYMMDDHHMMSS)"),
                        ))?);
                }
                // Other fields (RSA's Modulus…, Successor, …) do not concern these algorithms.
            }
        }
    }
    match format {
        Some(f) if f.starts_with("v1.") => {}
        Some(f) => return Err((None, format!("unknown Private-key-format {f:?}"))),
        None => return Err((None, "no Private-key-format line".into())),
    }
    Ok(PrivateFile {
        algorithm: algorithm.ok_or((None, "no Algorithm line".to_string()))?,
        private_key: private_key.ok_or((None, "no PrivateKey line".to_string()))?,
        timing,
    })
}

/// `K<zone>+<alg>+<tag>` split up: (zone text, algorithm, tag).
fn parse_base_name(base: &str) -> Option<(&str, u8, u16)> {
    let rest = base.strip_prefix('K')?;
    let (rest, tag) = rest.rsplit_once('+')?;
    let (zone, alg) = rest.rsplit_once('+')?;
    if tag.len() != 5 || alg.len() != 3 || !zone.ends_with('.') {
        return None;
    }
    Some((zone, alg.parse().ok()?, tag.parse().ok()?))
}

/// The zones (presentation form, as in the file names) that `dir` holds `.key` files for,
/// each with one of its files; empty when the directory does not exist.
pub fn zones_in_dir(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "key"))
        .filter_map(|p| {
            let zone = p
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(parse_base_name)?
                .0
                .to_ascii_lowercase();
            Some((zone, p))
        })
        .collect();
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// `<base>.<ext>`. (`Path::with_extension` would cut the base at its last dot, which in
/// `Kexample.com.+013+00746` is inside the name.)
pub fn with_ext(base: &Path, ext: &str) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// The base file name (no extension) for a key, as dnssec-keygen names it.
pub fn base_name(key: &DnsKey) -> String {
    format!(
        "K{}+{:03}+{:05}",
        name::to_text(&key.owner),
        key.algorithm,
        key.tag()
    )
}

/// Loads the key pair whose `.key` file is `key_path`. Warnings (a private key readable by
/// others, a missing `.private`) are appended to `warnings`; they never contain key material.
pub fn load_pair(key_path: &Path, warnings: &mut Vec<String>) -> Result<ZoneKey, KeyError> {
    let (dnskey, key_timing) = read_public(key_path)?;
    let alg = Algorithm::from_number(dnskey.algorithm).ok_or_else(|| {
        KeyError::new(
            key_path,
            None,
            format!(
                "algorithm {} is not supported (geosteer signs with 13 ECDSAP256SHA256 and 15 \
                 ED25519)",
                dnskey.algorithm
            ),
        )
    })?;
    let base = key_path.with_extension("");
    let private_path = key_path.with_extension("private");
    let mut raw = match std::fs::read(&private_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            warnings.push(format!(
                "{}: no {} beside it: the key is published but cannot sign",
                key_path.display(),
                private_path.display()
            ));
            return Ok(ZoneKey {
                dnskey,
                timing: key_timing,
                pair: None,
                path: base,
            });
        }
        Err(e) => {
            return Err(KeyError::new(
                &private_path,
                None,
                format!("cannot read: {e}"),
            ));
        }
    };
    if let Ok(meta) = std::fs::metadata(&private_path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            warnings.push(format!(
                "{}: private key file is accessible to group or others (mode {mode:04o}); \
                 chmod 600 it",
                private_path.display()
            ));
        }
    }
    let parsed = parse_private(&raw);
    zeroize(&mut raw);
    let private = parsed.map_err(|(l, m)| KeyError::new(&private_path, l, m))?;
    if private.algorithm != dnskey.algorithm {
        return Err(KeyError::new(
            &private_path,
            None,
            format!(
                "algorithm {} differs from the .key file's {}",
                private.algorithm, dnskey.algorithm
            ),
        ));
    }
    let pair = KeyPair::from_parts(alg, &private.private_key.0, &dnskey.public_key)
        .map_err(|m| KeyError::new(&private_path, None, m))?;
    // The .private file's timing is the authoritative copy (BIND keeps both in step).
    let timing = if private.timing == Timing::default() {
        key_timing
    } else {
        private.timing.clone()
    };
    Ok(ZoneKey {
        dnskey,
        timing,
        pair: Some(pair),
        path: base,
    })
}

/// Loads every key of `zone` (lower-cased wire form) from `dir`: the files named
/// `K<zone>.+<alg>+<tag>.key`, each with its `.private` when present. A key whose file name
/// disagrees with its contents (zone, algorithm, tag) is an error.
pub fn load_zone_keys(
    dir: &Path,
    zone: &[u8],
    warnings: &mut Vec<String>,
) -> Result<Vec<ZoneKey>, Vec<KeyError>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(vec![KeyError::new(dir, None, format!("cannot read: {e}"))]),
    };
    let zone_text = name::to_text(zone);
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "key")
                && p.file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(parse_base_name)
                    .is_some_and(|(z, _, _)| z.eq_ignore_ascii_case(&zone_text))
        })
        .collect();
    paths.sort();
    let mut keys = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let Some((_, alg, tag)) = parse_base_name(stem) else {
            continue;
        };
        match load_pair(&path, warnings) {
            Ok(k) => {
                let mismatch = if k.dnskey.owner != zone {
                    Some(format!(
                        "the DNSKEY is for {}, the file name says {zone_text}",
                        name::to_text(&k.dnskey.owner)
                    ))
                } else if k.dnskey.algorithm != alg {
                    Some(format!(
                        "the DNSKEY has algorithm {}, the file name says {alg}",
                        k.dnskey.algorithm
                    ))
                } else if k.tag() != tag {
                    Some(format!(
                        "the DNSKEY has key tag {}, the file name says {tag}",
                        k.tag()
                    ))
                } else {
                    None
                };
                match mismatch {
                    Some(m) => errors.push(KeyError::new(&path, None, m)),
                    None => keys.push(k),
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(keys)
    } else {
        Err(errors)
    }
}

/// A key just made, before it is written.
pub struct NewKey {
    /// The public key as a DNSKEY.
    pub dnskey: DnsKey,
    /// Its timing metadata (Created, Publish, Activate).
    pub timing: Timing,
    private: Secret,
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey")
            .field("dnskey", &self.dnskey)
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

/// One DER element: (tag, contents, rest). Enough of DER for ring's PKCS#8 output.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        0..=0x7F => (first as usize, rest),
        0x81 => (*rest.first()? as usize, &rest[1..]),
        0x82 => (
            u16::from_be_bytes([*rest.first()?, *rest.get(1)?]) as usize,
            &rest[2..],
        ),
        _ => return None,
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The private scalar of a P-256 PKCS#8 v1 document (RFC 5208, RFC 5915 inside).
fn p256_scalar_from_pkcs8(doc: &[u8]) -> Option<&[u8]> {
    let (0x30, info, _) = der(doc)? else {
        return None;
    };
    let (0x02, _version, rest) = der(info)? else {
        return None;
    };
    let (0x30, _alg, rest) = der(rest)? else {
        return None;
    };
    let (0x04, ec_key, _) = der(rest)? else {
        return None;
    };
    let (0x30, ec, _) = der(ec_key)? else {
        return None;
    };
    let (0x02, _version, rest) = der(ec)? else {
        return None;
    };
    let (0x04, scalar, _) = der(rest)? else {
        return None;
    };
    (scalar.len() == 32).then_some(scalar)
}

/// Makes a new key for `zone` (lower-cased wire form), published and active from `now`, as
/// dnssec-keygen does by default.
pub fn generate(zone: &[u8], alg: Algorithm, flags: u16, now: u64) -> Result<NewKey, String> {
    let rng = SystemRandom::new();
    let (public_key, private) = match alg {
        Algorithm::EcdsaP256Sha256 => {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| "the system random number generator failed".to_string())?;
            let scalar =
                p256_scalar_from_pkcs8(doc.as_ref()).ok_or("unexpected PKCS#8 layout from ring")?;
            let private = Secret(scalar.to_vec());
            let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref(), &rng)
                .map_err(|e| format!("new key rejected: {e}"))?;
            (kp.public_key().as_ref()[1..].to_vec(), private)
        }
        Algorithm::Ed25519 => {
            let mut seed = Secret(vec![0u8; 32]);
            rng.fill(&mut seed.0)
                .map_err(|_| "the system random number generator failed".to_string())?;
            let kp = Ed25519KeyPair::from_seed_unchecked(&seed.0)
                .map_err(|e| format!("new key rejected: {e}"))?;
            (kp.public_key().as_ref().to_vec(), seed)
        }
    };
    // Check the halves agree the way they will be read back.
    KeyPair::from_parts(alg, &private.0, &public_key)?;
    Ok(NewKey {
        dnskey: DnsKey {
            owner: zone.to_vec(),
            flags,
            protocol: 3,
            algorithm: alg.number(),
            public_key,
        },
        timing: Timing {
            created: Some(now),
            publish: Some(now),
            activate: Some(now),
            ..Timing::default()
        },
        private,
    })
}

impl NewKey {
    /// The `.key` file, as dnssec-keygen writes it: comments, then the DNSKEY record.
    pub fn key_file(&self, role: &str) -> String {
        let mut s = format!(
            "; This is a {role}, keyid {}, for {}\n",
            self.dnskey.tag(),
            name::to_text(&self.dnskey.owner)
        );
        for (k, v) in self.timing.fields() {
            if let Some(t) = v {
                s.push_str(&format!(
                    "; {k}: {} ({})\n",
                    time::format(t),
                    time::format_ctime(t)
                ));
            }
        }
        s.push_str(&self.dnskey.dnskey_text());
        s.push('\n');
        s
    }

    /// Writes `<dir>/K<zone>+<alg>+<tag>.{key,private}`, the private file with mode 0600,
    /// refusing to overwrite. Returns the base path.
    pub fn write(&self, dir: &Path, role: &str) -> Result<PathBuf, String> {
        let alg = Algorithm::from_number(self.dnskey.algorithm).ok_or("unsupported algorithm")?;
        let base = dir.join(base_name(&self.dnskey));
        let mut private = format!(
            "Private-key-format: v1.3\nAlgorithm: {} ({})\nPrivateKey: {}\n",
            alg.number(),
            alg.mnemonic(),
            BASE64.encode(&self.private.0)
        )
        .into_bytes();
        for (k, v) in self.timing.fields() {
            if let Some(t) = v {
                private.extend_from_slice(format!("{k}: {}\n", time::format(t)).as_bytes());
            }
        }
        let private_path = with_ext(&base, "private");
        let result = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&private_path)
            .and_then(|mut f| f.write_all(&private).and_then(|_| f.sync_all()));
        zeroize(&mut private);
        result.map_err(|e| format!("{}: {e}", private_path.display()))?;
        let key_path = with_ext(&base, "key");
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&key_path)
            .and_then(|mut f| f.write_all(self.key_file(role).as_bytes()))
            .map_err(|e| format!("{}: {e}", key_path.display()))?;
        Ok(base)
    }
}

/// Makes a key for `zone` and writes it into `dir` (created, mode 0700, when missing), with a
/// key tag no other key of the zone there has, REVOKEd or not (as dnssec-keygen avoids). `role`
/// words the `.key` file's first comment.
pub fn generate_into(
    dir: &Path,
    zone: &[u8],
    alg: Algorithm,
    flags: u16,
    role: &str,
    now: u64,
) -> Result<(NewKey, PathBuf), String> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    }
    let mut taken = Vec::new();
    let zone_text = name::to_text(zone);
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let Ok(e) = e else { continue };
        let p = e.path();
        if p.extension().is_some_and(|x| x == "key")
            && let Some((z, _, _)) = p
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(parse_base_name)
            && z.eq_ignore_ascii_case(&zone_text)
            && let Ok((k, _)) = read_public(&p)
        {
            let mut revoked = k.clone();
            revoked.flags ^= FLAG_REVOKE;
            taken.push(k.tag());
            taken.push(revoked.tag());
        }
    }
    for _ in 0..64 {
        let key = generate(zone, alg, flags, now)?;
        let mut revoked = key.dnskey.clone();
        revoked.flags |= FLAG_REVOKE;
        if taken.contains(&key.dnskey.tag()) || taken.contains(&revoked.tag()) {
            continue;
        }
        let base = key.write(dir, role)?;
        return Ok((key, base));
    }
    Err("could not find a free key tag".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key of RFC 4034 §5.4 (DS example): tag 60485 and the published digest are the
    /// independent check of the tag and digest code (SHA-1 there; the tag is what matters).
    #[test]
    fn key_tag_matches_rfc4034_example() {
        let public = BASE64
            .decode(
                b"AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZDRD99WYwYqUSdjMmmAphXdvxegXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjFDc2w/rljwvFw==",
            )
            .unwrap();
        let k = DnsKey {
            owner: name::parse_text("dskey.example.com.").unwrap(),
            flags: 256,
            protocol: 3,
            algorithm: 5,
            public_key: public,
        };
        assert_eq!(k.tag(), 60485);
    }

    #[test]
    fn generated_keys_sign_and_verify() {
        let zone = name::parse_text("example.com.").unwrap();
        for alg in [Algorithm::EcdsaP256Sha256, Algorithm::Ed25519] {
            let k = generate(&zone, alg, FLAGS_KSK, 1_000).unwrap();
            let pair = KeyPair::from_parts(alg, &k.private.0, &k.dnskey.public_key).unwrap();
            let sig = pair.sign(b"message").unwrap();
            let verify_alg: &dyn ring::signature::VerificationAlgorithm = match alg {
                Algorithm::EcdsaP256Sha256 => &ring::signature::ECDSA_P256_SHA256_FIXED,
                Algorithm::Ed25519 => &ring::signature::ED25519,
            };
            let mut pk = k.dnskey.public_key.clone();
            if alg == Algorithm::EcdsaP256Sha256 {
                pk.insert(0, 4);
            }
            let v = ring::signature::UnparsedPublicKey::new(verify_alg, &pk);
            assert!(v.verify(b"message", &sig).is_ok());
            assert!(v.verify(b"messagf", &sig).is_err());
            // Another key's public half is refused.
            let other = generate(&zone, alg, FLAGS_KSK, 1_000).unwrap();
            assert!(KeyPair::from_parts(alg, &k.private.0, &other.dnskey.public_key).is_err());
            // Debug never shows private material.
            let shown = format!("{pair:?} {k:?}");
            assert!(!shown.contains(&BASE64.encode(&k.private.0)));
            assert!(!shown.contains(&format!("{:?}", &k.private.0[..8])));
        }
    }

    #[test]
    fn public_file_variants_parse() {
        let bind = "; This is a key-signing key, keyid 746, for example.com.\n\
            ; Created: 20261201200941 (Tue Dec  1 20:09:41 2026)\n\
            ; Publish: 20261201200941 (Tue Dec  1 20:09:41 2026)\n\
            ; Activate: 20261201200941 (Tue Dec  1 20:09:41 2026)\n\
            example.com. IN DNSKEY 257 3 13 drL/f3EyFQ3hznGry+fGI0A9aF9MpOWElybIBs43t40hR6zK87HTbRPE FcGEigCMZKNcwYtM1H7IG8/QlVjK6A==\n";
        let (k, t) = parse_public(bind).unwrap();
        assert_eq!(k.tag(), 746);
        assert_eq!(k.flags, 257);
        assert_eq!(t.publish, Some(1_796_155_781));
        let ldns = "example.net.\tIN\tDNSKEY\t256 3 15 ILxF+NgBLHjYkasmSHBTLj4PVpR/+RzoBwrUr117cK8= ;{id = 27134 (zsk), size = 256b}\n";
        let (k, t) = parse_public(ldns).unwrap();
        assert_eq!(k.tag(), 27134);
        assert_eq!(t, Timing::default());
        let with_ttl =
            "Example.NET. 3600 IN DNSKEY 256 3 15 ILxF+NgBLHjYkasmSHBTLj4PVpR/+RzoBwrUr117cK8=";
        let (k2, _) = parse_public(with_ttl).unwrap();
        assert_eq!(k2, k);
        assert!(parse_public("example.net. IN DS 1 2 3 AB").is_err());
        assert!(parse_public("example.net. IN DNSKEY 256 2 15 AAAA").is_err());
        assert!(parse_public("example.net. IN DNSKEY 256 3 15 !!!").is_err());
        assert!(parse_public("; nothing\n").is_err());
    }

    #[test]
    fn private_file_errors_never_echo_the_key() {
        let bad =
            b"Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: s3cr3t!!\n";
        let Err((_, msg)) = parse_private(bad) else {
            panic!("accepted bad base64")
        };
        assert!(!msg.contains("s3cr3t"), "{msg}");
        assert!(parse_private(b"Algorithm: 13\nPrivateKey: AAAA\n").is_err());
        let ok = parse_private(
            b"Private-key-format: v1.2\nAlgorithm: 15 (ED25519)\nPrivateKey: AAAA\nActivate: 20261201200941\n",
        )
        .unwrap();
        assert_eq!(ok.algorithm, 15);
        assert_eq!(ok.timing.activate, Some(1_796_155_781));
    }

    #[test]
    fn timing_decides_publication_and_activity() {
        let untimed = Timing::default();
        assert!(untimed.is_published(0) && untimed.is_active(0));
        let t = Timing {
            publish: Some(100),
            activate: Some(200),
            inactive: Some(300),
            delete: Some(400),
            ..Timing::default()
        };
        assert!(!t.is_published(99) && !t.is_active(99));
        assert!(t.is_published(100) && !t.is_active(100));
        assert!(t.is_active(200) && t.is_active(299));
        assert!(!t.is_active(300) && t.is_published(300));
        assert!(!t.is_published(400));
        // Published-only (dnssec-keygen -A none): never signs.
        let pre = Timing {
            publish: Some(100),
            ..Timing::default()
        };
        assert!(pre.is_published(500) && !pre.is_active(500));
    }

    #[test]
    fn base_names_round_trip() {
        assert_eq!(
            parse_base_name("Kexample.com.+013+00746"),
            Some(("example.com.", 13, 746))
        );
        assert_eq!(parse_base_name("K.+015+12345"), Some((".", 15, 12345)));
        assert_eq!(parse_base_name("Kexample.com+013+00746"), None);
        assert_eq!(parse_base_name("example.com.+013+00746"), None);
    }
}
