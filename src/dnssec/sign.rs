//! RRSIG records (RFC 4034 §3, RFC 4035 §2.2) for RRsets given in wire form.
//!
//! The interface is plain bytes: an owner name, a type, a class, a TTL and the RRset's RDATAs
//! (uncompressed). Whatever holds the zone data (hickory `Record`s, pre-rendered wire forms)
//! hands them over as slices; [`rrset_from_records`] does it for hickory records.

use std::sync::Arc;

use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

use super::canon::CanonicalRdatas;
use super::key::{Algorithm, DnsKey, KeyPair, SignError, ZoneKey};
use super::name;
use super::types;

/// Signature validity, with Knot DNS's defaults (`policy` section, Knot 3.3+): signatures
/// valid 14 days (`rrsig-lifetime`), their inception 90 minutes in the past (clock skew; not
/// counted in the lifetime), refreshed `propagation-delay` (1 h) + the RRset's TTL + a tenth of
/// the lifetime before they expire (`rrsig-refresh`'s default), at most an hour early to batch
/// refreshes (`rrsig-pre-refresh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Seconds from signing to expiration.
    pub lifetime: u32,
    /// Seconds the inception lies before the signing time.
    pub inception_offset: u32,
    /// Seconds before expiration at which a signature is made anew; `None` for Knot's
    /// default: propagation delay + TTL + lifetime / 10.
    pub refresh: Option<u32>,
    /// Seconds a refresh may come early, so that signatures due at nearly the same time are
    /// made in one pass.
    pub pre_refresh: u32,
    /// Knot's `propagation-delay`, part of the default refresh.
    pub propagation_delay: u32,
}

impl Default for Validity {
    fn default() -> Self {
        Self {
            lifetime: 14 * 86_400,
            inception_offset: 90 * 60,
            refresh: None,
            pre_refresh: 3600,
            propagation_delay: 3600,
        }
    }
}

impl Validity {
    /// (inception, expiration) for a signature made at `now`.
    pub fn window(&self, now: u64) -> (u64, u64) {
        (
            now.saturating_sub(u64::from(self.inception_offset)),
            now + u64::from(self.lifetime),
        )
    }

    /// How long before its expiration a signature over an RRset with `ttl` is renewed: never
    /// less than the TTL plus the propagation delay (a cached copy must outlive its TTL), never
    /// so much that a fresh signature is already due (capped below the lifetime).
    pub fn refresh_before(&self, ttl: u32) -> u64 {
        let want = match self.refresh {
            Some(r) => u64::from(r),
            None => {
                u64::from(self.propagation_delay) + u64::from(ttl) + u64::from(self.lifetime) / 10
            }
        };
        let cap = u64::from(self.lifetime)
            .saturating_sub(u64::from(self.pre_refresh))
            .saturating_sub(1);
        want.min(cap)
    }

    /// When a signature expiring at `expiration` over an RRset with `ttl` is due for renewal.
    pub fn refresh_at(&self, expiration: u64, ttl: u32) -> u64 {
        expiration.saturating_sub(self.refresh_before(ttl))
    }

    /// Checks the settings make sense together (what Knot refuses at configuration time).
    pub fn check(&self) -> Result<(), String> {
        if self.lifetime < 3 * 3600 {
            return Err(format!(
                "signature lifetime {}s is under 3 hours",
                self.lifetime
            ));
        }
        if let Some(r) = self.refresh
            && u64::from(r) + u64::from(self.pre_refresh) >= u64::from(self.lifetime)
        {
            return Err(format!(
                "signature refresh ({r}s) + pre-refresh ({}s) must be under the lifetime ({}s)",
                self.pre_refresh, self.lifetime
            ));
        }
        Ok(())
    }
}

/// An RRset to sign, borrowed: the RDATAs uncompressed, in any order and case.
#[derive(Debug, Clone, Copy)]
pub struct RrsetRef<'a, R: AsRef<[u8]>> {
    /// The owner as the RRSIG covers it: the RRset's own name, or `*.<closest encloser>`
    /// for a wildcard RRset signed as such (the Labels field then says so).
    pub owner: &'a [u8],
    /// The RRset's type.
    pub rtype: u16,
    /// Its class.
    pub class: u16,
    /// Its TTL (the RRSIG's Original TTL).
    pub ttl: u32,
    /// Its RDATAs.
    pub rdatas: &'a [R],
}

