"""omapifo._confcheck: a corpus of broken pairs, one deliberate fault each, from the lab's files."""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from omapifo import Level
from omapifo.clients.exitcodes import config_check as exit_code
from omapifo._confcheck import Finding, check_pair, worst

from .conftest import IN_CI
from .labfiles import write_lab_files


def edit(role: str, name: str, old: str, new: str, count: int = 1) -> Callable[[Path], None]:
    """A fault: replace ``old`` by ``new`` in one file of one server (must be present)."""
    def apply(root: Path) -> None:
        path = root / role / name
        text = path.read_text()
        assert old in text, f"{old!r} not in {path}"
        path.write_text(text.replace(old, new, count))
    return apply


def relink(root: Path) -> None:
    link = root / "primary" / "dhcpd.conf-failover"
    link.unlink()
    link.symlink_to("dhcpd.conf-failover-secondary")


EXTRA_SUBNET = """
subnet 198.18.15.0 netmask 255.255.255.0 {
    pool {
        deny dynamic bootp clients;
        failover peer "classroom-1-6";
        range 198.18.15.32 198.18.15.63;
    }
}
"""
OVERLAP = """
subnet 198.18.16.0 netmask 255.255.255.0 {
    pool { deny dynamic bootp clients; failover peer "classroom-1-6";
           range 198.18.16.10 198.18.16.20; }
    pool { deny dynamic bootp clients; failover peer "classroom-1-6";
           range 198.18.16.15 198.18.16.30; }
}
"""
FO_SECONDARY = "dhcpd.conf-failover-secondary"
FO_PRIMARY = "dhcpd.conf-failover-primary"

CASES: dict[str, tuple[list[Callable[[Path], None]], set[str]]] = {
    "clean": ([], set()),
    "peer names differ": ([edit(r, FO_SECONDARY, 'peer "classroom-1-6"',
                                'peer "classroom-1-7"') for r in ("primary", "secondary")],
                          {"FO001", "PL002"}),
    "peer address wrong": ([edit(r, FO_SECONDARY, "peer address 198.18.10.253",
                                 "peer address 198.18.10.252") for r in ("primary", "secondary")],
                           {"FO002"}),
    "both primary": ([edit(r, FO_SECONDARY, "    secondary;", "    primary;")
                      for r in ("primary", "secondary")], {"FO003"}),
    "primary without split": ([edit(r, FO_PRIMARY, "split 128;", "") for r in
                               ("primary", "secondary")], {"FO004"}),
    "primary without mclt": ([edit(r, FO_PRIMARY, "mclt 3600;", "") for r in
                              ("primary", "secondary")], {"FO005"}),
    "mclt on the secondary": ([edit(r, FO_SECONDARY, "load balance max seconds 3;",
                                    "load balance max seconds 3; mclt 3600;")
                               for r in ("primary", "secondary")], {"FO006"}),
    "split 300": ([edit(r, FO_PRIMARY, "split 128;", "split 300;") for r in
                   ("primary", "secondary")], {"FO007"}),
    "max-response-delay differs": ([edit(r, FO_SECONDARY, "max-response-delay 15;",
                                         "max-response-delay 30;")
                                    for r in ("primary", "secondary")], {"FO011"}),
    "secondary without max-unacked-updates": ([edit(r, FO_SECONDARY, "max-unacked-updates 10;",
                                                    "") for r in ("primary", "secondary")],
                                              {"FO009"}),
    "pool without failover": ([edit("primary", "dhcpd.conf", '        failover peer '
                                    '"classroom-1-6";\n        range 198.18.11.32',
                                    "        range 198.18.11.32")], {"PL001"}),
    "pool names an undeclared peer": ([edit("primary", "dhcpd.conf", 'failover peer '
                                            '"classroom-1-6";\n        range 198.18.12.32',
                                            'failover peer "classroom-9";\n        range '
                                            "198.18.12.32")], {"PL002"}),
    "pool on the primary only": ([edit("primary", "dhcpd.conf", "# client subnet 1",
                                       EXTRA_SUBNET + "# client subnet 1")], {"PL003"}),
    "ranges differ": ([edit("secondary", "dhcpd.conf", "range 198.18.11.32 198.18.11.63",
                            "range 198.18.11.32 198.18.11.62")], {"PL004"}),
    "failover pool allows bootp": ([edit("primary", "dhcpd.conf",
                                         "deny dynamic bootp clients;", "")], {"PL005"}),
    "range outside its subnet": ([edit(r, "dhcpd.conf", "range 198.18.11.32 198.18.11.63",
                                       "range 198.18.17.32 198.18.17.63")
                                  for r in ("primary", "secondary")], {"RG001"}),
    "overlapping ranges": ([edit(r, "dhcpd.conf", "# client subnet 1",
                                 OVERLAP + "# client subnet 1") for r in ("primary", "secondary")],
                           {"RG002"}),
    "fixed address in a dynamic range": ([edit("primary", "dhcpd.conf", "# client subnet 1",
                                               "host printer { hardware ethernet 02:00:00:00:00:"
                                               "aa; fixed-address 198.18.11.40; }\n"
                                               "# client subnet 1")], {"RG003"}),
    "include missing": ([edit("primary", "dhcpd.conf", 'include "dhcpd.conf-failover";',
                              'include "dhcpd.conf-failover-nope";')], {"IN001"}),
    "symlink to the other role": ([relink], {"IN002", "FO002", "FO003", "FO004", "FO005"}),
    "OMAPI off": ([edit("secondary", "dhcpd.conf", "omapi-port 7911;", "")], {"OM001"}),
    "OMAPI without a key": ([edit("primary", "dhcpd.conf", "omapi-key omapi_key;", "")],
                            {"OM002"}),
}


