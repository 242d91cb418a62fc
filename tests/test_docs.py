"""Every example in docs/ is checked against the lab, so the docs cannot rot.

Fences and what is done with each (an unknown tag fails, it is never skipped):
- ```sh and ```python run as written, in file order, with the environment the docs
  explain: OMAPIFO_CONFIG and OMAPIFO_LAB_PREFIX for the lab, URL, R and O for the REST
  service. A block must exit 0, unless its first lines hold ``# exit N``; a block whose first
  line starts with ``# not run`` is skipped (it says why). ``# as USER`` among the first
  lines runs the block as that user (setpriv); a doc with such blocks runs on a host made
  like production (tests/production.py: the users, systemd's sysctls, /run/omapifo), in a
  directory every user may reach, with URL a service run as omapifo on that host.
- ```text right after a sh/python block is what that block prints (stdout then stderr),
  compared line by line (``matches``); a text block after prose is an illustration:
  - blank lines are left out on both sides; in a line, a run of spaces or tabs is one
    space and trailing ones are dropped (a table's columns move with the widths of its
    values: "normal  normal" is "normal normal"). Nothing else is normalised.
  - each line of the block matches one whole printed line, literally, and consecutive
    lines of the block are consecutive printed lines, from the first printed line to the
    last. A line that is ``...`` alone leaves lines out there (none or any number, at the
    start, between, at the end); the lines around it still come in that order. ``...``
    inside a line is an error: write the value, or a placeholder.
  - a placeholder stands for a value that differs from run to run, and matches only its
    own kind (not inside a longer run of the characters that kind is made of):
      <time>       a time of day, 14:02:11
      <timestamp>  a date and time, 2026-11-25 18:41:07 or ISO 2026-11-25T18:36:55.135+00:00
      <duration>   a number and a unit as omapifo writes them: 21 s, 0.05 s, 10 min, 3 h, 4 d
      <n>          a number: 999, 3.1 (also inside 198.18.11.<n> or <n>%)
      <ip>         an IPv4 address of the lab's range, 198.18.0.0/15
      <mac>        a hardware address, 02:00:00:1e:d0:01
      <path>       an absolute path, /tmp/x/doc (<path>/omapi.key: the part before)
      <hex>        8 or more lowercase hex digits (a SHA-256)
      <base64>     8 or more base64 characters (a key's secret)
      <hostname>   a host name a DHCP client sent (the machine's own name in the lab)
      <binding>    a lease's binding state (free, active, expired, ...: LeaseState)
    Any other <word> in a block is an error, so a typo cannot match by accident. (No
    command the docs run prints a "<word>" of its own; none needs writing literally.)
  - the docs show the lab of `omapifo lab up` on a machine with no other lab: slot 0
    (198.18.10.253, 198.18.60.253), /run/omapifo-lab/omapifo. The test's lab may hold
    another slot, so before the comparison its addresses, clients' MACs, directory and
    prefix are written as that lab's, one to one (``as_documented``).
- ```toml is loaded with ``omapifo.load_config`` (next to a key file it may name).
- ```yaml is parsed (PyYAML).
The lab is restored to two normal servers before each file.
"""
from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from omapifo.lab.layout import CLIENT_SUBNETS, Layout
from omapifo import load_config
from omapifo.clients import servecli
from omapifo._leases import LeaseState

from .api.conftest import OPERATOR, READER, service_config
from .conftest import restore
from .production import (RUN_DIR, install_per_model, production_host, running_service,
                         service_toml, setpriv)

DOCS = Path(__file__).resolve().parent.parent / "docs"
FENCE = re.compile(r"^```([A-Za-z0-9_-]*)\n(.*?)^```[ \t]*$", re.S | re.M)
KNOWN = {"sh", "python", "text", "toml", "yaml"}