/// One RRSIG, ready to be written after the RRset it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rrsig {
    /// The RRSIG RDATA: the signer's name uncompressed (RFC 4034 §3.1.7), then the signature.
    pub rdata: Box<[u8]>,
    /// Seconds since the epoch (not wrapped) at which it expires.
    pub expiration: u64,
}

impl Rrsig {
    /// The whole record in wire form, owner uncompressed (RFC 4034 §3: the RRSIG's TTL is
    /// the covered RRset's).
    pub fn to_wire(&self, owner: &[u8], class: u16, ttl: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(owner.len() + 10 + self.rdata.len());
        self.write(&mut out, owner, class, ttl);
        out
    }

    /// Appends the record (owner as given, which may be a compression pointer).
    pub fn write(&self, out: &mut Vec<u8>, owner: &[u8], class: u16, ttl: u32) {
        out.extend_from_slice(owner);
        out.extend_from_slice(&types::RRSIG.to_be_bytes());
        out.extend_from_slice(&class.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        out.extend_from_slice(&(self.rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.rdata);
    }

    /// The Type Covered field.
    pub fn type_covered(&self) -> u16 {
        u16::from_be_bytes([self.rdata[0], self.rdata[1]])
    }

    /// The Key Tag field.
    pub fn key_tag(&self) -> u16 {
        u16::from_be_bytes([self.rdata[16], self.rdata[17]])
    }
}

/// Builds the data a signature covers (RFC 4034 §3.1.8.1) into `msg` and returns the length
/// of its RRSIG RDATA prefix (which, with the signature appended, is the RRSIG RDATA).
fn signed_data<R: AsRef<[u8]>>(
    msg: &mut Vec<u8>,
    rrset: &RrsetRef<'_, R>,
    key: &DnsKey,
    inception: u64,
    expiration: u64,
    canonical: &CanonicalRdatas,
) -> usize {
    msg.clear();
    msg.extend_from_slice(&rrset.rtype.to_be_bytes());
    msg.push(key.algorithm);
    msg.push(name::rrsig_labels(rrset.owner));
    msg.extend_from_slice(&rrset.ttl.to_be_bytes());
    // Serial number arithmetic (RFC 4034 §3.1.5): the low 32 bits.
    msg.extend_from_slice(&(expiration as u32).to_be_bytes());
    msg.extend_from_slice(&(inception as u32).to_be_bytes());
    msg.extend_from_slice(&key.tag().to_be_bytes());
    name::push_lowercase(msg, &key.owner);
    let prefix = msg.len();
    let owner_at = msg.len();
    name::push_lowercase(msg, rrset.owner);
    let owner = owner_at..msg.len();
    let mut head = [0u8; 8];
    head[..2].copy_from_slice(&rrset.rtype.to_be_bytes());
    head[2..4].copy_from_slice(&rrset.class.to_be_bytes());
    head[4..].copy_from_slice(&rrset.ttl.to_be_bytes());
    for (i, rdata) in canonical.iter().enumerate() {
        if i > 0 {
            msg.extend_from_within(owner.clone());
        }
        msg.extend_from_slice(&head);
        msg.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        msg.extend_from_slice(rdata);
    }
    prefix
}

/// Signs one RRset with one key, for the given validity window. `scratch` is reused between
/// calls so that a signing loop does not allocate per RRset beyond the result.
pub fn sign_rrset<R: AsRef<[u8]>>(
    rrset: &RrsetRef<'_, R>,
    key: &DnsKey,
    pair: &KeyPair,
    inception: u64,
    expiration: u64,
    scratch: &mut Scratch,
) -> Result<Rrsig, SignError> {
    let canonical = CanonicalRdatas::new(
        rrset.rtype,
        rrset.rdatas,
        std::mem::take(&mut scratch.rdata),
    );
    let prefix = signed_data(
        &mut scratch.msg,
        rrset,
        key,
        inception,
        expiration,
        &canonical,
    );
    scratch.rdata = canonical.into_buf();
    let sig = pair.sign(&scratch.msg)?;
    let mut rdata = Vec::with_capacity(prefix + sig.len());
    rdata.extend_from_slice(&scratch.msg[..prefix]);
    rdata.extend_from_slice(&sig);
    Ok(Rrsig {
        rdata: rdata.into(),
        expiration,
    })
}

/// Reusable buffers for signing.
#[derive(Debug, Default)]
pub struct Scratch {
    msg: Vec<u8>,
    rdata: Vec<u8>,
}

/// Which RRsets a key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Signs the DNSKEY RRset (and CDS, CDNSKEY) only.
    Ksk,
    /// Signs everything but the DNSKEY RRset.
    Zsk,
    /// Combined: signs everything.
    Csk,
}

struct ActiveKey {
    dnskey: DnsKey,
    pair: Arc<KeyPair>,
    role: Role,
}

/// Signs RRsets of one zone with its active keys, at a given time. Built from the zone's
/// keys each time the key set or the time changes state (a key activated or retired); cheap
/// to build (no key material is copied).
///
/// Roles follow the keys present, as BIND's and ldns's signers do: SEP keys (flags 257) are
/// KSKs when the zone also has an active non-SEP key (flags 256), else CSKs that sign
/// everything; non-SEP keys sign everything but DNSKEY, CDS and CDNSKEY, unless there is no
/// active SEP key.
pub struct ZoneSigner {
    zone: Vec<u8>,
    keys: Vec<ActiveKey>,
    published: Vec<DnsKey>,
    /// Identifies the signing keys and their roles (a hash): signatures cached under one id
    /// are never served for another.
    pub id: u32,
    /// Signature lifetime and refresh.
    pub validity: Validity,
}

impl std::fmt::Debug for ZoneSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|k| format!("{:?} {}/{}", k.role, k.dnskey.algorithm, k.dnskey.tag()))
            .collect();
        f.debug_struct("ZoneSigner")
            .field("zone", &name::to_text(&self.zone))
            .field("keys", &keys)
            .field("validity", &self.validity)
            .finish()
    }
}

