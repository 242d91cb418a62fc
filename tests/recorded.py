"""dhcpd answers recorded from the lab (dhcpd 4.4.3-P1), for unit tests of decoding."""
from __future__ import annotations

import struct


def u32(v: int) -> bytes:
    return struct.pack("!I", v)


# A failover-state object as the primary answered it in normal state (lab, 2026-11-25).
FAILOVER_STATE_NORMAL = {
    "name": b"classroom-1-6",
    "partner-address": b"\xd0|!rqU\x00\x00",  # garbage: a pointer (facts file)
    "partner-port": b"\x00\x00\x02\x08",
    "local-address": b" |!rqU\x00\x00",
    "local-port": b"\x00\x00\x02\x07",
    "max-outstanding-updates": b"\x00\x00\x00\n",
    "mclt": b"\x00\x00\x00<",
    "load-balance-max-secs": b"\x00\x00\x00\x03",
    "load-balance-hba": b"\xff" * 16 + b"\x00" * 16,
    "partner-state": b"\x00\x00\x00\x02",
    "local-state": b"\x00\x00\x00\x02",
    "partner-stos": b"k\x06U\x14",
    "local-stos": b"k\x06T\xef",
    "hierarchy": b"\x00\x00\x00\x00",
    "last-packet-sent": b"\x00\x00\x00\x00",
    "last-timestamp-received": b"\x00\x00\x00\x00",
    "skew": b"\x00\x00\x00\x00",
    "max-response-delay": b"\x00\x00\x00\x0f",
    "cur-unacked-updates": b"\x00\x00\x00\x00",
}


def failover_state(local: int, partner: int, *, stos: int = 0x6B0654EF,
                   hierarchy: int = 0) -> dict[str, bytes]:
    attrs = dict(FAILOVER_STATE_NORMAL)
    attrs.update({"local-state": u32(local), "partner-state": u32(partner),
                  "local-stos": u32(stos), "hierarchy": u32(hierarchy)})
    return attrs


# One lease as each peer answered it, just after client 1 got it (lab, 2026-11-25).
LEASE_PRIMARY = {
    "state": b"\x00\x00\x00\x02", "ip-address": b"\xc6\x12\x0b/",
    "subnet": b"\x00\x00\x00\x04", "pool": b"\x00\x00\x00\x05",
    "hardware-address": b"\x02\x00\x00\x00\x00\x01", "hardware-type": b"\x00\x00\x00\x01",
    "ends": b"k\x06a?", "starts": b"k\x06a0", "tstp": b"k\x06a/", "tsfp": b"k\x06c\x8f",
    "atsfp": b"k\x06c\x8f", "cltt": b"\x00\x00\x00\x00", "flags": b"\x00",
}
LEASE_SECONDARY = {
    "state": b"\x00\x00\x00\x02", "ip-address": b"\xc6\x12\x0b/", "client-hostname": b"vm",
    "subnet": b"\x00\x00\x00\x04", "pool": b"\x00\x00\x00\x05",
    "hardware-address": b"\x02\x00\x00\x00\x00\x01", "hardware-type": b"\x00\x00\x00\x01",
    "ends": b"k\x06a?", "starts": b"k\x06a0", "tstp": b"k\x06c\x8f", "tsfp": b"k\x06a/",
    "atsfp": b"\x00\x00\x00\x00", "cltt": b"k\x06a0", "flags": b"\x00",
}
