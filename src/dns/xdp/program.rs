//! The XDP program (`bpf/xdp_dns.c`, embedded as checked-in bytecode): loading, the served
//! addresses map, the socket map, attaching to an interface and detaching.
//!
//! aya loads the object and attaches it through a bpf_link (Linux ≥ 5.9), not the older
//! netlink call: the link lives as long as its file descriptor, so the kernel detaches the
//! program whenever geosteer exits — a clean stop, an error path, a panic or SIGKILL alike —
//! and no stale program keeps redirecting the port to a socket that is gone.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;

use aya::maps::{HashMap as BpfHashMap, MapData, XskMap};
use aya::programs::{Xdp, XdpMode};
use aya::{Ebpf, EbpfLoader};

use super::XdpError;

/// The program's object code, built from `bpf/xdp_dns.c` by `bpf/build.sh`.
pub(crate) static OBJECT: &[u8] = aya::include_bytes_aligned!("bpf/xdp_dns.o");

/// The program's name in the object (its function name).
const PROGRAM: &str = "xdp_dns";
/// Queue index → AF_XDP socket.
const XSKS: &str = "xsks";
/// Served (address, port) pairs.
const ADDRS: &str = "dns_addrs";
/// Sizes of those maps in the object: the largest queue index + 1, and the most addresses.
pub(crate) const MAX_QUEUES: u32 = 256;
pub(crate) const MAX_ADDRS: usize = 256;

/// Key of `dns_addrs`; must match `struct addr_key` in `bpf/xdp_dns.c`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AddrKey {
    /// IPv4: the first 4 bytes, the rest zero. All zero: any address of the family.
    addr: [u8; 16],
    /// Network byte order, as in the packet.
    port_be: u16,
    family: u8,
    pad: u8,
}

// SAFETY: plain old data, no padding (16 + 2 + 1 + 1 bytes, alignment 2).
unsafe impl aya::Pod for AddrKey {}

impl AddrKey {
    /// The key that matches UDP packets to `addr`; an unspecified address (0.0.0.0, [::])
    /// matches every destination address of its family on the port.
    pub(crate) fn for_listen(addr: SocketAddr) -> Self {
        let mut a = [0u8; 16];
        let family = match addr.ip() {
            IpAddr::V4(v4) => {
                a[..4].copy_from_slice(&v4.octets());
                4
            }
            IpAddr::V6(v6) => {
                a = v6.octets();
                6
            }
        };
        Self {
            addr: a,
            port_be: addr.port().to_be(),
            family,
            pad: 0,
        }
    }
}

/// The program loaded for one interface, with its maps, attached until dropped.
pub(crate) struct Attached {
    pub(crate) iface: String,
    /// The object, its maps and the link (aya closes a program's links when it is dropped).
    ebpf: Option<Ebpf>,
    pub(crate) mode: &'static str,
}

impl Attached {
    /// Loads a fresh instance of the program (its own maps) and fills the address map.
    /// Nothing is attached yet.
    pub(crate) fn load(iface: &str, listen: &[SocketAddr]) -> Result<Loaded, XdpError> {
        let mut ebpf = EbpfLoader::new().load(OBJECT).map_err(|e| {
            XdpError::from_source(format!("--xdp {iface}: cannot load the XDP program"), &e)
        })?;
        {
            let map = ebpf
                .map_mut(ADDRS)
                .ok_or_else(|| XdpError::new(format!("XDP object has no map {ADDRS}")))?;
            let mut addrs: BpfHashMap<&mut MapData, AddrKey, u8> = BpfHashMap::try_from(map)
                .map_err(|e| XdpError::from_source(format!("--xdp {iface}: map {ADDRS}"), &e))?;
            for &addr in listen {
                addrs.insert(AddrKey::for_listen(addr), 1, 0).map_err(|e| {
                    XdpError::from_source(
                        format!("--xdp {iface}: cannot add {addr} to the XDP map"),
                        &e,
                    )
                })?;
            }
        }
        let prog: &mut Xdp = ebpf
            .program_mut(PROGRAM)
            .ok_or_else(|| XdpError::new(format!("XDP object has no program {PROGRAM}")))?
            .try_into()
            .map_err(|e| XdpError::from_source(PROGRAM.to_string(), &e))?;
        prog.load().map_err(|e| {
            XdpError::from_source(
                format!("--xdp {iface}: the kernel refused the XDP program"),
                &e,
            )
        })?;
        Ok(Loaded {
            iface: iface.to_string(),
            ebpf,
        })
    }
}

/// A loaded program whose socket map is being filled; [`Loaded::attach`] makes it live.
pub(crate) struct Loaded {
    iface: String,
    ebpf: Ebpf,
}

