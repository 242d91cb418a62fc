"""A real client's hostile host-name, end to end (issue 21, item 4): a dhclient in the lab
sends ESC sequences (erase the screen; OSC 52, set the clipboard), a bidi override and a
spreadsheet formula as its host-name; dhcpd keeps it and answers it over OMAPI byte for
byte; ``omapifo lease list`` (table, CSV, JSON), ``lease show``, ``lease find`` and the
service's text and JSON log lines show it without one raw control or bidi character.

Measured here (dhcpd 4.4.3-P1): dhclient.conf's lexer reads octal escapes in a string
(lab.client writes every byte as one), the lease object's client-hostname holds the raw
bytes, dhcpd logs the name as "Hostname Unsuitable for Printing" and leaves it out of
dhcpd.leases, so only OMAPI shows it (the ``--leases FILE`` path never sees it).
"""
from __future__ import annotations

import csv
import io
import json
import logging
import unicodedata

import pytest

from omapifo import load_config
from omapifo.api import create_app, logs
from omapifo._untrusted import visible

from ..api.conftest import OPERATOR, READER, auth, service_config
from .test_cli import PAIR

pytestmark = pytest.mark.integration

MAC = "02:00:00:21:04:01"
FORMULA = "=cmd|' /C calc'!A0"
NAME = FORMULA + "\x1b[2J" + "\x1b]52;c;SGVsbG8=\x07" + "\u202e" + "evil"
SHOWN = visible(NAME)  # =cmd|' /C calc'!A0\x1b[2J\x1b]52;c;SGVsbG8=\x07\u202eevil


def raw(text: str) -> list[str]:
    """Every character of ``text`` a terminal, a spreadsheet or a reader could act on:
    controls (C0, DEL, C1) and format characters (the bidi overrides among them); the
    newlines that end lines are not counted."""
    return [c for c in text.replace("\n", "")
            if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]


def test_a_hostile_host_name_is_shown_harmlessly_everywhere(healthy_lab, pair, run,
                                                          tmp_path):
    lab = healthy_lab
    # the first lease of a new client lasts one MCLT (the partner does not know it yet);
    # a second exchange gets default-lease-time (measured: 60 s, then 600 s), time enough
    lab.client(1, mac=MAC, host_name=NAME.encode())
    ip = lab.client(1, mac=MAC, host_name=NAME.encode())
    view = pair.lease(ip)  # what dhcpd holds
    assert view.serving is not None
    served = view.peer(view.serving)
    assert served is not None and served.client_hostname == NAME  # raw, byte for byte
    try:
        check_cli(run, ip)
        check_service_logs(lab, ip, tmp_path)
    finally:
        pair.release(ip, actor="test")  # later tests pick names from active leases
    # dhcpd itself writes no such name to its lease file, and logs none
    records = lab.leases_path(view.serving).read_text(errors="replace").split(
        f"lease {ip} {{")[1:]
    assert records and not any("client-hostname" in r.split("}")[0] for r in records)
    assert "(Hostname Unsuitable for Printing)" in lab.log_path(view.serving).read_text(
        errors="replace")


def check_cli(run, ip: str) -> None:
    code, out, err = run("lease", "list", PAIR, "--state", "active")
    assert code == 0 and not raw(out + err), raw(out + err)
    row = next(line for line in out.splitlines() if line.startswith(ip + " "))
    assert SHOWN in row and MAC in row
    assert len([line for line in out.splitlines() if ip in line]) == 1  # no forged row

    code, out, _ = run("lease", "list", PAIR, "--state", "active", "--csv")
    assert code == 0 and not raw(out)
    rows = {r["ip"]: r for r in csv.DictReader(io.StringIO(out))}
    cell = rows[ip]["client_hostname"]
    assert cell == "'" + SHOWN  # no formula for a spreadsheet: a quote first
    # and nothing lost: strip our quote, read the escapes back
    assert cell[1:].encode("latin-1", "backslashreplace").decode("unicode_escape") == NAME

    code, out, _ = run("lease", "list", PAIR, "--state", "active", "--json")
    assert code == 0 and out.isascii() and not raw(out)
    entry = next(e for e in json.loads(out)["leases"] if e["ip"] == ip)
    assert entry["client_hostname"] == NAME

    for argv in (("lease", "show", PAIR, ip), ("lease", "find", MAC)):
        code, out, err = run(*argv)
        assert code == 0 and not raw(out + err) and SHOWN in out, (argv, out)


def check_service_logs(lab, ip: str, tmp_path) -> None:
    """The service's log lines, text and JSON, with the name in a logged field. No line
    carries a lease's host-name by itself; the fields others fill are a rejected action's
    pair and peer (from its path, which cannot hold this name's "/": the unit tests in
    tests/api/test_untrusted_logs.py) and an operator's reason, here quoting the name as
    the service returned it (a dry run, refused: both peers are normal)."""
    cfg = service_config(lab.config_path, tmp_path, tmp_path / "omapifo.sqlite3")
    streams = {fmt: io.StringIO() for fmt in ("text", "json")}
    loggers = [logging.getLogger(name) for name in logs.LOGGERS]
    levels = [lg.level for lg in loggers]
    handlers = [logs.configure("info", fmt, stream) for fmt, stream in streams.items()]
    app = create_app(load_config(cfg), poll=False)
    try:
        c = app.test_client()
        r = c.get(f"/api/v1/pairs/{PAIR}/leases/{ip}", headers=auth(READER))
        assert r.status_code == 200 and r.data.isascii()  # Flask's JSON: ASCII too
        name = next(p["client_hostname"] for p in (r.json["primary"], r.json["secondary"])
                    if p and p["client_hostname"])
        assert name == NAME
        r = c.post(f"/api/v1/pairs/{PAIR}/peers/secondary/partner-down?dry_run=1",
                   json={"confirm": PAIR, "reason": f"client {name} lost its lease"},
                   headers=auth(OPERATOR))
        assert r.status_code == 409 and r.data.isascii()
    finally:
        app.extensions["omapifo"].close()
        for lg, level in zip(loggers, levels, strict=True):
            for h in handlers:
                lg.removeHandler(h)
            lg.setLevel(level)
    text, js = streams["text"].getvalue(), streams["json"].getvalue()
    assert not raw(text) and not raw(js)
    line = next(x for x in text.splitlines() if "outcome=refused" in x)
    logged = line.split(" reason=", 1)[1].split(" detail=")[0]
    assert json.loads(logged) == f"client {NAME} lost its lease"
    assert "\\u001b[2J" in logged and "\\u202e" in logged
    record = next(json.loads(x) for x in js.splitlines() if '"refused"' in x)
    assert record["reason"] == f"client {NAME} lost its lease" and js.isascii()
