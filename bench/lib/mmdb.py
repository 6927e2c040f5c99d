"""A small MaxMind DB (format 2.0) writer and reader, standard library only.

The benchmark needs GeoIP2-City-shaped databases that every peer can read (libmaxminddb in
gdnsd, Knot and PowerDNS; the maxminddb crate in geosteer) without fetching anything, so it
writes them itself. Spec: https://maxmind.github.io/MaxMind-DB/ (search tree, data section,
metadata). Only what the benchmark needs is implemented: an IPv6 tree (ip_version 6) with
IPv4 networks stored under ::/96 as GeoLite2 does, 28-bit records, and the data types used
by City databases (map, array, utf8 string, double, uint16/32/64, boolean).
"""

from __future__ import annotations

import ipaddress
import struct
import time

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"

# Data section type numbers.
T_POINTER, T_STRING, T_DOUBLE, T_BYTES, T_UINT16, T_UINT32, T_MAP = 1, 2, 3, 4, 5, 6, 7
T_INT32, T_UINT64, T_UINT128, T_ARRAY, T_BOOL, T_FLOAT = 8, 9, 10, 11, 14, 15


class U16(int):
    """An int to be encoded as uint16 (plain ints are uint32, or uint64 when large)."""


class U64(int):
    """An int to be encoded as uint64."""


def _ctrl(type_: int, size: int) -> bytes:
    if size < 29:
        first, extra = size, b""
    elif size < 29 + 256:
        first, extra = 29, bytes([size - 29])
    elif size < 285 + 65536:
        first, extra = 30, (size - 285).to_bytes(2, "big")
    else:
        first, extra = 31, (size - 65821).to_bytes(3, "big")
    if type_ <= 7:
        return bytes([(type_ << 5) | first]) + extra
    return bytes([first, type_ - 7]) + extra


