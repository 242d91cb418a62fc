"""The client rebuilds the library's objects from the service's JSON, exactly."""
from __future__ import annotations

import json

import pytest

from omapifo import FailoverState, LeaseState, ProtocolError, Role
from omapifo.clients import decoding
from omapifo.clients.decoding import decode

from .samples import SAMPLES, dumped, pair_state, recover_wait

DECODER = {"PairStateSchema": decoding.pair_state, "PeerSchema": decoding.peer_view,
           "LeaseViewSchema": decoding.lease_view, "ActionResultSchema": decoding.action_result,
           "PoolReportSchema": decoding.pool_report}


@pytest.mark.parametrize("name,build,schema", SAMPLES, ids=[n for n, _, _ in SAMPLES])
def test_dumping_what_is_decoded_gives_back_the_same_json(name, build, schema):
    body = json.loads(json.dumps(dumped(build, schema)))  # through the wire's types
    obj = DECODER[schema.__name__](body)
    assert schema().dump(obj) == body


def test_decoded_objects_are_typed_like_the_librarys():
    st = decoding.pair_state(dumped(pair_state, SAMPLES[0][2]))
    assert st.primary.local_state is FailoverState.COMMUNICATIONS_INTERRUPTED
    assert st.secondary.role is Role.SECONDARY and st.primary.since.tzinfo is not None
    assert st.health == pair_state().health
    rw = decoding.pair_state(dumped(recover_wait, SAMPLES[0][2]))
    assert rw.primary.recover_wait_until == recover_wait().primary.recover_wait_until


def test_a_body_that_is_not_v1_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="read pair: the service's answer is not"):
        decode(decoding.pair_state, {"ok": True}, "read pair")
    body = dumped(pair_state, SAMPLES[0][2])
    body["primary"]["since"] = "yesterday"
    with pytest.raises(ProtocolError, match="yesterday"):
        decode(decoding.pair_state, body, "read pair")


def test_lease_states_keep_their_enum():
    from .samples import lease_view
    lv = decoding.lease_view(json.loads(json.dumps(dumped(lease_view, SAMPLES[4][2]))))
    assert lv.state is LeaseState.ACTIVE and lv.agree == lease_view().agree
    assert lv.serving is Role.SECONDARY
