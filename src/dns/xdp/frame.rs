//! Ethernet/IP/UDP framing for the AF_XDP path: reading a query frame and turning it, in
//! place, into the reply frame.
//!
//! The XDP program (`bpf/xdp_dns.c`) only redirects frames of the shape read here, but this
//! side checks every length again: what reaches user space is never trusted. A frame that is
//! not exactly that shape is dropped (the kernel never sees it: it was redirected).
//!
//! Hand-written: the layouts are fixed (no options, no extension headers, no VLAN tag) and
//! the whole job is a few loads and stores per frame; a general packet crate would parse
//! more than the program lets through and allocate nothing less.
//!
//! Checksums: the IPv4 header checksum and the UDP checksum (mandatory for IPv6, RFC 8200
//! §8.1; also computed for IPv4, where it is optional) are computed for every reply. The UDP
//! checksum of a *query* is not verified, as Knot DNS does not verify it either: on veth and
//! with checksum offload the frame a local sender hands over carries only the pseudo-header
//! sum (the hardware is expected to finish it), so verifying would drop valid queries; a
//! query damaged in transit at worst gets an answer that its client does not match.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;

pub const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;
const IPV4_HLEN: usize = 20;
const IPV6_HLEN: usize = 40;
const UDP_HLEN: usize = 8;
const IPPROTO_UDP: u8 = 17;
/// TTL / hop limit of replies (Linux's default).
const HOP_LIMIT: u8 = 64;

/// A parsed query frame: where its DNS payload lies, and who sent it to which address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// The DNS message: a range of the frame.
    pub payload: (usize, usize),
    pub src: SocketAddr,
    pub dst: SocketAddr,
}

impl Query {
    pub fn payload(&self) -> Range<usize> {
        self.payload.0..self.payload.1
    }

    /// Length of the Ethernet, IP and UDP headers in front of the payload.
    pub fn header_len(&self) -> usize {
        self.payload.0
    }
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Reads a query frame. `None`: not an Ethernet/IPv4-or-IPv6/UDP frame of the shape the XDP
/// program redirects, inconsistent lengths, or a source that must not be answered (port 0,
/// unspecified, multicast, broadcast or loopback addresses: spoofed or broken).
pub fn parse(frame: &[u8]) -> Option<Query> {
    if frame.len() < ETH_HLEN || frame[0] & 1 != 0 {
        return None;
    }
    let ip = ETH_HLEN;
    let (src_ip, dst_ip, udp, ip_end) = match be16(frame, 12) {
        ETH_P_IP => {
            let h = frame.get(ip..ip + IPV4_HLEN)?;
            // Version 4, no options; UDP; not a fragment (MF clear, offset 0).
            if h[0] != 0x45 || h[9] != IPPROTO_UDP || be16(h, 6) & 0x3fff != 0 {
                return None;
            }
            let total = usize::from(be16(h, 2));
            if total < IPV4_HLEN + UDP_HLEN || ip + total > frame.len() {
                return None;
            }
            let src = Ipv4Addr::new(h[12], h[13], h[14], h[15]);
            let dst = Ipv4Addr::new(h[16], h[17], h[18], h[19]);
            if src.is_unspecified()
                || src.is_multicast()
                || src.is_broadcast()
                || src.is_loopback()
                || dst.is_multicast()
                || dst.is_broadcast()
            {
                return None;
            }
            (IpAddr::V4(src), IpAddr::V4(dst), ip + IPV4_HLEN, ip + total)
        }
        ETH_P_IPV6 => {
            let h = frame.get(ip..ip + IPV6_HLEN)?;
            if h[0] >> 4 != 6 || h[6] != IPPROTO_UDP {
                return None;
            }
            let payload = usize::from(be16(h, 4));
            if payload < UDP_HLEN || ip + IPV6_HLEN + payload > frame.len() {
                return None;
            }
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(&h[8..24]).ok()?);
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&h[24..40]).ok()?);
            if src.is_unspecified() || src.is_multicast() || src.is_loopback() || dst.is_multicast()
            {
                return None;
            }
            (
                IpAddr::V6(src),
                IpAddr::V6(dst),
                ip + IPV6_HLEN,
                ip + IPV6_HLEN + payload,
            )
        }
        _ => return None,
    };
    let u = frame.get(udp..udp + UDP_HLEN)?;
    let (sport, dport, ulen) = (be16(u, 0), be16(u, 2), usize::from(be16(u, 4)));
    // The UDP length must fit the IP payload (Ethernet padding may follow it).
    if sport == 0 || ulen < UDP_HLEN || udp + ulen > ip_end {
        return None;
    }
    Some(Query {
        payload: (udp + UDP_HLEN, udp + ulen),
        src: SocketAddr::new(src_ip, sport),
        dst: SocketAddr::new(dst_ip, dport),
    })
}

