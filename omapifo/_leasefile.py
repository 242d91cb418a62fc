"""A dhcpd.leases reader: the binding state of every address, the last record winning.

dhcpd appends a new ``lease ADDRESS { ... }`` record on every change and rewrites the
file only now and then (dhcpd.leases(5)), so an address can appear many times: the last
record is the current one. The lexical structure is dhcpd.conf's, so the tokenizer of
:mod:`omapifo._dhcpdconf` is the authority, with file:line in every error.

Written by hand, in two readers: the general tokenizer took 26 s for a /16's 65,534
realistic records where dhcpd-pools takes 0.06 s (measured, docs/performance.md). So
records in the shape dhcpd writes them (``lease A {``, one statement per indented line,
``}`` in column 0; db.c's write_lease) are taken apart with regular expressions, and
everything else (the header, ``failover peer ... state`` blocks, ``on expiry { }``
blocks, hand edits) goes through the tokenizer piece by piece. When anything does not
fit, the whole file is read by the tokenizer alone, which decides the result and the
error; tests/test_fuzz_parsers.py checks that both readers agree on mutated files.
"""
from __future__ import annotations

import array
import ipaddress
import os
import re
import socket
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ._dhcpdconf import DhcpdConfError, Loc, Node, ipv4_at, parse_tree
from ._leases import LeaseState


@dataclass(frozen=True)
class LeaseRecord:
    ip: ipaddress.IPv4Address
    state: LeaseState | None
    hardware_address: str | None
    loc: Loc
    starts: datetime | None = None
    ends: datetime | None = None
    client_hostname: str | None = None  # as written, dhcpd's octal escapes decoded


def read_leases(path: str | os.PathLike[str]) -> dict[ipaddress.IPv4Address, LeaseRecord]:
    """Every address's last record. DhcpdConfError (file:line) for a malformed file."""
    p = Path(path)
    try:
        text = p.read_text(errors="replace")
    except OSError as exc:
        raise DhcpdConfError(f"cannot read {p}: {exc.strerror}") from None
    try:
        return _read_fast(text, str(p))
    except _NotPlain:
        return _read_general(text, str(p))


def _read_general(text: str, file: str) -> dict[ipaddress.IPv4Address, LeaseRecord]:
    out: dict[ipaddress.IPv4Address, LeaseRecord] = {}
    _take(parse_tree(text, file), out)
    return out


def _take(nodes: list[Node], out: dict[ipaddress.IPv4Address, LeaseRecord]) -> None:
    """The top-level ``lease`` declarations among ``nodes``, in order, into ``out``."""
    for node in nodes:
        if node.head != "lease" or node.children is None:
            continue
        if len(node.words) != 2:
            raise DhcpdConfError(f"{node.loc}: expected lease ADDRESS {{")
        ip = ipv4_at(node.words[1].text, node.loc)
        state: LeaseState | None = None
        hw = None
        times: dict[str, datetime | None] = {}
        hostname = None
        for child in node.children:
            w = [t.text.lower() for t in child.words]
            if w[:2] == ["binding", "state"] and len(w) == 3:
                state = _state(w[2], child.loc)
            elif w[:2] == ["hardware", "ethernet"] and len(w) == 3:
                hw = w[2]
            elif w[:1] in (["starts"], ["ends"]):
                times[w[0]] = _when(w[1:])
            elif len(w) == 2 and w[0] == "client-hostname" and child.words[1].quoted:
                hostname = _unescape(child.words[1].text)
        out[ip] = LeaseRecord(ip, state, hw, node.loc, times.get("starts"), times.get("ends"),
                              hostname)


