// SPDX-License-Identifier: MIT OR Apache-2.0
//
// geosteer's XDP program: sends the DNS queries geosteer serves to its AF_XDP sockets and
// passes every other frame to the kernel untouched.
//
// A frame is redirected to the AF_XDP socket of the queue it arrived on (map `xsks`, filled
// by geosteer with one socket per served queue) when it is, at fixed offsets and without
// options or extension headers:
//   Ethernet (no VLAN tag, unicast destination MAC)
//   -> IPv4 (IHL 5, not a fragment) or IPv6 (next header UDP)
//   -> UDP to a (destination address, port) in map `dns_addrs`, or to a port listed there
//      with the all-zero address (a wildcard listen address, 0.0.0.0 or [::]).
// Everything else -- ARP, ICMP and ICMPv6 (neighbour discovery), TCP, other UDP, IP options,
// fragments, VLAN-tagged and broadcast/multicast frames, frames too long for a UMEM frame
// (MAX_FRAME) -- gets XDP_PASS, and so does a
// matching frame whose queue has no socket (bpf_redirect_map's fallback action). The kernel
// handles those as if no program were attached, through geosteer's ordinary sockets.
//
// The program keeps no state and allocates nothing; the frame is not modified.
//
// Built by build.sh (clang -target bpf, no system headers: the few kernel definitions used
// are written out below, so the object depends on nothing but the compiler). The object
// built from this file is checked in beside it as xdp_dns.o and embedded in the binary.

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))

// From linux/bpf.h (stable kernel ABI).
enum { XDP_ABORTED = 0, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT };
#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_XSKMAP 17

struct xdp_md {
	__u32 data;
	__u32 data_end;
	__u32 data_meta;
	__u32 ingress_ifindex;
	__u32 rx_queue_index;
	__u32 egress_ifindex;
};

// Legacy map definitions ("maps" section): five u32s, as every loader reads them.
struct bpf_map_def {
	__u32 type;
	__u32 key_size;
	__u32 value_size;
	__u32 max_entries;
	__u32 map_flags;
};

// Helper calls by their stable numbers.
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_redirect_map)(void *map, __u64 key, __u64 flags) = (void *)51;

// Key of `dns_addrs`; must match `AddrKey` in src/dns/xdp/program.rs.
struct addr_key {
	__u8 addr[16]; // IPv4: the first 4 bytes, the rest zero; all zero: any address
	__u16 port;    // network byte order
	__u8 family;   // 4 or 6
	__u8 pad;
};

#define MAX_QUEUES 256
#define MAX_ADDRS 256

SEC("maps")
struct bpf_map_def xsks = {
	.type = BPF_MAP_TYPE_XSKMAP,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = MAX_QUEUES,
};

SEC("maps")
struct bpf_map_def dns_addrs = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(struct addr_key),
	.value_size = sizeof(__u8),
	.max_entries = MAX_ADDRS,
};

// The longest frame an AF_XDP frame of geosteer's holds: 2048-byte chunks less the
// kernel's 256 bytes of headroom (src/dns/xdp/socket.rs, FRAME_SIZE). Longer queries (jumbo
// frames) are left to the kernel and geosteer's sockets.
#define MAX_FRAME (2048 - 256)
#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_UDP 17

static inline __u16 be16(__u16 x) { return __builtin_bswap16(x); }

SEC("xdp")
int xdp_dns(struct xdp_md *ctx)
{
	__u8 *data = (__u8 *)(long)ctx->data;
	__u8 *end = (__u8 *)(long)ctx->data_end;
	struct addr_key key = {};
	__u8 *udp;

	if (data + ETH_HLEN > end || end - data > MAX_FRAME)
		return XDP_PASS;
	// Broadcast and multicast frames are never DNS queries to us.
	if (data[0] & 1)
		return XDP_PASS;
	__u16 proto = *(__u16 *)(data + 12);
	__u8 *ip = data + ETH_HLEN;

	if (proto == be16(ETH_P_IP)) {
		if (ip + 20 > end)
			return XDP_PASS;
		if (ip[0] != 0x45 || ip[9] != IPPROTO_UDP)
			return XDP_PASS;
		// More fragments, or a fragment offset: the kernel reassembles.
		if (*(__u16 *)(ip + 6) & be16(0x3fff))
			return XDP_PASS;
		__builtin_memcpy(key.addr, ip + 16, 4);
		key.family = 4;
		udp = ip + 20;
	} else if (proto == be16(ETH_P_IPV6)) {
		if (ip + 40 > end)
			return XDP_PASS;
		if ((ip[0] >> 4) != 6 || ip[6] != IPPROTO_UDP)
			return XDP_PASS;
		__builtin_memcpy(key.addr, ip + 24, 16);
		key.family = 6;
		udp = ip + 40;
	} else {
		return XDP_PASS;
	}
	if (udp + 8 > end)
		return XDP_PASS;
	key.port = *(__u16 *)(udp + 2);

	if (!bpf_map_lookup_elem(&dns_addrs, &key)) {
		__builtin_memset(key.addr, 0, sizeof(key.addr));
		if (!bpf_map_lookup_elem(&dns_addrs, &key))
			return XDP_PASS;
	}
	// No socket on this queue: XDP_PASS (the low bits of flags are the fallback action).
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "Dual MIT/GPL";