def build(tmp_path: Path, faults: list[Callable[[Path], None]]) -> Path:
    write_lab_files(tmp_path, mclt=3600)
    for fault in faults:
        fault(tmp_path)
    return tmp_path


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_broken_pair_gets_exactly_its_codes(tmp_path, case):
    faults, expected = CASES[case]
    root = build(tmp_path, faults)
    findings = check_pair(root / "primary" / "dhcpd.conf", root / "secondary" / "dhcpd.conf",
                          run_dhcpd=False)
    assert {f.code for f in findings} == expected, [str(f) for f in findings]
    for f in findings:
        assert f.file and f.hint and f.message
        if f.code not in ("IN001", "OM001"):
            assert f.line, str(f)
    assert all(isinstance(f.severity, Level) and f.severity is not Level.OK
               for f in findings)
    assert exit_code(findings) == (0 if not expected else
                                   2 if any(f.severity is Level.CRITICAL for f in findings)
                                   else 1)


def test_short_mclt_is_only_information(tmp_path):
    root = build(tmp_path, [edit(r, FO_PRIMARY, "mclt 3600;", "mclt 60;")
                            for r in ("primary", "secondary")])
    findings = check_pair(root / "primary" / "dhcpd.conf", root / "secondary" / "dhcpd.conf",
                          run_dhcpd=False)
    assert [f.code for f in findings] == ["FO008"] and exit_code(findings) == 0
    assert findings[0].severity is Level.INFO and worst(findings) is Level.INFO


def finding(severity: Level) -> Finding:
    return Finding("XX001", severity, "message", "hint", "dhcpd.conf", 3)


def test_severity_is_a_level_printed_as_the_docs_spell_it():
    assert str(finding(Level.CRITICAL)) == "dhcpd.conf:3: critical XX001: message (hint)"
    assert [str(level) for level in (Level.INFO, Level.WARNING, Level.CRITICAL)] == [
        "info", "warning", "critical"]


def test_the_exit_code_is_the_worst_findings_code():
    """0 clean or information only, 1 warnings, 2 critical findings: Level.code."""
    assert worst([]) is Level.OK and exit_code([]) == 0
    for levels, code in (([Level.INFO], 0), ([Level.INFO, Level.WARNING], 1),
                         ([Level.WARNING, Level.CRITICAL, Level.INFO], 2)):
        assert exit_code([finding(level) for level in levels]) == code, levels


def test_every_code_in_the_docs_has_the_severity_the_docs_give_it(tmp_path):
    """docs/config-check.md's table and the findings agree, for the cases built here."""
    import re
    doc = (Path(__file__).resolve().parent.parent / "docs" / "config-check.md").read_text()
    documented = {code: {s.strip() for s in sev.split("/")}
                  for code, sev in re.findall(r"^\| ([A-Z]{2}\d{3}) \| ([a-z /]+) \|", doc,
                                              re.M)}
    assert len(documented) == 25 and set().union(*documented.values()) == {
        "critical", "warning", "info"}
    for case in sorted(CASES):
        faults, _ = CASES[case]
        root = build(tmp_path / case.replace(" ", "-"), faults)
        for f in check_pair(root / "primary" / "dhcpd.conf", root / "secondary" / "dhcpd.conf",
                            run_dhcpd=False):
            assert str(f.severity) in documented[f.code], (case, str(f))


