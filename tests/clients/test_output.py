"""clients/output.py: a state's colour is its level's (omapifo._health), ages in one format."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest

from omapifo import FailoverState, Level
from omapifo.clients import output as out
from omapifo._health import state_level

COLOURS = {Level.OK: "\033[32m", Level.WARNING: "\033[33m", Level.CRITICAL: "\033[31m"}


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("state", list(FailoverState), ids=str)
def test_a_states_colour_is_the_colour_of_its_rating(state):
    name = str(state)
    assert out.colour(name, Tty()) == f"{COLOURS[state_level(state)]}{name}\033[0m"
    # the level's own name gets the same colour: the state table and the health line agree
    level = str(state_level(state))
    assert out.colour(level, Tty()).startswith(COLOURS[state_level(state)])


def test_partner_down_is_yellow_like_its_warning():
    assert out.colour("partner-down", Tty()).startswith(COLOURS[Level.WARNING])


def test_unreachable_is_red_and_other_words_stay_plain():
    assert out.colour("unreachable", Tty()).startswith(COLOURS[Level.CRITICAL])
    for word in ("active", "free", "-", "", "info"):
        assert out.colour(word, Tty()) == word


def test_no_colour_off_a_tty():
    assert out.colour("critical", io.StringIO()) == "critical"


def test_age_says_how_long_ago_as_everything_else_does():
    now = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    for seconds, ago in ((42, "42 s ago"), (600, "10 min ago"), (3 * 3600, "3 h ago"),
                         (3 * 86400, "3 d ago")):
        assert out.age((now - timedelta(seconds=seconds)).isoformat(), now).endswith(
            f", {ago}")
    assert out.age(None) == ""


# -- values from dhcpd and its clients (issue 21): escaped in every cell ----------------

HOSTILE = "=cmd|' /C calc'!A0\x1b[2J\x1b]52;c;SGVsbG8=\x07\u202eevil"


def test_a_table_escapes_every_cell_and_keeps_only_its_own_colour(capsys):
    """A cell that holds ESC sequences, BEL or a bidi override is shown escaped; a value
    that spells a colour code is escaped too; only colour()'s own codes stay."""
    fake_red = "\033[31mcritical\033[0m"  # a client-chosen name that looks coloured
    out.table([["198.18.11.40", out.colour("critical", Tty()), HOSTILE],
               ["198.18.11.41", fake_red, "web01\nforged row"]], ["IP", "STATE", "HOSTNAME"])
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert len(lines) == 3  # the newline in a name forges no row
    assert lines[1].count("\033") == 2 and "\033[31mcritical\033[0m" in lines[1]
    assert "\x07" not in text and "\u202e" not in text and "\033]" not in text
    assert "\\x1b[2J\\x1b]52;c;SGVsbG8=\\x07\\u202eevil" in lines[1]
    assert "\\x1b[31mcritical\\x1b[0m" in lines[2] and "web01\\nforged row" in lines[2]
    # the columns line up on what is shown (colour codes take no room, escapes do)
    shown = [out._SGR.sub("", line) for line in lines[:2]] + [lines[2]]
    starts = {shown[0].index("HOSTNAME"), shown[1].index("=cmd"), shown[2].index("web01")}
    assert starts == {len("198.18.11.40  ") + len("\\x1b[31mcritical\\x1b[0m  ")}


def test_lines_and_json_carry_no_raw_control_character(capsys):
    out.say(f"  differs: client-hostname {HOSTILE}")
    out.dump_json({"client_hostname": HOSTILE + "\x7f"})
    text = capsys.readouterr().out
    assert not any(c in text for c in "\x1b\x07\x7f\u202e")
    assert "\\x1b[2J" in text and "\\u001b[2J" in text and "\\u007f" in text