@dataclass
class Block:
    lang: str
    body: str
    line: int
    after_command: bool  # a text block directly after a sh/python block (only blank lines)

    @property
    def first(self) -> str:
        return self.body.lstrip().splitlines()[0] if self.body.strip() else ""

    @property
    def skipped(self) -> bool:
        return self.first.startswith("# not run")

    @property
    def markers(self) -> dict[str, str]:
        """The leading ``# exit N`` and ``# as USER`` lines, by word."""
        out: dict[str, str] = {}
        for line in self.body.lstrip().splitlines():
            m = re.fullmatch(r"# (exit|as) (\S+)", line.strip())
            if not m:
                break
            out[m[1]] = m[2]
        return out

    @property
    def expect(self) -> int:
        return int(self.markers.get("exit", 0))

    @property
    def user(self) -> str | None:
        return self.markers.get("as")


def blocks(path: Path) -> list[Block]:
    text = path.read_text()
    out: list[Block] = []
    prev_end, prev_lang = 0, None
    for m in FENCE.finditer(text):
        gap = text[prev_end:m.start()]
        after = prev_lang in ("sh", "python") and not gap.strip()
        out.append(Block(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1, after))
        prev_end, prev_lang = m.end(), m.group(1)
    return out


DOC_FILES = sorted(DOCS.glob("*.md"))
RUN_FILES = [p for p in DOC_FILES if any(b.lang in ("sh", "python") and not b.skipped
                                         for b in blocks(p))]

# <name> in a text block: the kinds of value that differ from run to run. Each matches
# its own kind only, and not inside a longer run of the characters it is made of.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
PLACEHOLDERS = {
    "time": r"(?<![\d:])\d\d:\d\d:\d\d(?![\d:])",
    "timestamp": r"(?<!\d)\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?(?![\d:])",
    "duration": r"(?<![\d.])\d+(?:\.\d+)? (?:ms|s|min|h|d)(?![A-Za-z])",
    "n": r"(?<!\d)\d+(?:\.\d+)?(?![\d.]?\d)",
    "ip": r"(?<![\d.])198\.1[89](?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){2}(?![\d.]?\d)",
    "mac": r"(?<![0-9a-f:])[0-9a-f]{2}(?::[0-9a-f]{2}){5}(?![0-9a-f:])",
    "path": r"(?<![\w.@+/-])(?:/[\w.@+-]+)+(?![\w.@+-])",
    "hex": r"(?<![0-9a-f])[0-9a-f]{8,}(?![0-9a-f])",
    "hostname": rf"(?<![\w.-]){_LABEL}(?:\.{_LABEL})*(?![\w-])",
    "binding": "(?<![\\w-])(?:" + "|".join(str(s) for s in LeaseState) + ")(?![\\w-])",
    "base64": r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{8,}={0,2}(?![A-Za-z0-9+/=])",
}
OMITTED = "..."
_PLACEHOLDER = re.compile(r"<([a-z][a-z0-9_-]*)>")


def collapse(line: str) -> str:
    """A line as it is compared: runs of spaces and tabs made one space (a table's columns
    move with the widths of its values), trailing ones dropped."""
    return re.sub(r"[ \t]+", " ", line).rstrip()


@dataclass
class Want:
    text: str  # the doc's line, collapsed
    at: int  # its line in the text block, from 1
    pattern: re.Pattern[str]


def expected_lines(expected: str, first: int = 0) -> list[Want | None]:
    """The text block's lines, blank ones left out; None for a ``...`` line. An unknown
    placeholder or a ``...`` inside a line is an error (ValueError): it would match
    nothing, or, read as a wildcard, anything. Lines are counted from ``first`` + 1 (the
    block's line in its file when ``first`` is its fence's)."""
    out: list[Want | None] = []
    for at, raw in enumerate(expected.splitlines(), first + 1):
        line = collapse(raw)
        if not line:
            continue
        if line.strip() == OMITTED:
            out.append(None)
            continue
        if OMITTED in line:
            raise ValueError(f"line {at}: {line.strip()!r}: '...' stands only on a "
                             f"line of its own (lines left out); write the value, or a "
                             f"placeholder {sorted(f'<{k}>' for k in PLACEHOLDERS)}")
        parts, i = [], 0
        for m in _PLACEHOLDER.finditer(line):
            if m[1] not in PLACEHOLDERS:
                raise ValueError(f"line {at}: unknown placeholder <{m[1]}> in "
                                 f"{line.strip()!r}; known: "
                                 f"{' '.join(f'<{k}>' for k in PLACEHOLDERS)}")
            parts += [re.escape(line[i:m.start()]), f"(?:{PLACEHOLDERS[m[1]]})"]
            i = m.end()
        parts.append(re.escape(line[i:]))
        out.append(Want(line, at, re.compile("".join(parts))))
    return out


