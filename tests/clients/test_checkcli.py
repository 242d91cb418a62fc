"""`omapifo check`'s rating of a pair's state (the four exit codes against the real pair are
in test_cli.py); here, states the lab cannot safely be put in."""
from __future__ import annotations

from omapifo import FailoverStatus, PairState, PeerView, Role
from omapifo.api.schemas import PairStateSchema
from omapifo.clients.checkcli import CRITICAL, WARNING, evaluate
from omapifo.health import assess

from ..recorded import failover_state
from .samples import NOW, P, PRIMARY, SECONDARY


def state(primary: tuple[int, int], secondary: tuple[int, int]) -> dict:
    """A pair's state as the REST service and `--json` give it, from recorded answers."""
    views = [PeerView(role, ep, FailoverStatus.from_omapi(P, failover_state(*states)))
             for role, ep, states in ((Role.PRIMARY, PRIMARY, primary),
                                      (Role.SECONDARY, SECONDARY, secondary))]
    return PairStateSchema().dump(PairState(P, *views, NOW, assess(*views, NOW)))


def test_both_partner_down_is_critical_not_two_warnings():
    status, text, _ = evaluate(state((4, 4), (4, 4)), 60, 300, now=NOW)
    assert status == CRITICAL and "split brain" in text


def test_one_partner_down_is_a_warning():
    status, text, _ = evaluate(state((4, 3), (3, 4)), 60, 300, now=NOW)
    assert status == WARNING and "primary partner-down" in text
