"""omapifo._untrusted: text from dhcpd and its clients made harmless for terminals,
spreadsheets and logs (issue 21, item 4); and the anchored checks that let a final newline
through ("web01\\n"). The lab's real hostile host-name: tests/clients/test_hostile_hostname.py.
"""
from __future__ import annotations

import csv
import io
import json
import unicodedata

import pytest

from omapifo._errors import ConfigError
from omapifo.lab import LabError
from omapifo.lab.settings import check_prefix
from omapifo._leaselist import leases_from_file
from omapifo._omapi import parse_client_id, parse_host_name, parse_mac
from omapifo._config import parse_config
from omapifo._untrusted import csv_cell, json_string, json_text, printable, visible

# what the issue names, one of each kind
ESC_CLEAR = "\x1b[2J"  # erase the screen
OSC52 = "\x1b]52;c;SGVsbG8=\x07"  # set the clipboard
RLO = "\u202e"  # right-to-left override
FORMULA = "=cmd|' /C calc'!A0"
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F,
                         0x061C)]
C0 = [chr(c) for c in range(0x20)]
C1 = [chr(c) for c in range(0x80, 0xA0)]
UNSAFE = C0 + ["\x7f"] + C1 + BIDI + ["\u2028", "\u2029", "\xa0", "\u200b", "\ud800"]


def unsafe_left(text: str) -> list[str]:
    """The characters of ``text`` a terminal or a reader could act on."""
    return [c for c in text if c in UNSAFE or unicodedata.category(c) in ("Cc", "Cf")]


@pytest.mark.parametrize("ch", UNSAFE, ids=lambda c: f"U+{ord(c):04X}")
def test_every_control_bidi_and_invisible_character_is_escaped_visibly(ch):
    for escape in (visible, printable):
        shown = escape(f"web{ch}01")
        assert not unsafe_left(shown), shown
        assert shown.startswith("web\\") and shown.endswith("01")
    assert visible("\x1b") == "\\x1b" and visible(RLO) == "\\u202e"
    assert visible("\n\t\r\x85") == "\\n\\t\\r\\x85"


def test_the_issues_host_name_shows_every_byte_and_none_raw():
    name = FORMULA + ESC_CLEAR + OSC52 + RLO + "evil"
    shown = visible(name)
    assert shown == ("=cmd|' /C calc'!A0\\x1b[2J\\x1b]52;c;SGVsbG8=\\x07\\u202eevil")
    assert not unsafe_left(shown)
    # a cell is lossless: backslashes are doubled, so unicode_escape reads it back
    for value in (name, "dom\\x1b", "a\\b", "é日本\U0001f600", "\U000e0001"):
        back = visible(value).encode("latin-1", "backslashreplace").decode("unicode_escape")
        assert back == value


def test_printable_text_is_left_alone():
    for text in ("web01", "lab-pc-3.example.edu", "Ærø ü 日本", "a b", "", "50%"):
        assert visible(text) is text and printable(text) is text
    assert printable("a\\b") == "a\\b" and visible("a\\b") == "a\\\\b"


@pytest.mark.parametrize("first", ["=", "+", "-", "@", "\t", "\r", "'"])
def test_a_csv_cell_a_spreadsheet_would_evaluate_gets_a_leading_quote(first):
    cell = csv_cell(first + "HYPERLINK(\"http://x\")")
    assert cell.startswith("'") and not unsafe_left(cell)
    assert csv_cell("web01") == "web01" and csv_cell("198.18.11.40") == "198.18.11.40"
    assert csv_cell("2026-12-03T10:19:32+00:00") == "2026-12-03T10:19:32+00:00"


def test_the_csv_stays_lossless():
    """Quoting is the csv module's; one leading ' is always ours (a value that begins with
    one gets another), the rest reads back with unicode_escape."""
    values = [FORMULA, "'quoted", "''", "-1", "a,b", 'say "hi"', "line\nbreak", "\\", "",
              ESC_CLEAR + RLO]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([csv_cell(v) for v in values])
    assert not unsafe_left(buf.getvalue().rstrip("\n"))
    (row,) = csv.reader(io.StringIO(buf.getvalue()))

    def read(cell: str) -> str:
        cell = cell[1:] if cell.startswith("'") else cell
        return cell.encode("latin-1", "backslashreplace").decode("unicode_escape")
    assert [read(c) for c in row] == values


def test_json_is_ascii_only_and_reads_back():
    data = {"h": FORMULA + ESC_CLEAR + OSC52 + RLO + "\x7f\x85é"}
    text = json_text(data)
    assert text.isascii() and text.isprintable()
    assert "\\u007f" in text and "\\u202e" in text and json.loads(text) == data
    assert json_text(data, indent=2).count("\n") == 2


def test_a_json_string_escapes_only_what_is_not_printable():
    for value in (FORMULA + ESC_CLEAR + OSC52 + RLO, "\x7f\x85\u2028\U000e0001", "é 日本",
                  'a "b" \\ c'):
        lit = json_string(value)
        assert lit.isprintable() and json.loads(lit) == value
    assert json_string("é") == '"é"' and json_string("\x85") == '"\\u0085"'
    assert json_string("\U000e0001") == '"\\udb40\\udc01"'


# -- anchored checks: "$" matches before a final newline; fullmatch does not ------------

def test_a_host_name_with_a_final_newline_is_refused():
    assert parse_host_name("web01") == "web01"
    for bad in ("web01\n", "web01\r\n", "\nweb01"):
        with pytest.raises(ValueError, match="is not a host name"):
            parse_host_name(bad)


def test_a_lease_hostname_pattern_with_a_final_newline_is_refused(tmp_path):
    leases = tmp_path / "dhcpd.leases"
    leases.write_text("")
    assert leases_from_file(leases, hostname="lab-*").leases == ()
    with pytest.raises(ValueError, match="no blanks"):
        leases_from_file(leases, hostname="web01\n")


def test_mac_and_client_id_are_checked_whole():
    assert parse_mac(" 02:00:00:00:00:01 ") == bytes([2, 0, 0, 0, 0, 1])  # blanks: stripped
    for bad in ("02:00:00:00:00:01:", "02:00:00:00:00:01x"):
        with pytest.raises(ValueError, match="not a MAC address"):
            parse_mac(bad)
    with pytest.raises(ValueError, match="not a client identifier"):
        parse_client_id("01:aa:")


def test_a_token_digest_with_a_final_newline_is_refused():
    good = "0" * 64
    svc = parse_config({"pairs": {}, "service": {"tokens": [
        {"name": "noc", "role": "reader", "sha256": good}]}}).service
    assert svc.tokens[0].sha256 == good
    with pytest.raises(ConfigError, match="64 lowercase hex digits"):
        parse_config({"pairs": {}, "service": {"tokens": [
            {"name": "noc", "role": "reader", "sha256": good + "\n"}]}})


def test_a_lab_prefix_with_a_final_newline_is_refused():
    check_prefix("tst")
    with pytest.raises(LabError, match="lowercase letters"):
        check_prefix("tst\n")