def printed_lines(printed: str) -> list[str]:
    """What is compared of the output: its lines collapsed, blank ones left out."""
    return [line for line in map(collapse, printed.splitlines()) if line]


def matches(expected: str, printed: str, first: int = 0) -> str | None:
    """None when ``printed`` is, line by line, what the text block ``expected`` says; else
    why not.

    Blank lines are left out on both sides. Each expected line must match a whole printed
    line (``collapse``), literally but for its placeholders. Consecutive expected lines
    are consecutive printed lines, from the first printed line to the last; a ``...`` line
    stands for any number of lines left out there (at the start, between, at the end),
    and the lines around it must still come in order."""
    wants = expected_lines(expected, first)
    got = printed_lines(printed)
    segments: list[list[Want]] = [[]]
    for w in wants:
        if w is None:
            if segments[-1]:
                segments.append([])
        else:
            segments[-1].append(w)
    if not segments[-1]:
        segments.pop()
    lead = bool(wants) and wants[0] is None
    trail = bool(wants) and wants[-1] is None
    if not segments:
        return None if wants or not got else f"printed line 1 is {got[0].strip()!r}, the " \
            "block says nothing was printed"

    def run(seg: list[Want], start: int) -> int:
        """How many lines of seg match printed lines start, start+1, ..."""
        n = 0
        while n < len(seg) and start + n < len(got) and seg[n].pattern.fullmatch(got[start + n]):
            n += 1
        return n

    def quote(i: int) -> str:
        return f"printed line {i + 1} {got[i].strip()!r}" if i < len(got) else \
            f"the end of the output (after {len(got)} lines)"

    def find(want: Want, lo: int, hi: int) -> int | None:
        return next((i for i in range(lo, hi) if want.pattern.fullmatch(got[i])), None)

    pos = 0
    for k, seg in enumerate(segments):
        first, last = k == 0 and not lead, k == len(segments) - 1 and not trail
        hi = len(got) - len(seg)
        legal = [0] if first else range(pos, hi + 1)
        if last:
            legal = [s for s in legal if s == hi]
        found = next((s for s in legal if run(seg, s) == len(seg)), None)
        if found is not None:
            pos = found + len(seg)
            continue
        floating = next((s for s in range(pos, hi + 1) if run(seg, s) == len(seg)), None)
        if floating is not None and first and floating != 0:
            return (f"line {seg[0].at} {seg[0].text.strip()!r} is printed line "
                    f"{floating + 1}, but the output begins with {quote(0)}: begin the block "
                    f"with a '...' line to leave lines out")
        if floating is not None:  # last, and lines follow
            end = floating + len(seg)
            return (f"line {seg[-1].at} {seg[-1].text.strip()!r} is printed line {end}, but "
                    f"the output goes on with {quote(end)}: end the block with a '...' line "
                    f"to leave lines out")
        tries = [0] if first else range(pos, len(got))
        best = max(tries, key=lambda s: (run(seg, s), -s), default=pos)
        n = run(seg, best)
        want = seg[n]
        later = find(want, (best + n) if n else pos, len(got))
        earlier = find(want, 0, pos)
        if n == 0:
            why = f"it is not {quote(0)}" if first else \
                f"no printed line after printed line {pos} matches it" if pos else \
                "no printed line matches it"
        else:
            why = (f"it should come right after line {seg[n - 1].at} ({quote(best + n - 1)}), "
                   f"but next is {quote(best + n)}")
        if later is not None and n:
            why += (f"; it is printed line {later + 1}: a '...' line between them leaves "
                    f"lines out")
        elif later is not None:
            why += f" (it is printed line {later + 1})"
        elif earlier is not None:
            why += f" (it is printed line {earlier + 1}, out of order)"
        return f"line {want.at} {want.text.strip()!r}: {why}"
    return None


