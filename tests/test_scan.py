"""omapifo._scan: the lean codec matches pypureomapi byte for byte and checks signatures."""
from __future__ import annotations

import base64
import ipaddress

import pypureomapi
import pytest

from omapifo import OmapiKey, ProtocolError
from omapifo._omapi import _HMACAuthenticator
from omapifo._scan import MAX_WINDOW, decode, encode_open, lease_states

KEY = OmapiKey("omapi_key", base64.b64encode(b"k" * 32).decode())


@pytest.mark.parametrize("algorithm", ["hmac-md5", "hmac-sha256", "hmac-sha512"])
def test_encoded_lookup_equals_pypureomapis_bytes(algorithm):
    auth = _HMACAuthenticator(OmapiKey(KEY.name, KEY.secret, algorithm))
    auth.authid = 7
    msg = pypureomapi.OmapiMessage.open(b"lease")
    msg.obj.append((b"ip-address", ipaddress.IPv4Address("198.18.11.40").packed))
    msg.tid = 123456
    msg.sign(auth)
    ours = encode_open(123456, [(b"ip-address", ipaddress.IPv4Address("198.18.11.40").packed)],
                       7, auth.authlen, auth.sign)
    assert ours == msg.as_string()


def answer(auth, rid: int, obj, opcode=pypureomapi.OMAPI_OP_UPDATE) -> bytes:
    msg = pypureomapi.OmapiMessage(opcode=opcode, handle=3, tid=99, rid=rid, obj=obj)
    msg.sign(auth)
    return msg.as_string()


def test_decode_checks_every_signature_and_waits_for_whole_messages():
    auth = _HMACAuthenticator(KEY)
    auth.authid = 7
    raw = answer(auth, 42, [(b"state", b"\x00\x00\x00\x02")])
    for cut in range(len(raw)):  # any prefix is "not yet", never an error
        assert decode(raw[:cut], 0, 7, auth.sign) is None
    got, end = decode(raw + raw, 0, 7, auth.sign)
    assert got.rid == 42 and got.obj[b"state"] == b"\x00\x00\x00\x02" and end == len(raw)
    tampered = raw[:-1] + bytes([raw[-1] ^ 1])
    with pytest.raises(ProtocolError, match="signature"):
        decode(tampered, 0, 7, auth.sign)
    other = _HMACAuthenticator(OmapiKey("omapi_key", base64.b64encode(b"x" * 32).decode()))
    other.authid = 7
    with pytest.raises(ProtocolError, match="signature"):
        decode(answer(other, 42, []), 0, 7, auth.sign)


def test_window_is_bounded_below_what_killed_dhcpd():
    with pytest.raises(ValueError, match="abort"):
        lease_states(None, [], window=MAX_WINDOW + 1)  # type: ignore[arg-type]
    assert MAX_WINDOW < 32  # 32 aborted dhcpd 4.4.3 after client activity (measured)
