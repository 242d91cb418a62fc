"""`omapifo lease list` and `omapifo lease find` against the real pair."""
from __future__ import annotations

import csv
import io
import json

import pytest

from omapifo import FailoverPair, Role

from .test_cli import PAIR

pytestmark = pytest.mark.integration
MAC = "02:00:00:cc:1e:01"


def test_list_table_csv_json_and_offline_show_a_real_client(healthy_lab, run):
    ip = healthy_lab.client(3, mac=MAC)
    with FailoverPair(healthy_lab.pair_config()) as own:  # dhcpd, read on our own
        view = own.lease(ip)
    code, out, _ = run("lease", "list", PAIR, "--state", "active")
    row = next(line for line in out.splitlines() if line.startswith(ip + " "))
    assert code == 0 and "active" in row and MAC in row and str(view.serving) in row
    assert "agree" in row and "leases, omapi" in out
    code, out, _ = run("lease", "list", PAIR, "--state", "active", "--csv")
    rows = {r["ip"]: r for r in csv.DictReader(io.StringIO(out))}
    assert rows[ip]["hardware_address"] == MAC and rows[ip]["served_by"] == str(view.serving)
    assert (rows[ip]["primary_state"], rows[ip]["secondary_state"]) == (
        str(view.primary.state), str(view.secondary.state))
    net = str(healthy_lab.layout.client_net(3))
    code, out, _ = run("lease", "list", PAIR, "--subnet", net, "--json")
    body = json.loads(out)
    assert body["complete"] and len(body["leases"]) == 32  # the lab's pools: 32 addresses
    served = healthy_lab.leases_path(view.serving)  # the serving peer writes it at once
    code, out, _ = run("lease", "list", PAIR, "--leases", str(served), "--subnet", net,
                       "--csv")
    offline = {r["ip"]: r for r in csv.DictReader(io.StringIO(out))}
    assert code == 0 and offline[ip]["hardware_address"] == MAC
    with pytest.raises(SystemExit) as usage:  # argparse's own usage error
        run("lease", "list", PAIR, "--state", "bound")
    assert usage.value.code == 2
    code, _, err = run("lease", "list", PAIR, "--subnet", "10.0.0.0/33")
    assert code == 2 and "not a network" in err


def test_find_names_pair_peer_and_state_and_exits_1_for_nothing(healthy_lab, run):
    ip = healthy_lab.client(1, mac=MAC)
    code, out, _ = run("lease", "find", MAC)
    row = next(line for line in out.splitlines() if ip in line)
    assert code == 0 and row.startswith(PAIR) and MAC in row
    code, out, _ = run("lease", "find", ip, "--json")
    found = json.loads(out)
    assert found["kind"] == "ip" and found["matches"][0]["lease"]["hardware_address"] == MAC
    assert found["matches"][0]["lease"]["served_by"] in [str(r) for r in Role]
    code, out, _ = run("lease", "find", "02:00:00:cc:ff:fe")
    assert code == 1 and "no lease for 02:00:00:cc:ff:fe (mac) in any pair" in out