DOC_LAB_DIR = "/run/omapifo-lab/omapifo"  # `omapifo lab up`'s directory and prefix
DOC_LAB_PREFIX = "omapifo"
_LAB_IP = re.compile(r"(?<![\d.])198\.1[89]\.\d{1,3}\.\d{1,3}(?![\d])")


def as_documented(printed: str, *, slots: list[int], lab_dir: str, prefix: str) -> str:
    """What the test's lab printed, as the lab the docs show prints it: the first lab
    of a machine, `omapifo lab up` (slot 0 of 198.18.0.0/15, /run/omapifo-lab/omapifo).

    The test's lab takes the first free slot, another one while other labs run. One to
    one, its addresses become slot 0's (198.18.74.253 in slot 1 is 198.18.10.253), its
    clients' MACs slot 0's, its directory and prefix the default lab's; nothing else
    changes and no two values become one."""
    blocks = [(Layout(s).block, Layout(i).block) for i, s in enumerate(slots)]

    def addr(m: re.Match[str]) -> str:
        a = ipaddress.IPv4Address(m[0])
        for ours, doc in blocks:
            if a in ours:
                return str(a - int(ours.network_address) + int(doc.network_address))
        return m[0]

    out = _LAB_IP.sub(addr, printed)
    if slots:
        out = re.sub(rf"(?<![0-9a-f:])02:00:00:{slots[0]:02x}:00:(0[1-{CLIENT_SUBNETS}])"
                     r"(?![0-9a-f:])", r"02:00:00:00:00:\1", out)
    out = out.replace(lab_dir.rstrip("/"), DOC_LAB_DIR)
    return re.sub(rf"(?<![\w-]){re.escape(prefix)}(?![\w])", DOC_LAB_PREFIX, out)


def test_every_doc_with_examples_is_collected():
    names = {p.name for p in RUN_FILES}
    assert {"quickstart.md", "runbook.md", "rest.md", "cli.md", "library.md",
            "monitoring.md", "config-check.md", "lab.md", "hosts.md",
            "leases.md"} <= names, names


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: p.name)
def test_fence_tags_are_known(doc):
    unknown = [(b.line, b.lang) for b in blocks(doc) if b.lang not in KNOWN]
    assert not unknown, f"{doc.name}: fences with no tag or an unknown one {unknown}; " \
        f"use one of {sorted(KNOWN)}"


def test_the_install_page_is_linked_and_says_why_it_skips():
    """docs/install.md is the admin's way from the lab to real servers (issue 14)."""
    root = DOCS.parent
    for page in (root / "README.md", DOCS / "quickstart.md"):
        assert "install.md" in page.read_text(), page
    install = blocks(DOCS / "install.md")
    for b in install:
        if b.skipped:  # "# not run: <why>"
            assert re.match(r"# not run: \S", b.first), f"install.md:{b.line}: say why"
    ran = "\n".join(b.body for b in install if b.lang == "sh" and not b.skipped)
    for command in ("omapifo keygen", "omapifo config check", "doctor", "omapifo -c",
                    " check classroom-1-6"):
        assert command in ran, command
    text = (DOCS / "install.md").read_text()
    for ref in ("deploy/systemd/omapifo.service", "deploy/prometheus/omapifo.rules.yml",
                "deploy/grafana/omapifo.json", "nft ", "omapifo[service]"):
        assert ref in text, ref


def test_a_line_matches_a_whole_line_with_only_its_spaces_collapsed():
    assert matches("classroom-1-6 primary normal", "classroom-1-6  primary\tnormal  ") is None
    assert matches("ok", "broken") is not None
    assert matches("ok", "ok, mostly") is not None
    assert matches("both normal", "the primary is partner-down") is not None
    assert matches("  - Both servers are normal.", "    - Both servers are normal.") is None
    assert matches("- Both servers are normal.", "  - Both servers are normal.") is not None


