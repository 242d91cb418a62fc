"""omapifo._states: dhcpd's failover states and the failover-state object's attributes."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from omapifo import FailoverState, Role
from omapifo import _wire as wire
from omapifo._states import utc_from_unix
from omapifo._wire import decode_u32

from .recorded import FAILOVER_STATE_NORMAL, failover_state, u32

# dhcpd 4.x's numbers (includes/failover.h) and the names it logs.
DHCPD_STATES = {
    1: "startup", 2: "normal", 3: "communications-interrupted", 4: "partner-down",
    5: "potential-conflict", 6: "recover", 7: "paused", 8: "shutdown", 9: "recover-done",
    10: "resolution-interrupted", 11: "conflict-done", 254: "recover-wait",
}


@pytest.mark.parametrize("number,name", sorted(DHCPD_STATES.items()))
def test_every_state_has_dhcpds_number_and_name(number, name):
    state = FailoverState(number)
    assert str(state) == name
    assert FailoverState.from_name(name) is state
    status = wire.failover_status("x", failover_state(number, number))
    assert status.local_state is state and status.partner_state is state


def test_unknown_number_decodes_to_unknown_not_an_exception():
    assert FailoverState.decode(77) is FailoverState.UNKNOWN_STATE


def test_from_name_rejects_nonsense():
    with pytest.raises(ValueError, match="not a dhcpd failover state"):
        FailoverState.from_name("healthy")


def test_recorded_normal_answer_decodes_every_attribute():
    st = wire.failover_status("classroom-1-6", FAILOVER_STATE_NORMAL)
    assert st.name == "classroom-1-6"
    assert st.local_state is FailoverState.NORMAL and st.partner_state is FailoverState.NORMAL
    assert st.since == datetime.fromtimestamp(0x6B0654EF, tz=timezone.utc)
    assert st.since.tzinfo is timezone.utc
    assert st.partner_since == datetime.fromtimestamp(0x6B065514, tz=timezone.utc)
    assert (st.mclt, st.max_response_delay, st.max_outstanding_updates) == (60, 15, 10)
    assert (st.load_balance_max_secs, st.hierarchy, st.skew) == (3, 0, 0)
    assert st.cur_unacked_updates == 0
    assert (st.local_port, st.partner_port) == (519, 520)
    assert st.role is Role.PRIMARY


def test_secondary_hierarchy_and_missing_attributes():
    attrs = failover_state(3, 2, hierarchy=1)
    del attrs["mclt"]
    attrs["skew"] = b"\x01"  # not 4 bytes: undecodable, None rather than garbage
    st = wire.failover_status("x", attrs)
    assert st.role is Role.SECONDARY and st.mclt is None and st.skew is None


def test_unix_zero_means_unset():
    assert utc_from_unix(0) is None
    assert decode_u32({"a": u32(7)}, "a") == 7 and decode_u32({}, "a") is None


def test_role_parse():
    assert Role.parse("Primary") is Role.PRIMARY and Role.PRIMARY.other is Role.SECONDARY
    with pytest.raises(ValueError, match="primary' or 'secondary"):
        Role.parse("tertiary")