impl Loaded {
    /// Puts the AF_XDP socket `fd` in the map for `queue`.
    pub(crate) fn set_socket(&mut self, queue: u32, fd: impl AsRawFd) -> Result<(), XdpError> {
        let iface = &self.iface;
        let map = self
            .ebpf
            .map_mut(XSKS)
            .ok_or_else(|| XdpError::new(format!("XDP object has no map {XSKS}")))?;
        let mut xsks: XskMap<&mut MapData> = XskMap::try_from(map)
            .map_err(|e| XdpError::from_source(format!("--xdp {iface}: map {XSKS}"), &e))?;
        xsks.set(queue, fd, 0).map_err(|e| {
            XdpError::from_source(
                format!("--xdp {iface}@{queue}: cannot add its AF_XDP socket to the XDP map"),
                &e,
            )
        })
    }

    /// Attaches the program to the interface in native (driver) mode. Generic (skb) mode is
    /// not offered: it runs after the kernel has built the socket buffer, which is most of
    /// the cost AF_XDP exists to avoid.
    pub(crate) fn attach(mut self) -> Result<Attached, XdpError> {
        let iface = self.iface.clone();
        let prog: &mut Xdp = self
            .ebpf
            .program_mut(PROGRAM)
            .ok_or_else(|| XdpError::new(format!("XDP object has no program {PROGRAM}")))?
            .try_into()
            .map_err(|e| XdpError::from_source(PROGRAM.to_string(), &e))?;
        prog.attach(&iface, XdpMode::Driver).map_err(|e| {
            XdpError::from_source(format!("--xdp {iface}: cannot attach the XDP program"), &e)
                .attach_hint(&iface)
        })?;
        Ok(Attached {
            iface,
            ebpf: Some(self.ebpf),
            mode: "native",
        })
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        // Dropping the object closes the link: the kernel detaches the program.
        drop(self.ebpf.take());
        tracing::info!("xdp: program detached from {}", self.iface);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn bpf_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/dns/xdp/bpf")
    }

    fn is_root() -> bool {
        // SAFETY: no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn addr_key_layout_matches_the_program() {
        // struct addr_key: 16 address bytes, port (network order), family, pad.
        assert_eq!(std::mem::size_of::<AddrKey>(), 20);
        let k = AddrKey::for_listen("198.18.0.1:53".parse().unwrap());
        // SAFETY: AddrKey is plain data without padding (checked by the size above).
        let bytes: [u8; 20] = unsafe { std::mem::transmute(k) };
        assert_eq!(&bytes[..4], &[198, 18, 0, 1]);
        assert_eq!(&bytes[4..16], &[0; 12]);
        assert_eq!(&bytes[16..20], &[0, 53, 4, 0]);
        let any6 = AddrKey::for_listen("[::]:5353".parse().unwrap());
        let bytes: [u8; 20] = unsafe { std::mem::transmute(any6) };
        assert_eq!(&bytes[..16], &[0; 16]);
        assert_eq!(&bytes[16..20], &[0x14, 0xe9, 6, 0]);
    }

    /// The checked-in object is what `bpf/build.sh` makes from `bpf/xdp_dns.c`: byte for
    /// byte when the installed clang is the version that built it, else at least the
    /// source still builds (and, as root, loads). Skipped without clang.
    #[test]
    fn object_is_built_from_its_source() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("xdp_dns.o");
        let run = Command::new("sh")
            .arg(bpf_dir().join("build.sh"))
            .arg(&out)
            .output()
            .expect("run sh");
        let stderr = String::from_utf8_lossy(&run.stderr);
        if !run.status.success() && stderr.contains("clang not found") {
            eprintln!("skipped: no clang to rebuild the XDP program (apt-get install clang)");
            return;
        }
        assert!(run.status.success(), "build.sh failed: {stderr}");
        let built = std::fs::read(&out).unwrap();
        let clang = std::fs::read_to_string(out.with_extension("o.clang")).unwrap();
        let recorded = std::fs::read_to_string(bpf_dir().join("xdp_dns.o.clang")).unwrap();
        if clang == recorded {
            assert!(
                built == OBJECT,
                "src/dns/xdp/bpf/xdp_dns.o is not what xdp_dns.c builds: run src/dns/xdp/bpf/build.sh"
            );
        } else {
            eprintln!(
                "note: {} differs from {} which built the checked-in object: not compared",
                clang.trim(),
                recorded.trim()
            );
            if is_root() {
                let mut ebpf = EbpfLoader::new().load(&built).expect("fresh object parses");
                let prog: &mut Xdp = ebpf.program_mut(PROGRAM).unwrap().try_into().unwrap();
                prog.load().expect("fresh object passes the verifier");
            }
        }
    }

    /// The embedded object loads and passes the kernel's verifier (root only).
    #[test]
    fn object_passes_the_verifier() {
        if !is_root() {
            eprintln!("skipped: loading a BPF program needs root");
            return;
        }
        let listen = ["127.0.0.1:53".parse().unwrap(), "[::]:53".parse().unwrap()];
        if let Err(e) = Attached::load("lo", &listen) {
            panic!("{e}");
        }
    }
}