def test_values_vary_only_where_the_doc_puts_a_placeholder():
    assert matches("runway 16 h", "runway 0 s") is not None
    assert matches("runway <duration>", "runway 0 s") is None
    assert matches("runway <duration>", "runway 16 h") is None
    assert matches("runway <duration>", "runway 16") is not None  # not a duration
    assert matches("runway <duration>", "runway unknown") is not None
    assert matches("since <time>, <duration> ago", "since 04:48:46, 2 s ago") is None
    assert matches("since <time>", "since 2026-11-25T04:48:46") is not None
    assert matches("at <timestamp>", "at 2026-11-25T18:36:55.135386+00:00") is None
    assert matches("at <timestamp>", "at 2026-11-25 18:41:07") is None
    assert matches("198.18.10.253:7911", "198.18.60.253:7911") is not None
    assert matches("<ip>:7911", "198.18.60.253:7911") is None
    assert matches("<ip>:7911", "10.0.0.1:7911") is not None  # the lab's range only
    assert matches("<ip>", "198.18.60.2534") is not None
    assert matches("<n> rows", "12 rows") is None
    assert matches("<n> rows", "1.5 rows") is None  # a number, 6.2% too
    assert matches("<n> rows", "- rows") is not None
    assert matches("198.18.11.<n>", "198.18.11.47") is None
    assert matches("198.18.11.<n>", "198.18.12.47") is not None
    assert matches("<binding> <hostname>", "expired lab-pc1") is None
    assert matches("<binding> <hostname>", "normal lab-pc1") is not None  # not a lease's
    assert matches("<binding> <hostname>", "active -") is not None
    assert matches("<n> rows", "twelve rows") is not None
    assert matches("mac <mac>", "mac 02:00:00:1e:d0:01") is None
    assert matches("mac <mac>", "mac 198.18.12.48") is not None
    assert matches("<path>/primary/dhcpd.conf:27", "/run/omapifo-lab/t1/primary/dhcpd.conf:27") \
        is None
    assert matches("<path>/primary/dhcpd.conf:27", "/run/lab/secondary/dhcpd.conf:27") \
        is not None
    assert matches('sha256 = "<hex>"', 'sha256 = "9f86d081884c7d659a2feaa0c55ad015"') is None
    assert matches('sha256 = "<hex>"', 'sha256 = "not hex at all"') is not None
    assert matches('secret "<base64>";', 'secret "c2VjcmV0IHNlY3JldA==";') is None


def test_an_unknown_placeholder_or_a_dots_wildcard_is_an_error():
    with pytest.raises(ValueError, match="unknown placeholder <second>"):
        matches("in <second>", "in 12 s")
    with pytest.raises(ValueError, match="stands only on a line of its own"):
        matches("OMAPIFO OK - classroom-1-6 | ...", "OMAPIFO OK - classroom-1-6 | a=1")
    assert matches("a <= b", "a <= b") is None  # '<' not starting a placeholder is text


def test_lines_come_in_order_and_consecutive_unless_a_dots_line_says_so():
    assert matches("a\nb", "b\na") is not None
    assert matches("a\nb", "a\n\nb\n") is None  # blank lines are left out on both sides
    assert matches("a\nc", "a\nb\nc") is not None  # b is missing from the block
    assert matches("a\n...\nc", "a\nb\nc") is None
    assert matches("a\n...\nc", "a\nc") is None  # '...' may leave out no line
    assert matches("a\n...\nc", "c\nb\na") is not None
    assert matches("b", "a\nb") is not None  # the block starts at the first line...
    assert matches("...\nb", "a\nb") is None
    assert matches("a", "a\nb") is not None  # ... and ends at the last
    assert matches("a\n...", "a\nb") is None
    assert matches("...\nb\n...", "a\nb\nc") is None
    assert matches("...\nb\nc\n...", "a\nb\nx\nc") is not None
    assert matches("...\nb\n...\nb\n...", "b\nb") is None
    assert matches("...\nb\n...\nb\n...", "a\nb\nc") is not None  # b only once


