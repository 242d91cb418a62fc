"""Metric families that add up (issue 14): a pool's size is a gauge of its own and
omapifo_pool_addresses has only binding states, so summing it over states gives the size
(it used to hold a state="total" series too, and every sum counted twice); build_info
says which omapifo serves. No lab needed: the metrics are fed a report directly."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from omapifo import PoolCounts, PoolReport, __version__
from omapifo.api.metrics import POOL_STATES, Metrics

NOW = datetime(2026, 11, 25, 3, 0, 7, tzinfo=timezone.utc)


def pool(name: str, **states: int) -> PoolCounts:
    counts = {s: states.get(s, 0) for s in POOL_STATES}
    return PoolCounts(name=name, subnet=None, ranges=(), failover_peer="fo",
                      total=sum(counts.values()), **counts,
                      runway={"primary": counts["free"], "secondary": counts["backup"]})


def samples(m: Metrics) -> dict[str, list]:
    out: dict[str, list] = defaultdict(list)
    for family in text_string_to_metric_families(generate_latest(m.registry).decode()):
        for s in family.samples:
            out[s.name].append(s)
    return out


def test_pool_addresses_summed_over_states_is_the_pool_size():
    m = Metrics()
    m.observe_pools(PoolReport("p", (pool("a", active=5, free=10, backup=9, unknown=8),
                                     pool("b", active=1, expired=2, abandoned=1, free=4)),
                               NOW, "omapi", 0.1))
    s = samples(m)
    size = {x.labels["pool"]: x.value for x in s["omapifo_pool_size_addresses"]}
    assert size == {"a": 32, "b": 8}
    by_pool: dict[str, float] = defaultdict(float)
    for x in s["omapifo_pool_addresses"]:
        assert x.labels["state"] in POOL_STATES, x.labels  # no "total" among the states
        by_pool[x.labels["pool"]] += x.value
    assert by_pool == size  # sum by (pool) (omapifo_pool_addresses) == the pool's size
    assert sum(by_pool.values()) == 40  # and over everything: each address once


def test_build_info_is_one_with_the_version():
    s = samples(Metrics())
    assert [(x.labels, x.value) for x in s["omapifo_build_info"]] == \
        [({"version": __version__}, 1.0)]