/// A zone's keys, shared: the key pairs are read once and used by every signer built from
/// them.
pub struct KeySet {
    /// The zone's apex, lower-cased wire form.
    pub zone: Vec<u8>,
    keys: Vec<(DnsKey, crate::dnssec::key::Timing, Option<Arc<KeyPair>>)>,
}

impl KeySet {
    /// The key set of `zone` (any case) from its loaded keys.
    pub fn new(zone: &[u8], keys: Vec<ZoneKey>) -> Self {
        let mut z = zone.to_vec();
        name::lowercase_in_place(&mut z);
        Self {
            zone: z,
            keys: keys
                .into_iter()
                .map(|k| (k.dnskey, k.timing, k.pair.map(Arc::new)))
                .collect(),
        }
    }

    /// No keys at all.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The signer for the key states at `now`. `Err` when no key can sign.
    pub fn signer(&self, now: u64, validity: Validity) -> Result<ZoneSigner, String> {
        let published: Vec<DnsKey> = self
            .keys
            .iter()
            .filter(|(_, t, _)| t.is_published(now))
            .map(|(k, _, _)| k.clone())
            .collect();
        let active: Vec<(&DnsKey, &Arc<KeyPair>)> = self
            .keys
            .iter()
            .filter(|(k, t, p)| p.is_some() && t.is_active(now) && !k.is_revoked())
            .map(|(k, _, p)| (k, p.as_ref().expect("filtered")))
            .collect();
        if active.is_empty() {
            return Err(format!(
                "zone {} has no active key with its private key",
                name::to_text(&self.zone)
            ));
        }
        // Roles are decided per algorithm: each algorithm of the DNSKEY RRset must sign every
        // RRset by itself (RFC 4035 §2.2, RFC 6840 §5.11).
        let has = |alg: u8, sep: bool| {
            active
                .iter()
                .any(|(k, _)| k.algorithm == alg && k.is_sep() == sep)
        };
        let keys = active
            .iter()
            .map(|(k, p)| ActiveKey {
                dnskey: (*k).clone(),
                pair: (*p).clone(),
                role: match (k.is_sep(), has(k.algorithm, !k.is_sep())) {
                    (true, true) => Role::Ksk,
                    (false, true) => Role::Zsk,
                    (_, false) => Role::Csk,
                },
            })
            .collect::<Vec<ActiveKey>>();
        let id = keyset_id(&self.zone, &keys);
        Ok(ZoneSigner {
            zone: self.zone.clone(),
            keys,
            published,
            id,
            validity,
        })
    }