def _uint(type_: int, v: int) -> bytes:
    raw = v.to_bytes((v.bit_length() + 7) // 8, "big") if v else b""
    return _ctrl(type_, len(raw)) + raw


def encode(v) -> bytes:
    """Encodes one value of the data section (no pointers: records are deduplicated whole)."""
    if isinstance(v, bool):
        return _ctrl(T_BOOL, int(v))
    if isinstance(v, U16):
        return _uint(T_UINT16, int(v))
    if isinstance(v, U64):
        return _uint(T_UINT64, int(v))
    if isinstance(v, int):
        if v < 0:
            raise ValueError("negative integers are not used here")
        return _uint(T_UINT32 if v < 2**32 else T_UINT64, v)
    if isinstance(v, float):
        return _ctrl(T_DOUBLE, 8) + struct.pack(">d", v)
    if isinstance(v, str):
        raw = v.encode()
        return _ctrl(T_STRING, len(raw)) + raw
    if isinstance(v, bytes):
        return _ctrl(T_BYTES, len(v)) + v
    if isinstance(v, dict):
        out = [_ctrl(T_MAP, len(v))]
        for k, x in v.items():
            out.append(encode(str(k)))
            out.append(encode(x))
        return b"".join(out)
    if isinstance(v, (list, tuple)):
        return _ctrl(T_ARRAY, len(v)) + b"".join(encode(x) for x in v)
    raise TypeError(f"cannot encode {type(v).__name__}")


class Writer:
    """Collects IPv4 networks with their records, then writes one .mmdb file.

    Networks must not overlap; insert them in any order. Each distinct record (compared by
    its encoding) is stored once in the data section, as real databases do.
    """

    def __init__(self, database_type: str = "GeoIP2-City", description: str = ""):
        self.database_type = database_type
        self.description = description
        # Trie nodes: [left, right]; a child is None (no data), ("n", index) or ("d", offset).
        self.nodes: list[list] = [[None, None]]
        self.data = bytearray()
        self.offsets: dict[bytes, int] = {}
        self.networks = 0

    def _data_offset(self, record) -> int:
        raw = encode(record)
        off = self.offsets.get(raw)
        if off is None:
            off = len(self.data)
            self.data += raw
            self.offsets[raw] = off
        return off

    def insert_v4(self, network: str | ipaddress.IPv4Network, record) -> None:
        net = ipaddress.IPv4Network(network)
        self.insert_bits(int(net.network_address), 128, 96 + net.prefixlen, record, v4=True)

    def insert_bits(self, addr: int, width: int, plen: int, record, v4: bool = False) -> None:
        """Inserts the network of `plen` bits at `addr` (an IPv4 address is put at ::/96)."""
        if v4:
            addr_bits, total = addr, 32
            bit = lambda i: 0 if i < 96 else (addr_bits >> (total - 1 - (i - 96))) & 1  # noqa: E731
        else:
            bit = lambda i: (addr >> (width - 1 - i)) & 1  # noqa: E731
        off = self._data_offset(record)
        node = 0
        for i in range(plen - 1):
            b = bit(i)
            child = self.nodes[node][b]
            if child is None:
                self.nodes.append([None, None])
                child = ("n", len(self.nodes) - 1)
                self.nodes[node][b] = child
            elif child[0] == "d":
                raise ValueError(f"network overlaps a shorter one already inserted (bit {i})")
            node = child[1]
        b = bit(plen - 1)
        if self.nodes[node][b] is not None:
            raise ValueError("network overlaps one already inserted")
        self.nodes[node][b] = ("d", off)
        self.networks += 1

    def write(self, path: str) -> None:
        n = len(self.nodes)
        record_size = 28 if n + 16 + len(self.data) < 2**28 else 32

        def value(child) -> int:
            if child is None:
                return n
            kind, x = child
            return x if kind == "n" else n + 16 + x

        tree = bytearray()
        for left, right in self.nodes:
            lv, rv = value(left), value(right)
            if record_size == 28:
                tree += (lv & 0xFFFFFF).to_bytes(3, "big")
                tree.append(((lv >> 24) << 4) | (rv >> 24))
                tree += (rv & 0xFFFFFF).to_bytes(3, "big")
            else:
                tree += lv.to_bytes(4, "big") + rv.to_bytes(4, "big")
        meta = {
            "binary_format_major_version": U16(2),
            "binary_format_minor_version": U16(0),
            "build_epoch": U64(int(time.time())),
            "database_type": self.database_type,
            "description": {"en": self.description or self.database_type},
            "ip_version": U16(6),
            "languages": ["en"],
            "node_count": n,
            "record_size": U16(record_size),
        }
        with open(path, "wb") as f:
            f.write(tree)
            f.write(b"\0" * 16)
            f.write(self.data)
            f.write(METADATA_MARKER)
            f.write(encode(meta))


class Reader:
    """Looks addresses up in a .mmdb file (any record size, IPv4 or IPv6 tree)."""

    def __init__(self, path: str):
        with open(path, "rb") as f:
            self.buf = f.read()
        at = self.buf.rfind(METADATA_MARKER)
        if at < 0:
            raise ValueError(f"{path}: no MaxMind DB metadata marker")
        self.meta, _ = self._decode(at + len(METADATA_MARKER), 0)
        self.node_count = self.meta["node_count"]
        self.record_size = self.meta["record_size"]
        self.ip_version = self.meta["ip_version"]
        self.tree_size = self.node_count * self.record_size * 2 // 8
        self.data_start = self.tree_size + 16

    def _record(self, node: int, bit: int) -> int:
        rs, b = self.record_size, self.buf
        base = node * rs * 2 // 8
        if rs == 24:
            o = base + 3 * bit
            return int.from_bytes(b[o : o + 3], "big")
        if rs == 28:
            mid = b[base + 3]
            if bit == 0:
                return ((mid >> 4) << 24) | int.from_bytes(b[base : base + 3], "big")
            return ((mid & 0x0F) << 24) | int.from_bytes(b[base + 4 : base + 7], "big")
        o = base + 4 * bit
        return int.from_bytes(b[o : o + 4], "big")

    def lookup(self, ip: str):
        """Returns (record or None, prefix length of the network that matched)."""
        addr = ipaddress.ip_address(ip)
        if addr.version == 4 and self.ip_version == 6:
            bits, width = int(addr), 128  # ::a.b.c.d, as libmaxminddb does
        else:
            bits, width = int(addr), addr.max_prefixlen
        node, depth = 0, 0
        while depth < width and node < self.node_count:
            node = self._record(node, (bits >> (width - 1 - depth)) & 1)
            depth += 1
        if node == self.node_count or node < self.node_count:
            rec = None
        else:
            rec, _ = self._decode(self.data_start + node - self.node_count - 16, self.data_start)
        plen = depth - 96 if (addr.version == 4 and self.ip_version == 6) else depth
        return rec, max(plen, 0)

    def _decode(self, off: int, base: int):
        b = self.buf
        ctrl = b[off]
        off += 1
        t = ctrl >> 5
        if t == T_POINTER:
            ss = (ctrl >> 3) & 3
            vvv = ctrl & 7
            if ss == 0:
                p = (vvv << 8) | b[off]
                off += 1
            elif ss == 1:
                p = ((vvv << 16) | int.from_bytes(b[off : off + 2], "big")) + 2048
                off += 2
            elif ss == 2:
                p = ((vvv << 24) | int.from_bytes(b[off : off + 3], "big")) + 526336
                off += 3
            else:
                p = int.from_bytes(b[off : off + 4], "big")
                off += 4
            v, _ = self._decode(base + p, base)
            return v, off
        if t == 0:
            t = b[off] + 7
            off += 1
        size = ctrl & 0x1F
        if size == 29:
            size = 29 + b[off]
            off += 1
        elif size == 30:
            size = 285 + int.from_bytes(b[off : off + 2], "big")
            off += 2
        elif size == 31:
            size = 65821 + int.from_bytes(b[off : off + 3], "big")
            off += 3
        if t == T_MAP:
            out = {}
            for _ in range(size):
                k, off = self._decode(off, base)
                v, off = self._decode(off, base)
                out[k] = v
            return out, off
        if t == T_ARRAY:
            out = []
            for _ in range(size):
                v, off = self._decode(off, base)
                out.append(v)
            return out, off
        if t == T_BOOL:
            return bool(size), off
        raw = b[off : off + size]
        off += size
        if t == T_STRING:
            return raw.decode(), off
        if t == T_DOUBLE:
            return struct.unpack(">d", raw)[0], off
        if t == T_FLOAT:
            return struct.unpack(">f", raw)[0], off
        if t == T_BYTES:
            return bytes(raw), off
        if t == T_INT32:
            return int.from_bytes(raw, "big", signed=True) if size == 4 else int.from_bytes(raw, "big"), off
        return int.from_bytes(raw, "big"), off
