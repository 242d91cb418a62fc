"""The REST client loads none of the service's frameworks (issue 24): a command that only
talks to a service through it must not pay for importing Flask and the scheduler."""
from __future__ import annotations

import json
import subprocess
import sys

SERVICE_ONLY = ("flask", "flask_smorest", "werkzeug", "apscheduler", "prometheus_client",
                "waitress")


def test_importing_the_rest_client_loads_no_service_framework():
    code = ("import json, sys, omapifo.clients.client; "
            f"print(json.dumps(sorted(m for m in {SERVICE_ONLY!r} if m in sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)  # a fresh interpreter: nothing imported yet
    assert json.loads(proc.stdout) == []


def test_the_app_is_still_there_when_asked_for():
    from omapifo.api import create_app
    assert create_app.__module__ == "omapifo.api.app"