    /// The first time after `now` at which a key is published, activated, retired or
    /// deleted (the signer and the DNSKEY RRset then change), if any.
    pub fn next_event(&self, now: u64) -> Option<u64> {
        self.keys
            .iter()
            .flat_map(|(_, t, _)| {
                [
                    t.publish,
                    t.activate,
                    t.inactive,
                    t.delete,
                    t.sync_publish,
                    t.sync_delete,
                ]
            })
            .flatten()
            .filter(|&t| t > now)
            .min()
    }

    /// How many keys (published or not).
    pub fn len(&self) -> usize {
        self.keys.len()
    }
}

/// A 32-bit FNV-1a hash of the zone and its signing keys with their roles.
fn keyset_id(zone: &[u8], keys: &[ActiveKey]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut eat = |b: &[u8]| {
        for &x in b {
            h ^= u32::from(x);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    eat(zone);
    for k in keys {
        eat(&[k.role as u8]);
        eat(&k.dnskey.rdata());
    }
    h
}

impl ZoneSigner {
    /// The zone's apex, lower-cased wire form.
    pub fn zone(&self) -> &[u8] {
        &self.zone
    }

    /// The DNSKEY RDATAs to publish (every published key, signing or not).
    pub fn dnskey_rdatas(&self) -> Vec<Vec<u8>> {
        self.published.iter().map(DnsKey::rdata).collect()
    }

    /// The DS (CDS) RDATAs of the published SEP keys, SHA-256.
    pub fn cds_rdatas(&self) -> Vec<Vec<u8>> {
        self.published
            .iter()
            .filter(|k| k.is_sep() && !k.is_revoked())
            .map(DnsKey::ds_rdata)
            .collect()
    }

    /// The CDNSKEY RDATAs: the DNSKEYs of the published SEP keys.
    pub fn cdnskey_rdatas(&self) -> Vec<Vec<u8>> {
        self.published
            .iter()
            .filter(|k| k.is_sep() && !k.is_revoked())
            .map(DnsKey::rdata)
            .collect()
    }

    /// Algorithms of the signing keys (each RRset gets one signature per key that signs its
    /// type).
    pub fn algorithms(&self) -> Vec<Algorithm> {
        let mut a: Vec<Algorithm> = self
            .keys
            .iter()
            .filter_map(|k| Algorithm::from_number(k.dnskey.algorithm))
            .collect();
        a.sort_by_key(|x| x.number());
        a.dedup();
        a
    }

    fn signs(role: Role, rtype: u16) -> bool {
        let apex_keys = matches!(rtype, types::DNSKEY | types::CDS | types::CDNSKEY);
        match role {
            Role::Csk => true,
            Role::Ksk => apex_keys,
            Role::Zsk => !apex_keys,
        }
    }

    /// Number of signatures an RRset of `rtype` gets.
    pub fn signature_count(&self, rtype: u16) -> usize {
        self.keys
            .iter()
            .filter(|k| Self::signs(k.role, rtype))
            .count()
    }

    /// Signs `rrset` at `now` with every key whose role covers its type.
    pub fn sign<R: AsRef<[u8]>>(
        &self,
        rrset: &RrsetRef<'_, R>,
        now: u64,
        scratch: &mut Scratch,
    ) -> Result<Vec<Rrsig>, SignError> {
        let (inception, expiration) = self.validity.window(now);
        self.sign_window(rrset, inception, expiration, scratch)
    }

    /// Signs with an explicit validity window (tests, reproducible output).
    pub fn sign_window<R: AsRef<[u8]>>(
        &self,
        rrset: &RrsetRef<'_, R>,
        inception: u64,
        expiration: u64,
        scratch: &mut Scratch,
    ) -> Result<Vec<Rrsig>, SignError> {
        let mut out = Vec::with_capacity(1);
        for k in self
            .keys
            .iter()
            .filter(|k| Self::signs(k.role, rrset.rtype))
        {
            out.push(sign_rrset(
                rrset, &k.dnskey, &k.pair, inception, expiration, scratch,
            )?);
        }
        Ok(out)
    }
}

/// An RRset held in wire form (owner as spelled, RDATAs uncompressed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRrset {
    /// Owner name, as spelled.
    pub owner: Vec<u8>,
    /// Type.
    pub rtype: u16,
    /// Class.
    pub class: u16,
    /// TTL.
    pub ttl: u32,
    /// RDATAs, uncompressed.
    pub rdatas: Vec<Vec<u8>>,
}

impl OwnedRrset {
    /// Borrowed, for signing.
    pub fn as_ref(&self) -> RrsetRef<'_, Vec<u8>> {
        RrsetRef {
            owner: &self.owner,
            rtype: self.rtype,
            class: self.class,
            ttl: self.ttl,
            rdatas: &self.rdatas,
        }
    }
}