def test_a_mismatch_says_which_line_and_what_was_printed_instead():
    assert matches("a\nc", "a\nb\nc") == ("line 2 'c': it should come right after line 1 "
                                          "(printed line 1 'a'), but next is printed line 2 "
                                          "'b'; it is printed line 3: a '...' line between "
                                          "them leaves lines out")
    assert matches("b", "a\nb") == ("line 1 'b' is printed line 2, but the output begins "
                                    "with printed line 1 'a': begin the block with a '...' "
                                    "line to leave lines out")
    assert matches("a", "a\nb") == ("line 1 'a' is printed line 1, but the output goes "
                                    "on with printed line 2 'b': end the block with a '...' "
                                    "line to leave lines out")
    assert matches("x\n...", "a\nb") == "line 1 'x': it is not printed line 1 'a'"
    assert matches("...\nb\na", "a\nb") == ("line 3 'a': it should come right after line 2 "
                                             "(printed line 2 'b'), but next is the end of "
                                             "the output (after 2 lines)")


def compared(doc: Path) -> list[Block]:
    """The text blocks of ``doc`` that are compared with what the block before printed."""
    out, prev = [], None
    for b in blocks(doc):
        if b.lang == "text" and b.after_command and prev is not None:
            out.append(b)
        prev = b if b.lang in ("sh", "python") and not b.skipped else None
    return out


@pytest.mark.parametrize("doc", RUN_FILES, ids=lambda p: p.name)
def test_every_compared_text_block_follows_the_rules(doc):
    """Without the lab: an unknown placeholder or a '...' inside a line fails here."""
    for b in compared(doc):
        try:
            expected_lines(b.body, b.line)
        except ValueError as exc:
            pytest.fail(f"{doc.name}: {exc}")


def test_the_tests_lab_is_written_as_the_documented_lab():
    def doc(text: str, slots=(1,)) -> str:
        return as_documented(text, slots=list(slots), lab_dir="/tmp/p-3/lab-main0/",
                             prefix="t2044")
    assert doc("198.18.74.253:7911 198.18.124.253:7911 198.18.75.0/24 198.18.200.9") == \
        "198.18.10.253:7911 198.18.60.253:7911 198.18.11.0/24 198.18.200.9"
    assert doc("198.18.10.253", slots=(0,)) == "198.18.10.253"
    assert doc("198.18.10.253") == "198.18.10.253"  # slot 0 is not the test's: unchanged
    assert doc("02:00:00:01:00:03 02:00:00:1e:d0:01 02:00:00:01:00:07") == \
        "02:00:00:00:00:03 02:00:00:1e:d0:01 02:00:00:01:00:07"
    assert doc("lab t2044 in /tmp/p-3/lab-main0 (t2044-pri, t20443)") == \
        "lab omapifo in /run/omapifo-lab/omapifo (omapifo-pri, t20443)"


@pytest.mark.parametrize("doc", [p for p in DOC_FILES if any(
    b.lang in ("toml", "yaml") for b in blocks(p))], ids=lambda p: p.name)
def test_toml_and_yaml_examples_load(doc, tmp_path):
    for b in blocks(doc):
        if b.lang == "toml":
            (tmp_path / "omapi.key").write_text("c2VjcmV0IHNlY3JldCBzZWNyZXQ=\n")
            (tmp_path / "omapi.key").chmod(0o600)
            cfg = tmp_path / "example.toml"
            cfg.write_text(b.body)
            load_config(cfg)  # ConfigError names what is wrong
        elif b.lang == "yaml":
            assert yaml.safe_load(b.body) is not None, f"{doc.name}:{b.line}"


@pytest.fixture(scope="module")
def service(lab, tmp_path_factory):
    with service_on(lab, tmp_path_factory.mktemp("docs-service")) as url:
        yield url