/// Turns the query frame in `frame` (parsed as `q`) into the reply carrying `answer`, in
/// place: MAC addresses, IP addresses and ports swapped, lengths and checksums set, the
/// answer behind the headers. The headers keep their offsets (they have the query's
/// shape). Returns the reply frame's length, or `None` when `frame` is too short for it.
pub fn write_reply(frame: &mut [u8], q: &Query, answer: &[u8]) -> Option<usize> {
    let hl = q.header_len();
    let len = hl + answer.len();
    if len > frame.len() || answer.len() > usize::from(u16::MAX) - IPV6_HLEN - UDP_HLEN {
        return None;
    }
    frame[hl..len].copy_from_slice(answer);
    // Ethernet: back to the sender's MAC (the last hop), from the address it sent to.
    let (dst_mac, src_mac) = frame[..12].split_at_mut(6);
    dst_mac.swap_with_slice(src_mac);
    let ip = ETH_HLEN;
    let udp_len = (UDP_HLEN + answer.len()) as u16;
    let udp;
    let mut sum;
    match (q.src.ip(), q.dst.ip()) {
        (IpAddr::V4(client), IpAddr::V4(server)) => {
            let h = &mut frame[ip..ip + IPV4_HLEN];
            h[0] = 0x45;
            h[1] = 0; // DSCP/ECN
            h[2..4].copy_from_slice(&(IPV4_HLEN as u16 + udp_len).to_be_bytes());
            h[4..6].copy_from_slice(&[0, 0]); // identification: unused with DF
            h[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // DF
            h[8] = HOP_LIMIT;
            h[9] = IPPROTO_UDP;
            h[10..12].copy_from_slice(&[0, 0]);
            h[12..16].copy_from_slice(&server.octets());
            h[16..20].copy_from_slice(&client.octets());
            let c = fold(sum_words(h, 0));
            h[10..12].copy_from_slice(&(!c).to_be_bytes());
            udp = ip + IPV4_HLEN;
            // Pseudo-header: addresses, protocol, UDP length.
            sum = sum_words(&h[12..20], 0) + u32::from(IPPROTO_UDP) + u32::from(udp_len);
        }
        (IpAddr::V6(client), IpAddr::V6(server)) => {
            let h = &mut frame[ip..ip + IPV6_HLEN];
            h[0..4].copy_from_slice(&0x6000_0000u32.to_be_bytes()); // no class, no flow label
            h[4..6].copy_from_slice(&udp_len.to_be_bytes());
            h[6] = IPPROTO_UDP;
            h[7] = HOP_LIMIT;
            h[8..24].copy_from_slice(&server.octets());
            h[24..40].copy_from_slice(&client.octets());
            udp = ip + IPV6_HLEN;
            sum = sum_words(&h[8..40], 0) + u32::from(IPPROTO_UDP) + u32::from(udp_len);
        }
        _ => return None,
    }
    let u = &mut frame[udp..len];
    u[0..2].copy_from_slice(&q.dst.port().to_be_bytes());
    u[2..4].copy_from_slice(&q.src.port().to_be_bytes());
    u[4..6].copy_from_slice(&udp_len.to_be_bytes());
    u[6..8].copy_from_slice(&[0, 0]);
    sum = sum_words(u, sum);
    // A computed 0 is sent as all ones: 0 means "no checksum" (RFC 768; RFC 8200 §8.1).
    let c = match !fold(sum) {
        0 => 0xffff,
        c => c,
    };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    Some(len)
}

/// The one's-complement sum of `data` as big-endian 16-bit words (an odd last byte padded
/// with zero), added to `acc`, not folded. Callers keep inputs far below 2^16 words.
#[inline]
fn sum_words(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for w in &mut chunks {
        acc += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

#[inline]
fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
    const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

    /// A query frame as a client's kernel would build it (checksums filled in).
    fn frame(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&SERVER_MAC);
        f.extend_from_slice(&CLIENT_MAC);
        let udp_len = (8 + payload.len()) as u16;
        let mut udp = Vec::new();
        udp.extend_from_slice(&src.port().to_be_bytes());
        udp.extend_from_slice(&dst.port().to_be_bytes());
        udp.extend_from_slice(&udp_len.to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(payload);
        match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                f.extend_from_slice(&ETH_P_IP.to_be_bytes());
                let mut h = vec![0x45, 0];
                h.extend_from_slice(&(20 + udp_len).to_be_bytes());
                h.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, 17, 0, 0]);
                h.extend_from_slice(&s.octets());
                h.extend_from_slice(&d.octets());
                let c = !fold(sum_words(&h, 0));
                h[10..12].copy_from_slice(&c.to_be_bytes());
                f.extend_from_slice(&h);
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                f.extend_from_slice(&ETH_P_IPV6.to_be_bytes());
                f.extend_from_slice(&[0x60, 0x01, 0x23, 0x45]);
                f.extend_from_slice(&udp_len.to_be_bytes());
                f.extend_from_slice(&[17, 64]);
                f.extend_from_slice(&s.octets());
                f.extend_from_slice(&d.octets());
            }
            _ => unreachable!(),
        }
        f.extend_from_slice(&udp);
        f
    }

    /// Verifies the checksums of a frame the way a receiver does: the sum over the header
    /// (IPv4) and over pseudo-header + UDP must fold to 0xffff.
    fn checksums_ok(f: &[u8]) -> bool {
        let ip = ETH_HLEN;
        match be16(f, 12) {
            ETH_P_IP => {
                let h = &f[ip..ip + 20];
                if fold(sum_words(h, 0)) != 0xffff {
                    return false;
                }
                let ulen = be16(f, ip + 24);
                let pseudo = sum_words(&h[12..20], 0) + 17 + u32::from(ulen);
                fold(sum_words(&f[ip + 20..ip + 20 + usize::from(ulen)], pseudo)) == 0xffff
            }
            ETH_P_IPV6 => {
                let ulen = be16(f, ip + 4);
                let pseudo = sum_words(&f[ip + 8..ip + 40], 0) + 17 + u32::from(ulen);
                be16(f, ip + 46) != 0
                    && fold(sum_words(&f[ip + 40..ip + 40 + usize::from(ulen)], pseudo)) == 0xffff
            }
            _ => false,
        }
    }

    fn v4(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_ipv4_and_ipv6_queries() {
        for (src, dst) in [
            (v4("198.18.0.2:40000"), v4("198.18.0.1:53")),
            (v4("[2001:db8::2]:40000"), v4("[2001:db8::1]:53")),
        ] {
            let f = frame(src, dst, b"query bytes");
            let q = parse(&f).expect("parsed");
            assert_eq!((q.src, q.dst), (src, dst));
            assert_eq!(&f[q.payload()], b"query bytes");
        }
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let mut f = frame(v4("198.18.0.2:40000"), v4("198.18.0.1:53"), b"q");
        f.resize(60, 0); // a minimum-size Ethernet frame
        let q = parse(&f).unwrap();
        assert_eq!(&f[q.payload()], b"q");
    }

    #[test]
    fn rejects_what_it_cannot_answer() {
        let good = frame(v4("198.18.0.2:40000"), v4("198.18.0.1:53"), b"query");
        assert!(parse(&good).is_some());
        let bad = |edit: &dyn Fn(&mut Vec<u8>)| {
            let mut f = good.clone();
            edit(&mut f);
            parse(&f).is_none()
        };
        assert!(bad(&|f| f.truncate(13)), "short Ethernet");
        assert!(bad(&|f| f.truncate(14 + 19)), "short IP header");
        assert!(bad(&|f| f.truncate(14 + 20 + 7)), "short UDP header");
        assert!(
            bad(&|f| f.truncate(f.len() - 1)),
            "IP total length beyond the frame"
        );
        assert!(bad(&|f| f[0] |= 1), "multicast destination MAC");
        assert!(
            bad(&|f| f[12..14].copy_from_slice(&0x8100u16.to_be_bytes())),
            "VLAN"
        );
        assert!(
            bad(&|f| f[12..14].copy_from_slice(&0x0806u16.to_be_bytes())),
            "ARP"
        );
        assert!(bad(&|f| f[14] = 0x46), "IP options");
        assert!(bad(&|f| f[14 + 9] = 6), "TCP");
        assert!(bad(&|f| f[14 + 6] |= 0x20), "more fragments");
        assert!(bad(&|f| f[14 + 7] = 1), "fragment offset");
        assert!(
            bad(&|f| f[14 + 12..14 + 16].copy_from_slice(&[0; 4])),
            "source 0.0.0.0"
        );
        assert!(bad(&|f| f[14 + 12] = 127), "source loopback");
        assert!(bad(&|f| f[14 + 12] = 224), "source multicast");
        assert!(
            bad(&|f| f[14 + 16..14 + 20].copy_from_slice(&[255; 4])),
            "to broadcast"
        );
        assert!(
            bad(&|f| f[34..36].copy_from_slice(&[0, 0])),
            "source port 0"
        );
        assert!(
            bad(&|f| f[38..40].copy_from_slice(&[0, 7])),
            "UDP length < 8"
        );
        assert!(
            bad(&|f| f[38..40].copy_from_slice(&[0, 200])),
            "UDP length > IP"
        );
        // The DNS payload itself is the answerer's business (FORMERR, or no answer): an
        // empty one parses.
        let mut short = good.clone();
        short.truncate(14 + 28);
        short[16..18].copy_from_slice(&28u16.to_be_bytes());
        short[38..40].copy_from_slice(&8u16.to_be_bytes());
        assert_eq!(parse(&short).unwrap().payload().len(), 0);

        let good6 = frame(v4("[2001:db8::2]:40000"), v4("[2001:db8::1]:53"), b"query");
        assert!(parse(&good6).is_some());
        let bad6 = |edit: &dyn Fn(&mut Vec<u8>)| {
            let mut f = good6.clone();
            edit(&mut f);
            parse(&f).is_none()
        };
        assert!(bad6(&|f| f[14 + 6] = 0), "hop-by-hop extension header");
        assert!(bad6(&|f| f[14 + 6] = 58), "ICMPv6");
        assert!(bad6(&|f| f[14] = 0x40), "IP version 4 in an IPv6 frame");
        assert!(bad6(&|f| f[14 + 8] = 0xff), "multicast source");
        assert!(bad6(&|f| f[14 + 24] = 0xff), "multicast destination");
        assert!(
            bad6(&|f| f[14 + 8..14 + 24].copy_from_slice(&[0; 16])),
            "source ::"
        );
        assert!(
            bad6(&|f| f.truncate(f.len() - 1)),
            "payload length beyond the frame"
        );
    }

    #[test]
    fn reply_swaps_addresses_and_has_valid_checksums() {
        for (src, dst) in [
            (v4("198.18.0.2:40000"), v4("198.18.0.1:53")),
            (v4("198.18.255.254:65535"), v4("198.19.0.1:5353")),
            (v4("[2001:db8::2]:40000"), v4("[2001:db8::1]:53")),
            (v4("[fe80::1:2]:1"), v4("[2001:db8:ffff::ffff]:53")),
        ] {
            // Odd and even answer lengths (the checksum pads an odd last byte).
            for answer_len in [0usize, 1, 12, 61, 512, 1232] {
                let mut f = frame(src, dst, b"the query");
                let q = parse(&f).unwrap();
                f.resize(2048, 0xAA);
                let answer: Vec<u8> = (0..answer_len).map(|i| (i * 7 + 3) as u8).collect();
                let len = write_reply(&mut f, &q, &answer).expect("fits");
                let r = &f[..len];
                assert!(checksums_ok(r), "{src} -> {dst}, {answer_len} bytes");
                // The reply, read as a frame, goes back the other way.
                assert_eq!(&r[..6], &CLIENT_MAC);
                assert_eq!(&r[6..12], &SERVER_MAC);
                let mut as_query = r.to_vec();
                as_query[0] &= !1;
                let back = parse(&as_query).expect("reply parses");
                assert_eq!((back.src, back.dst), (dst, src));
                assert_eq!(&r[back.payload()], &answer[..]);
                assert_eq!(back.payload().end, len);
                if src.is_ipv4() {
                    assert_eq!(r[14 + 8], HOP_LIMIT);
                    assert_eq!(be16(r, 14 + 6), 0x4000, "DF, no fragment");
                } else {
                    assert_eq!(&r[14..18], &[0x60, 0, 0, 0]);
                    assert_eq!(r[14 + 7], HOP_LIMIT);
                }
            }
        }
    }

    #[test]
    fn checksum_matches_a_known_packet() {
        // RFC 1071's example words: 0x0001 0xf203 0xf4f5 0xf6f7 sum to 0xddf2 (folded).
        assert_eq!(
            fold(sum_words(
                &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7],
                0
            )),
            0xddf2
        );
        // A real IPv4 header (from a capture): its checksum field is 0xb861.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(!fold(sum_words(&h, 0)), 0xb861);
    }

    #[test]
    fn reply_that_does_not_fit_is_refused() {
        let mut f = frame(v4("198.18.0.2:40000"), v4("198.18.0.1:53"), b"q");
        let q = parse(&f).unwrap();
        let room = f.len() - q.header_len();
        assert!(write_reply(&mut f, &q, &vec![0; room + 1]).is_none());
        assert!(write_reply(&mut f, &q, &vec![0; room]).is_some());
    }
}