/// The wire form of an RRset of hickory records (as the zone module holds them). All records
/// must share owner, type and class; the first record's TTL is the RRset's. `None` for no
/// records or RDATA hickory cannot encode.
pub fn rrset_from_records(records: &[Record]) -> Option<OwnedRrset> {
    let first = records.first()?;
    let rdatas = records
        .iter()
        .map(|r| {
            let mut rdata = Vec::with_capacity(32);
            let mut enc = BinEncoder::new(&mut rdata);
            enc.set_name_encoding(NameEncoding::Uncompressed);
            r.data.emit(&mut enc).ok()?;
            Some(rdata)
        })
        .collect::<Option<Vec<_>>>()?;
    Some(OwnedRrset {
        owner: name::from_hickory(&first.name),
        rtype: u16::from(first.record_type()),
        class: u16::from(first.dns_class),
        ttl: first.ttl,
        rdatas,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dnssec::key::{self, FLAGS_KSK, FLAGS_ZSK, Timing};
    use ring::signature::{ECDSA_P256_SHA256_FIXED, ED25519, UnparsedPublicKey};

    fn zone() -> Vec<u8> {
        name::parse_text("example.com.").unwrap()
    }

    fn keys(specs: &[(key::Algorithm, u16)]) -> KeySet {
        let z = zone();
        let mut ks = Vec::new();
        for &(alg, flags) in specs {
            let dir = tempfile::tempdir().unwrap();
            let (_, base) = key::generate_into(dir.path(), &z, alg, flags, "test key", 0).unwrap();
            let mut w = Vec::new();
            ks.push(key::load_pair(&key::with_ext(&base, "key"), &mut w).unwrap());
            assert!(w.is_empty(), "{w:?}");
        }
        KeySet::new(&z, ks)
    }

    /// Rebuilds the signed data independently of `signed_data` (plain concatenation over
    /// hand-canonicalized input) and checks the signature against it.
    fn verify(rrsig: &Rrsig, dnskey_rdata: &[u8], owner_lc: &[u8], rrs: &[&[u8]]) -> bool {
        let sig_at = rrsig.rdata.len() - 64;
        let mut msg = rrsig.rdata[..sig_at].to_vec();
        for rr in rrs {
            msg.extend_from_slice(owner_lc);
            msg.extend_from_slice(rr);
        }
        let alg = dnskey_rdata[3];
        let mut pk = dnskey_rdata[4..].to_vec();
        let v: &dyn ring::signature::VerificationAlgorithm = if alg == 13 {
            pk.insert(0, 4);
            &ECDSA_P256_SHA256_FIXED
        } else {
            &ED25519
        };
        UnparsedPublicKey::new(v, &pk)
            .verify(&msg, &rrsig.rdata[sig_at..])
            .is_ok()
    }

    #[test]
    fn rrsig_fields_and_signature_verify() {
        for alg in [key::Algorithm::EcdsaP256Sha256, key::Algorithm::Ed25519] {
            let ks = keys(&[(alg, FLAGS_KSK)]);
            let signer = ks.signer(10_000, Validity::default()).unwrap();
            let owner = b"\x03WWW\x07Example\x03com\x00";
            // Given out of order; canonical order is 192.0.2.1 before 192.0.2.10.
            let rdatas: [&[u8]; 2] = [&[192, 0, 2, 10], &[192, 0, 2, 1]];
            let rrset = RrsetRef {
                owner,
                rtype: 1,
                class: 1,
                ttl: 300,
                rdatas: &rdatas,
            };
            let sigs = signer
                .sign(&rrset, 10_000, &mut Scratch::default())
                .unwrap();
            assert_eq!(sigs.len(), 1);
            let s = &sigs[0];
            assert_eq!(s.type_covered(), 1);
            assert_eq!(s.rdata[2], alg.number());
            assert_eq!(s.rdata[3], 3, "labels");
            assert_eq!(&s.rdata[4..8], &300u32.to_be_bytes());
            assert_eq!(&s.rdata[8..12], &(10_000u32 + 14 * 86_400).to_be_bytes());
            assert_eq!(&s.rdata[12..16], &(10_000u32 - 5400).to_be_bytes());
            let dnskey = signer.dnskey_rdatas().remove(0);
            assert_eq!(s.key_tag(), key::key_tag(&dnskey));
            assert_eq!(&s.rdata[18..31], b"\x07example\x03com\x00");
            let owner_lc = b"\x03www\x07example\x03com\x00";
            let rr = |last: u8| {
                let mut v = vec![0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2];
                v.push(last);
                v
            };
            assert!(verify(s, &dnskey, owner_lc, &[&rr(1), &rr(10)]));
            // The other order, or another TTL, is not what was signed.
            assert!(!verify(s, &dnskey, owner_lc, &[&rr(10), &rr(1)]));
            assert!(!verify(s, &dnskey, owner, &[&rr(1), &rr(10)]));
        }
    }

    #[test]
    fn wildcard_owner_sets_labels_and_is_signed_as_star() {
        let ks = keys(&[(key::Algorithm::Ed25519, FLAGS_KSK)]);
        let signer = ks.signer(0, Validity::default()).unwrap();
        let owner = b"\x01*\x07example\x03com\x00";
        let rdatas = [[192u8, 0, 2, 1]];
        let rrset = RrsetRef {
            owner,
            rtype: 1,
            class: 1,
            ttl: 60,
            rdatas: &rdatas,
        };
        let s = &signer
            .sign_window(&rrset, 0, 100_000, &mut Scratch::default())
            .unwrap()[0];
        assert_eq!(s.rdata[3], 2);
        let rr = [0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1];
        assert!(verify(s, &signer.dnskey_rdatas()[0], owner, &[&rr]));
    }

    #[test]
    fn roles_follow_the_key_set() {
        use key::Algorithm::*;
        let csk = keys(&[(EcdsaP256Sha256, FLAGS_KSK)]);
        let s = csk.signer(0, Validity::default()).unwrap();
        assert_eq!(s.signature_count(types::DNSKEY), 1);
        assert_eq!(s.signature_count(1), 1);

        let split = keys(&[(EcdsaP256Sha256, FLAGS_KSK), (EcdsaP256Sha256, FLAGS_ZSK)]);
        let s = split.signer(0, Validity::default()).unwrap();
        assert_eq!(s.signature_count(types::DNSKEY), 1);
        assert_eq!(s.signature_count(types::CDS), 1);
        assert_eq!(s.signature_count(1), 1);
        let mut scratch = Scratch::default();
        let rd = [[1u8, 2, 3, 4]];
        let a = RrsetRef {
            owner: &zone(),
            rtype: 1,
            class: 1,
            ttl: 1,
            rdatas: &rd,
        };
        let dk = RrsetRef {
            rtype: types::DNSKEY,
            ..a
        };
        let a_sig = &s.sign(&a, 0, &mut scratch).unwrap()[0];
        let dk_sig = &s.sign(&dk, 0, &mut scratch).unwrap()[0];
        assert_ne!(
            a_sig.key_tag(),
            dk_sig.key_tag(),
            "KSK and ZSK split the work"
        );

        // Per algorithm: a lone Ed25519 ZSK beside an ECDSA pair signs DNSKEY too.
        let mixed = keys(&[
            (EcdsaP256Sha256, FLAGS_KSK),
            (EcdsaP256Sha256, FLAGS_ZSK),
            (Ed25519, FLAGS_ZSK),
        ]);
        let s = mixed.signer(0, Validity::default()).unwrap();
        assert_eq!(s.signature_count(types::DNSKEY), 2);
        assert_eq!(s.signature_count(1), 2);

        let zsk_only = keys(&[(Ed25519, FLAGS_ZSK)]);
        let s = zsk_only.signer(0, Validity::default()).unwrap();
        assert_eq!(s.signature_count(types::DNSKEY), 1);
        assert_eq!(s.cds_rdatas().len(), 0);
    }

    #[test]
    fn inactive_and_public_only_keys_do_not_sign() {
        let z = zone();
        let dir = tempfile::tempdir().unwrap();
        let (_, a) =
            key::generate_into(dir.path(), &z, key::Algorithm::Ed25519, FLAGS_KSK, "k", 0).unwrap();
        let mut w = Vec::new();
        let mut k = key::load_pair(&key::with_ext(&a, "key"), &mut w).unwrap();
        k.timing = Timing {
            publish: Some(0),
            activate: Some(1000),
            ..Timing::default()
        };
        let ks = KeySet::new(&z, vec![k]);
        assert!(ks.signer(999, Validity::default()).is_err());
        let s = ks.signer(1000, Validity::default()).unwrap();
        assert_eq!(s.dnskey_rdatas().len(), 1);
        std::fs::remove_file(key::with_ext(&a, "private")).unwrap();
        let k = key::load_pair(&key::with_ext(&a, "key"), &mut w).unwrap();
        assert!(k.pair.is_none() && w.len() == 1);
        assert!(
            KeySet::new(&z, vec![k])
                .signer(2000, Validity::default())
                .is_err()
        );
    }

    #[test]
    fn validity_defaults_are_knots() {
        let v = Validity::default();
        assert_eq!(v.window(100_000), (100_000 - 5400, 100_000 + 1_209_600));
        // 1 h + TTL + 1.4 days.
        assert_eq!(v.refresh_before(300), 3600 + 300 + 120_960);
        assert_eq!(v.refresh_at(1_209_600, 300), 1_209_600 - 124_860);
        // A huge TTL is capped below the lifetime minus the pre-refresh.
        assert_eq!(v.refresh_before(u32::MAX), 1_209_600 - 3600 - 1);
        assert!(v.check().is_ok());
        assert!(
            Validity {
                refresh: Some(14 * 86_400),
                ..v
            }
            .check()
            .is_err()
        );
    }

    #[test]
    fn hickory_records_convert_with_names_uncompressed() {
        use hickory_proto::rr::rdata::MX;
        use hickory_proto::rr::{Name, RData};
        let n = Name::from_ascii("Example.com.").unwrap();
        let recs = vec![
            Record::from_rdata(
                n.clone(),
                60,
                RData::MX(MX::new(10, Name::from_ascii("Mail.Example.com.").unwrap())),
            ),
            Record::from_rdata(
                n,
                60,
                RData::MX(MX::new(20, Name::from_ascii("mx2.example.com.").unwrap())),
            ),
        ];
        let r = rrset_from_records(&recs).unwrap();
        let rd = &r.rdatas;
        assert_eq!(r.owner, b"\x07Example\x03com\x00");
        assert_eq!((r.rtype, r.class, r.ttl), (15, 1, 60));
        assert_eq!(rd[0], b"\x00\x0a\x04Mail\x07Example\x03com\x00");
        assert_eq!(rd[1], b"\x00\x14\x03mx2\x07example\x03com\x00");
    }
}