def _when(words: list[str]) -> datetime | None:
    """A time as dhcpd.leases(5) writes it: ``W YYYY/MM/DD HH:MM:SS`` (UTC), ``epoch N``
    or ``never``; None for never and for any shape it does not know (hand edits)."""
    try:
        if len(words) == 3 and words[0].isdigit():
            y, mo, d = (int(x) for x in words[1].split("/"))
            h, mi, sec = (int(x) for x in words[2].split(":"))
            return datetime(y, mo, d, h, mi, sec, tzinfo=timezone.utc)
        if len(words) == 2 and words[0] == "epoch":
            return datetime.fromtimestamp(int(words[1]), tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None
    return None


_ESCAPE = re.compile(r"\\([0-7]{3}|.)", re.S)


def _unescape(text: str) -> str:
    """dhcpd writes unprintable bytes of a string as \\ooo (octal) and others as \\c."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)) if len(m.group(1)) == 3
                       else m.group(1), text)


def _state(text: str, loc: Loc) -> LeaseState:
    try:
        return LeaseState[text.upper()]
    except KeyError:
        raise DhcpdConfError(f"{loc}: unknown binding state {text!r}") from None


class _NotPlain(Exception):
    """The fast reader met something it does not take apart: use the general one."""


# One statement on one indented line: printable ASCII words (what dhcpd writes; anything
# else, such as a Unicode space the tokenizer rejects, goes to the tokenizer) and complete
# quoted strings, one ';' at the end. Possessive quantifiers (Python 3.11): runs of plain
# characters never backtrack.
_PLAIN = r'[\t !$-:<-z|~]'  # printable ASCII but for " # ; { }
_STMT = r'[ \t]+(?:' + _PLAIN + r'++|"(?:[^"\\\n]++|\\[^\n])*+")*+;[ \t]*\n'
_RECORD = re.compile(r'^lease[ \t]+([^\s{};,#"]+)[ \t]*\{[ \t]*\n((?:' + _STMT + r')*)\}', re.M)
# A body line whose first word is one the reader needs, then the exact shapes dhcpd writes.
_KEY_LINE = re.compile(r'^[ \t]+"?(?:binding|hardware|starts|ends|client-hostname)'
                       r'(?![^\s{};,"#])[^\n]*', re.M | re.I)
_BINDING = re.compile(r'[ \t]+binding[ \t]+state[ \t]+([a-z]+)[ \t]*;[ \t]*', re.I)
_HARDWARE = re.compile(r'[ \t]+hardware[ \t]+ethernet[ \t]+([^\s{};,"#]+)[ \t]*;[ \t]*', re.I)
_TIME = re.compile(r'[ \t]+(starts|ends)((?:[ \t]+[^\s{};,"#]+)*)[ \t]*;[ \t]*', re.I)
_HOSTNAME = re.compile(r'[ \t]+client-hostname[ \t]+"((?:[^"\\\n]|\\[^\n])*)"[ \t]*;[ \t]*', re.I)


# Four decimal octets without leading zeros, the form ipaddress accepts: building the
# address from its integer skips ipaddress's string parser, a third of the reading time.
_OCTET = r'(0|[1-9][0-9]{0,2})'
_QUAD = re.compile(rf'{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}')


def _dotted(text: str) -> ipaddress.IPv4Address:
    q = _QUAD.fullmatch(text)
    if q:
        a, b, c, d = (int(x) for x in q.groups())
        if max(a, b, c, d) <= 255:
            return ipaddress.IPv4Address(a << 24 | b << 16 | c << 8 | d)
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise _NotPlain from None


_BLANKS = " \t\r\f\v\n"  # dhcpdconf's tokenizer skips these and no other space


def _read_fast(text: str, file: str) -> dict[ipaddress.IPv4Address, LeaseRecord]:
    out: dict[ipaddress.IPv4Address, LeaseRecord] = {}
    pos, line = 0, 1
    for m in _RECORD.finditer(text):
        gap = text[pos:m.start()]
        # only the tokenizer's blanks: str.strip() would also drop a Unicode space
        # (U+00A0), which the tokenizer rejects (found by tests/test_fuzz_parsers.py)
        if gap.strip(_BLANKS):
            _take_piece(gap, file, line, out)
        line += gap.count("\n")
        loc = Loc(file, line)
        state: LeaseState | None = None
        hw = None
        times: dict[str, datetime | None] = {}
        hostname = None
        for key in _KEY_LINE.finditer(m.group(2)):
            if b := _BINDING.fullmatch(key.group()):
                state = LeaseState.__members__.get(b.group(1).upper())
                if state is None:
                    raise _NotPlain  # an unknown state: the general reader says where
            elif h := _HARDWARE.fullmatch(key.group()):
                hw = h.group(1).lower()
            elif t := _TIME.fullmatch(key.group()):
                times[t.group(1).lower()] = _when(t.group(2).lower().split())
            elif n := _HOSTNAME.fullmatch(key.group()):
                hostname = _unescape(n.group(1))
            else:
                raise _NotPlain
        ip = _dotted(m.group(1))
        out[ip] = LeaseRecord(ip, state, hw, loc, times.get("starts"), times.get("ends"),
                              hostname)
        line += m.group().count("\n")
        pos = m.end()
    if text[pos:].strip(_BLANKS):
        _take_piece(text[pos:], file, line, out)
    return out


def _take_piece(piece: str, file: str, line: int,
                out: dict[ipaddress.IPv4Address, LeaseRecord]) -> None:
    """Text between plain records, read by the tokenizer. A piece that does not parse on its
    own (an unclosed block, a dangling word) may still parse as part of the whole file, and
    which error comes first is the general reader's to say: any error means start over."""
    try:
        _take(parse_tree(piece, file, line), out)
    except DhcpdConfError:
        raise _NotPlain from None




# -- counting without a record object per lease ----------------------------------------
# Pool counts need only the last binding state of each address. One regular expression
# splits the bytes into gaps, addresses and binding states (re.split: no match object per
# record), and counts over the whole file (C loops) check that every record is in the
# exact shape dhcpd writes it (db.c write_lease: "lease A {", statements indented two
# spaces, one a line, each ending in ";", "}" in column 0). On the /16 file of
# docs/performance.md this took 0.7 s to about 0.1 s. Anything else (a brace, comment,
# ';', quote or "binding" where dhcpd never writes one; "LEASE" or "BINDING STATE", which
# dhcpd reads case-blind but never writes) sends the whole file to read_leases, whose
# result or error stands; tests/test_fuzz_parsers.py compares the two on mutated files.
_OCTET_B = rb"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# A body line: "binding state S;" with S one of dhcpd's states (every such line, not only
# the last, whose value the group keeps), or any statement whose first word does not start
# with "binding" in any case (nor with a quote or more blanks: the tokenizer would read
# such a word). ".*" and not "[^;]*": sre runs ".*" twice as fast; ';' is counted below.
_STATE_WORDS = b"|".join(s.name.lower().encode() for s in LeaseState)
_SPLIT = re.compile(rb"^lease (" + rb"\.".join([_OCTET_B] * 4) + rb") \{\n(?:  (?:"
                    rb'[^\sbB"].*;|binding state (' + _STATE_WORDS + rb');|[bB](?!(?i:inding)).*;'
                    rb")\n)*+\}$", re.M)  # possessive: no body line can start "}" (20% faster)
_STATE_OF: dict[bytes | None, LeaseState | None] = {
    None: None, **{s.name.lower().encode(): s for s in LeaseState}}
# What the counts below look at, and the control characters but tab and newline (the
# tokenizer's \s has \x1c-\x1f): translate() keeps them from 8 MB in milliseconds.
_MARKS = b'{}#;"\n' + bytes(range(0x20)).replace(b"\t", b"").replace(b"\n", b"")
_NOT_MARK = bytes(b for b in range(256) if b not in _MARKS)
_ESCAPED_QUOTE = re.compile(rb'\\"')  # sre finds it 3x faster than `in` (measured)


def last_states(path: str | os.PathLike[str]) -> dict[int, LeaseState | None]:
    """Every address's last binding state, keyed by the address as an integer.

    The states :func:`read_leases` finds, faster: no object per record. DhcpdConfError
    (file:line) for a malformed file, as read_leases says it."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise DhcpdConfError(f"cannot read {p}: {exc.strerror}") from None
    fast = _states_fast(data, str(p))
    if fast is None:
        return {int(ip): rec.state for ip, rec in read_leases(p).items()}
    return fast


def _no_lease_in(gap: bytes, file: str) -> bool:
    """Text between two records (the header, a failover peer's state block) that parses
    on its own and declares no lease: it changes no count. (One that does not parse
    alone may still parse with its neighbours: read_leases decides, as in _take_piece.)"""
    try:
        return all(node.head != "lease" for node in parse_tree(gap.decode(), file))
    except DhcpdConfError:
        return False


def _states_fast(data: bytes, file: str) -> dict[int, LeaseState | None] | None:
    """The states, or None when the file is not all in dhcpd's own shape."""
    if not data.isascii():
        return None  # what the tokenizer may read differently: its call
    parts = _SPLIT.split(data)
    gaps, ips, binds = parts[0::3], parts[1::3], parts[2::3]
    n = len(ips)
    others = [g for i, g in enumerate(gaps) if g != b"\n" or i == 0]  # "\n": between records
    if not all(_no_lease_in(g, file) for g in others if g.strip()):
        return None
    marks = data.translate(None, _NOT_MARK)
    if marks.translate(None, b'{}#;"\n'):
        return None  # a control character: the tokenizer's call, as for non-ASCII
    other = b"\0".join(others).translate(None, _NOT_MARK)

    def in_records(what: bytes) -> int:
        return marks.count(what) - other.count(what)

    between = len(gaps) - len(others)  # the "\n" after each "}" but where a gap follows
    lines = in_records(b"\n") - between - n  # "lease A {" has a newline of its own
    quotes = marks.translate(None, b"{}#;")
    if (in_records(b"{") != n or in_records(b"}") != n or in_records(b"#")
            or in_records(b";") != lines  # each line has one ';' (the expression: at its end)
            # every line closes the strings it opens, and none has an escaped quote: no
            # string carries a line the expression read into a statement of its own
            or quotes.replace(b'""', b"").count(b'"') or _ESCAPED_QUOTE.search(data)):
        return None
    states = [_STATE_OF[b] for b in binds]
    numbers = array.array("I", b"".join(map(socket.inet_aton, map(bytes.decode, ips))))
    if sys.byteorder == "little":
        numbers.byteswap()  # inet_aton gives network order
    return dict(zip(numbers, states, strict=True))  # later records win (append-only file)
