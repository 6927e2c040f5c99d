//! Presentation format of the records this module makes (RRSIG, NSEC, DNSKEY, DS), for zone
//! files, key files and diagnostics.

use data_encoding::{BASE64, HEXUPPER};
use hickory_proto::rr::RecordType;

use super::denial::parse_bitmap;
use super::name;
use super::time;

/// A type's mnemonic, `TYPEnnn` (RFC 3597 §5) for those without one other tools read.
pub fn type_mnemonic(t: u16) -> String {
    match RecordType::from(t) {
        RecordType::Unknown(_) | RecordType::ZERO | RecordType::ANAME => format!("TYPE{t}"),
        rt => rt.to_string(),
    }
}

fn head(owner: &[u8], ttl: u32, rtype: &str) -> String {
    format!("{} {ttl} IN {rtype}", name::to_text(owner))
}

/// `owner TTL IN RRSIG type alg labels ttl expiration inception tag signer signature`.
pub fn rrsig(owner: &[u8], ttl: u32, rdata: &[u8]) -> Option<String> {
    if rdata.len() < 18 {
        return None;
    }
    let u16_at = |i: usize| u16::from_be_bytes([rdata[i], rdata[i + 1]]);
    let u32_at =
        |i: usize| u32::from_be_bytes([rdata[i], rdata[i + 1], rdata[i + 2], rdata[i + 3]]);
    let signer_len = name::check(&rdata[18..])?;
    Some(format!(
        "{} {} {} {} {} {} {} {} {} {}",
        head(owner, ttl, "RRSIG"),
        type_mnemonic(u16_at(0)),
        rdata[2],
        rdata[3],
        u32_at(4),
        time::format(u64::from(u32_at(8))),
        time::format(u64::from(u32_at(12))),
        u16_at(16),
        name::to_text(&rdata[18..18 + signer_len]),
        BASE64.encode(&rdata[18 + signer_len..])
    ))
}

/// `owner TTL IN NSEC next types…`.
pub fn nsec(owner: &[u8], ttl: u32, rdata: &[u8]) -> Option<String> {
    let next_len = name::check(rdata)?;
    let types = parse_bitmap(&rdata[next_len..])?;
    let mut s = format!(
        "{} {}",
        head(owner, ttl, "NSEC"),
        name::to_text(&rdata[..next_len])
    );
    for t in types {
        s.push(' ');
        s.push_str(&type_mnemonic(t));
    }
    Some(s)
}

/// `owner TTL IN DNSKEY flags protocol algorithm key`.
pub fn dnskey(owner: &[u8], ttl: u32, rdata: &[u8]) -> Option<String> {
    if rdata.len() < 5 {
        return None;
    }
    Some(format!(
        "{} {} {} {} {}",
        head(owner, ttl, "DNSKEY"),
        u16::from_be_bytes([rdata[0], rdata[1]]),
        rdata[2],
        rdata[3],
        BASE64.encode(&rdata[4..])
    ))
}

/// `owner TTL IN DS tag algorithm digest-type digest`.
pub fn ds(owner: &[u8], ttl: u32, rdata: &[u8]) -> Option<String> {
    if rdata.len() < 5 {
        return None;
    }
    Some(format!(
        "{} {} {} {} {}",
        head(owner, ttl, "DS"),
        u16::from_be_bytes([rdata[0], rdata[1]]),
        rdata[2],
        rdata[3],
        HEXUPPER.encode(&rdata[4..])
    ))
}

/// Any record in the generic form every master-file reader accepts (RFC 3597 §5).
pub fn generic(owner: &[u8], ttl: u32, rtype: u16, rdata: &[u8]) -> String {
    format!(
        "{} \\# {} {}",
        head(owner, ttl, &format!("TYPE{rtype}")),
        rdata.len(),
        if rdata.is_empty() {
            String::new()
        } else {
            HEXUPPER.encode(rdata)
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        let owner = name::parse_text("a.example.").unwrap();
        let mut rd = name::parse_text("\\000.a.example.").unwrap();
        super::super::denial::TypeSet::from_types(&[128, 46, 47]).write_bitmap(&mut rd);
        assert_eq!(
            nsec(&owner, 300, &rd).unwrap(),
            "a.example. 300 IN NSEC \\000.a.example. RRSIG NSEC TYPE128"
        );
        assert_eq!(type_mnemonic(1), "A");
        assert_eq!(type_mnemonic(65534), "TYPE65534");
        assert_eq!(
            generic(&owner, 5, 1, &[192, 0, 2, 1]),
            "a.example. 5 IN TYPE1 \\# 4 C0000201"
        );
    }
}
