"""The response schemas load what they dump: the REST client and the command line get
the library's own objects back from the service's JSON, exactly."""
from __future__ import annotations

import json

import pytest

from omapifo import (ActionResult, FailoverState, LeaseState, LeaseView, PairState, PeerView,
                     PoolReport, ProtocolError, Role)
from omapifo.clients.client import decode

from ..clients.samples import SAMPLES, dumped, pair_state, recover_wait

TYPES = {"PairStateSchema": PairState, "PeerSchema": PeerView, "LeaseViewSchema": LeaseView,
         "ActionResultSchema": ActionResult, "PoolReportSchema": PoolReport}


@pytest.mark.parametrize("name,build,schema", SAMPLES, ids=[n for n, _, _ in SAMPLES])
def test_dumping_what_is_loaded_gives_back_the_same_json(name, build, schema):
    body = json.loads(json.dumps(dumped(build, schema)))  # through the wire's types
    obj = schema().load(body)
    assert type(obj) is TYPES[schema.__name__]
    assert schema().dump(obj) == body


@pytest.mark.parametrize("name,build,schema", SAMPLES, ids=[n for n, _, _ in SAMPLES])
def test_loading_gives_back_the_librarys_object(name, build, schema):
    """Equal to the object that was dumped, except what the service does not send (a
    peer's hierarchy, skew and ports; its failover-state object's name)."""
    obj = schema().load(json.loads(json.dumps(dumped(build, schema))))
    if schema.__name__ in ("LeaseViewSchema", "PoolReportSchema"):
        assert obj == build()
    else:  # a FailoverStatus also holds what the service does not send: compare its views
        for want, got in _peer_views(build(), obj):
            assert (got.role, got.endpoint, got.local_state, got.partner_state, got.since,
                    got.mclt, got.error, got.error_kind) == (
                want.role, want.endpoint, want.local_state, want.partner_state, want.since,
                want.mclt, want.error, want.error_kind)


def _peer_views(want, got):
    if isinstance(want, PeerView):
        return [(want, got)]
    if isinstance(want, ActionResult):
        assert (got.pair, got.role, got.done, got.force, got.reason, got.at) == (
            want.pair, want.role, want.done, want.force, want.reason, want.at)
        return _peer_views(want.before, got.before) + _peer_views(want.after, got.after)
    assert (got.pair, got.read_at, got.health) == (want.pair, want.read_at, want.health)
    return [(want.primary, got.primary), (want.secondary, got.secondary)]


def test_loaded_objects_are_typed_like_the_librarys():
    st = SAMPLES[0][2]().load(dumped(pair_state, SAMPLES[0][2]))
    assert st.primary.local_state is FailoverState.COMMUNICATIONS_INTERRUPTED
    assert st.secondary.role is Role.SECONDARY and st.primary.since.tzinfo is not None
    assert st.health == pair_state().health
    assert st.primary.since == pair_state().primary.since
    rw = SAMPLES[0][2]().load(dumped(recover_wait, SAMPLES[0][2]))
    assert rw.primary.recover_wait_until == recover_wait().primary.recover_wait_until


def test_a_body_that_is_not_v1_is_a_protocol_error():
    schema = SAMPLES[0][2]()
    with pytest.raises(ProtocolError, match="read pair: the service's answer is not"):
        decode(schema, {"ok": True}, "read pair", PairState)
    body = dumped(pair_state, SAMPLES[0][2])
    with pytest.raises(ProtocolError, match="loads as PairState, not LeaseView"):
        decode(schema, body, "read pair", LeaseView)
    body["primary"]["since"] = "yesterday"
    with pytest.raises(ProtocolError, match="yesterday"):
        decode(schema, body, "read pair", PairState)


def test_lease_states_keep_their_enum():
    from ..clients.samples import lease_view
    schema = SAMPLES[4][2]
    lv = schema().load(json.loads(json.dumps(dumped(lease_view, schema))))
    assert lv.state is LeaseState.ACTIVE and lv.agree == lease_view().agree
    assert lv.serving is Role.SECONDARY
