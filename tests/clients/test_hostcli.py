"""`omapifo host ...` against the real pair: confirmation, guards, both peers, the files."""
from __future__ import annotations

import json

import pytest

from omapifo import FailoverPair, NotFound, Role, load_config
from omapifo.clients import servecli

from ..api.conftest import OPERATOR, service_config
from ..conftest import fresh_host

pytestmark = pytest.mark.integration
PAIR = "classroom-1-6"



def test_host_commands_on_the_real_pair(healthy_lab, run):
    lab = healthy_lab
    ip = str(lab.layout.client_net(3).network_address + 10)
    files = [str(lab.leases_path(Role.PRIMARY)), str(lab.leases_path(Role.SECONDARY))]
    try:
        code, _, err = run("host", "add", PAIR, "cli-h1", ip, "--mac", "02:00:00:00:ef:01")
        assert code == 2 and "needs confirmation" in err  # no terminal, no --yes
        assert fresh_host(lab, "cli-h1") is None
        code, out, _ = run("host", "add", PAIR, "cli-h1", ip, "--mac", "02:00:00:00:ef:01",
                           "--dry-run", "--yes")
        assert code == 0 and "nothing was changed" in out and fresh_host(lab, "cli-h1") is None
        code, out, _ = run("host", "add", PAIR, "cli-h1", ip, "--mac", "02:00:00:00:ef:01",
                           "--yes", "--files", *files)
        assert code == 0 and "on both peers, the same" in out
        assert fresh_host(lab, "cli-h1").agree
        code, out, _ = run("host", "show", PAIR, "--mac", "02:00:00:00:ef:01", "--json")
        assert code == 0 and json.loads(out)["agree"] is True
        code, out, _ = run("host", "list", PAIR, "--files", *files)
        assert code == 0 and any(line.split()[:1] == ["cli-h1"] and "both" in line
                                 for line in out.splitlines())
        # the secondary loses it behind our back: the list sees it, sync repairs it
        with FailoverPair(lab.pair_config()) as p:
            p.peer(Role.SECONDARY).delete("host", [("name", b"cli-h1")])
        code, out, _ = run("host", "list", PAIR, "--files", *files)
        assert code == 1 and "primary only" in out and "omapifo host sync" in out
        code, out, _ = run("host", "sync", PAIR, "--files", *files, "--yes")
        assert code == 0 and "on both peers, the same" in out
        assert fresh_host(lab, "cli-h1").agree
        code, _, err = run("host", "add", PAIR, "cli-h2", ip, "--mac", "02:00:00:00:ef:02",
                           "--yes", "--files", *files)
        assert code == 1 and f"address {ip} is already reserved" in err
        code, out, _ = run("host", "delete", PAIR, "cli-h1", "--yes")
        assert code == 0 and fresh_host(lab, "cli-h1") is None
        code, _, err = run("host", "show", PAIR, "cli-h1")
        assert code == 1 and "no host cli-h1 on either peer" in err
    finally:
        with FailoverPair(lab.pair_config()) as p:
            for peer in p.peers.values():
                try:
                    peer.delete("host", [("name", b"cli-h1")])
                except NotFound:
                    pass


@pytest.mark.direct_only  # it goes through the service itself
def test_host_commands_through_the_rest_service(healthy_lab, run, tmp_path, monkeypatch):
    lab = healthy_lab
    ip = str(lab.layout.client_net(4).network_address + 10)
    cfg = service_config(lab.config_path, tmp_path, tmp_path / "db.sqlite3")
    url, serve, stop = servecli.start(load_config(cfg), "127.0.0.1:0")
    servecli.run_in_thread(serve)
    try:
        monkeypatch.setenv("OMAPIFO_TOKEN", OPERATOR)
        code, out, err = run("host", "add", PAIR, "api-cli", ip, "--mac", "02:00:00:00:ef:04",
                             "--yes", "--api", url)
        assert code == 0, err
        assert fresh_host(lab, "api-cli").agree
        code, out, _ = run("host", "show", PAIR, "api-cli", "--api", url, "--json")
        assert code == 0 and json.loads(out)["secondary"]["ip"] == ip
        # sync through the service with local copies of the files: they only choose the
        # names (the one-sided hosts); the service checks the address against its own
        files = [str(lab.leases_path(Role.PRIMARY)), str(lab.leases_path(Role.SECONDARY))]
        with FailoverPair(lab.pair_config()) as p:
            p.peer(Role.SECONDARY).delete("host", [("name", b"api-cli")])
        code, out, err = run("host", "sync", PAIR, "--files", *files, "--yes", "--api", url)
        assert code == 0 and "api-cli" in out and "on both peers, the same" in out, err
        assert fresh_host(lab, "api-cli").agree
        code, _, err = run("host", "add", PAIR, "api-cli2", ip, "--mac", "02:00:00:00:ef:05",
                           "--yes", "--api", url, "--files", "a", "b")
        assert code == 2 and "do not go with --api" in err
        code, _, _ = run("host", "delete", PAIR, "api-cli", "--yes", "--api", url)
        assert code == 0 and fresh_host(lab, "api-cli") is None
        code, _, err = run("host", "delete", PAIR, "api-cli", "--yes", "--api", url)
        assert code == 1 and "no host api-cli on either peer" in err
    finally:
        stop()
        with FailoverPair(lab.pair_config()) as p:
            for peer in p.peers.values():
                try:
                    peer.delete("host", [("name", b"api-cli")])
                except NotFound:
                    pass