def test_a_block_may_name_its_user_and_its_exit_status():
    b = Block("sh", "# as nagios\n# exit 1\ncat omapi.key\n", 1, False)
    assert (b.user, b.expect, b.skipped) == ("nagios", 1, False)
    assert (Block("sh", "# exit 2\nfalse\n", 1, False).user, Block("sh", "ls\n# as x\n", 1,
                                                                   False).user) == (None, None)
    install = blocks(DOCS / "install.md")
    assert {b.user for b in install} >= {None, "omapifo", "nagios"}


@contextmanager
def production(lab) -> Iterator[tuple[Path, str]]:
    """(the doc's working directory, the URL of a service run as omapifo) on a host
    made like production, for a doc whose blocks run as other users."""
    with production_host() as host:
        files = install_per_model(host.work / "service", lab.dir, reader_token=READER,
                                  extra_toml=service_toml(READER, OPERATOR))
        (RUN_DIR / f"omapifo-{lab.settings.peer_name}.lock").unlink(missing_ok=True)
        with running_service(host, files) as svc:
            cwd = host.work / "doc"
            cwd.mkdir(mode=0o755)
            yield cwd, svc.url


# docs that run on the lab with a probe subnet (tests/conftest.py, probe_lab), with a
# service of their own on it
PROBE_DOCS = {"probes.md"}


@contextmanager
def service_on(lab, directory: Path) -> Iterator[str]:
    cfg = service_config(lab.config_path, directory, directory / "db.sqlite3")
    url, run, stop = servecli.start(load_config(cfg), "127.0.0.1:0")
    servecli.run_in_thread(run)
    try:
        yield url
    finally:
        stop()


@pytest.mark.integration
@pytest.mark.parametrize("doc", RUN_FILES, ids=lambda p: p.name)
def test_examples_run_and_print_what_they_say(doc, request, tmp_path):
    probes = doc.name in PROBE_DOCS
    lab = request.getfixturevalue("probe_lab" if probes else "lab")
    restore(lab)
    with ExitStack() as stack:
        if probes:
            service = stack.enter_context(service_on(lab, tmp_path))
        else:
            service = request.getfixturevalue("service")
        if any(b.user for b in blocks(doc)):
            tmp_path, service = stack.enter_context(production(lab))
        run_examples(doc, lab, service, tmp_path)
    restore(lab)


def run_examples(doc: Path, lab, service: str, tmp_path: Path) -> None:
    env = dict(os.environ, OMAPIFO_CONFIG=str(lab.config_path),
               OMAPIFO_LAB_PREFIX=lab.settings.prefix, URL=service, R=READER, O=OPERATOR,
               OMAPIFO_AUDIT_LOG=str(tmp_path / "audit.log"),
               PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    printed = None
    for b in blocks(doc):
        if b.lang == "text" and b.after_command and printed is not None:
            why = matches(b.body, printed, b.line)
            shown = "\n".join(f"{i:3} {line}" for i, line in enumerate(printed_lines(printed), 1))
            assert why is None, (f"{doc.name}: the text block at line {b.line} is not what "
                                 f"the block before printed:\n  {why}\n--- it printed (the "
                                 f"lines compared, numbered)\n{shown}")
            continue
        if b.lang not in ("sh", "python") or b.skipped:
            printed = None
            continue
        argv = ["bash", "-e", "-o", "pipefail", "-c", b.body] if b.lang == "sh" else \
            [sys.executable, "-c", b.body]
        if b.user:
            argv = setpriv(b.user) + argv
        proc = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=240)
        assert proc.returncode == b.expect, (f"{doc.name}:{b.line}: exit {proc.returncode}, "
                                             f"wanted {b.expect}\n{b.body}\n--- stdout\n"
                                             f"{proc.stdout}\n--- stderr\n{proc.stderr}")
        printed = as_documented(proc.stdout + proc.stderr, slots=lab.record.slots,
                                lab_dir=str(lab.dir), prefix=lab.settings.prefix)