def test_dhcpds_own_verdict_is_reported(tmp_path):
    if shutil.which("dhcpd") is None and not os.path.exists("/usr/sbin/dhcpd"):
        if IN_CI:
            pytest.fail("dhcpd is not installed in CI")
        pytest.skip("dhcpd is not installed")
    clean = build(tmp_path / "clean", [])
    findings = check_pair(clean / "primary" / "dhcpd.conf", clean / "secondary" / "dhcpd.conf")
    assert not [f for f in findings if f.code == "DT001"], [str(f) for f in findings]
    broken = build(tmp_path / "broken", [edit(r, FO_PRIMARY, "split 128;", "split 300;")
                                         for r in ("primary", "secondary")])
    findings = check_pair(broken / "primary" / "dhcpd.conf", broken / "secondary" / "dhcpd.conf")
    assert {f.code for f in findings} == {"FO007", "DT001"}
    dt = next(f for f in findings if f.code == "DT001")
    assert "split must be between 0 and 256" in dt.message


# -- the lab's own pair, and doctor on it ----------------------------------------------------


@pytest.mark.integration
def test_the_labs_own_pair_is_clean(lab, pair):
    findings = pair.check_config()
    assert exit_code(findings) == 0, [str(f) for f in findings]
    assert {f.code for f in findings} <= {"FO008"}  # the lab's short mclt, information only


@pytest.mark.integration
def test_doctor_before_and_after_a_server_stops(healthy_lab, pair):
    from omapifo._doctor import diagnose
    from omapifo import FailoverState, Role
    before = diagnose(pair)
    assert before.next_step.startswith("Nothing to do")
    assert any("normal" in line for line in before.live) and len(before.pools) == 4
    assert any("as configured" in line for line in before.live)
    healthy_lab.stop(Role.PRIMARY)
    healthy_lab.wait_states(None, FailoverState.COMMUNICATIONS_INTERRUPTED, timeout=30)
    after = diagnose(pair)
    assert any("does not answer" in line for line in after.live)
    assert "omapifo partner-down classroom-1-6 secondary" in after.next_step
    assert len(after.pools) == 4  # counted from the secondary's view


def test_cli_config_check_exit_codes_and_json(tmp_path, capsys):
    import json
    from omapifo.clients import cli
    root = build(tmp_path / "a", [])
    assert cli.main(["config", "check", str(root / "primary" / "dhcpd.conf"),
                     str(root / "secondary" / "dhcpd.conf"), "--no-dhcpd"]) == 0
    assert "clean" in capsys.readouterr().out
    root = build(tmp_path / "b", [edit("primary", "dhcpd.conf", "deny dynamic bootp clients;",
                                       "")])
    assert cli.main(["config", "check", str(root / "primary" / "dhcpd.conf"),
                     str(root / "secondary" / "dhcpd.conf"), "--no-dhcpd", "--json"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert [(f["code"], f["severity"]) for f in found] == [("PL005", "warning")]
    root = build(tmp_path / "c", CASES["pool without failover"][0])
    assert cli.main(["config", "check", str(root / "primary" / "dhcpd.conf"),
                     str(root / "secondary" / "dhcpd.conf"), "--no-dhcpd"]) == 2


SECOND = 'failover peer "classroom-2" {'


@pytest.mark.parametrize("fault, expected", [
    ([], set()),
    # the second block's port on the secondary no longer mirrors the primary's peer port:
    # only a check of every block (not the first one found) sees it
    ([edit(r, FO_SECONDARY, "    port 648;", "    port 649;") for r in ("primary", "secondary")],
     {"FO002"}),
    # the secondary's second block renamed: classroom-2 is declared on the primary only,
    # classroom-3 on the secondary only (whose pools then name an undeclared peer: PL002)
    ([edit("secondary", FO_SECONDARY, SECOND, 'failover peer "classroom-3" {')],
     {"FO001", "PL002"}),
])
def test_every_failover_peer_between_the_two_servers_is_checked(tmp_path, fault, expected):
    """dhcpd allows several failover peers between one pair of servers (issue 14): each is
    compared with its namesake on the other server."""
    write_lab_files(tmp_path, mclt=3600, second_peer=True)
    for f in fault:
        f(tmp_path)
    findings = check_pair(tmp_path / "primary" / "dhcpd.conf",
                          tmp_path / "secondary" / "dhcpd.conf", run_dhcpd=False)
    assert {f.code for f in findings} == expected, [str(f) for f in findings]
    if "FO001" in expected:
        fo001 = sorted((f.message, Path(f.file).name) for f in findings if f.code == "FO001")
        assert fo001 == [
            ("the failover peer 'classroom-2' is declared on the primary but not on the "
             "secondary", "dhcpd.conf-failover"),
            ("the failover peer 'classroom-3' is declared on the secondary but not on the "
             "primary", "dhcpd.conf-failover")]
