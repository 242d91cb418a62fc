"""clients/output.py: a state's colour is its level's (omapifo.health), ages in one format."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest

from omapifo import FailoverState, Level
from omapifo.clients import output as out
from omapifo.health import state_level

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
