"""bench/run_all.py (`make bench`): every benchmark as its own subprocess, results printed,
nothing timed against a threshold. The benchmarks themselves are not run here."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
import run_all  # noqa: E402


def test_it_runs_every_benchmark_each_as_a_script_that_exists():
    plan = run_all.commands()
    assert [name for name, _ in plan] == ["scan", "offline", "leases", "api", "soak"]
    for _, cmd in plan:
        assert cmd[0] == sys.executable
        assert any(Path(a).is_file() or Path(a).is_dir() for a in cmd[1:])
    scan = dict(plan)["scan"]
    assert "--no-files" in scan and "--no-files" in dict(plan)["leases"]  # offline: once
    # the soak with the parameters docs/performance.md reports
    assert dict(plan)["soak"][2:] == ["--pairs", "50", "--minutes", "10", "--interval", "5"]


def test_quick_passes_small_parameters_and_only_selects():
    plan = dict(run_all.commands(quick=True))
    assert "--seconds" in plan["api"] and "--sample" in plan["scan"]
    assert plan["soak"][plan["soak"].index("--minutes") + 1] == "1"
    assert [n for n, _ in run_all.commands(only=["offline"])] == ["offline"]


def test_main_runs_each_and_reports_a_failure(monkeypatch, capsys):
    ran = []

    def fake_run(cmd, cwd):
        ran.append(cmd)
        return subprocess.CompletedProcess(cmd, 1 if "bench_api.py" in cmd[1] else 0)

    monkeypatch.setattr(run_all.subprocess, "run", fake_run)
    assert run_all.main(["--quick"]) == 1
    assert len(ran) == 5
    out = capsys.readouterr()
    assert "=== scan: done" in out.out and "=== api: FAILED (exit 1)" in out.out
    assert "failed: api" in out.err
