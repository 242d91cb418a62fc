"""What the lab needs from the machine: root, and the Debian packages' programs."""
from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from .errors import LabError

REQUIRED_TOOLS = ("dhcpd", "dhclient", "dhcrelay", "ip")


def check_prerequisites() -> None:
    """Raise LabError with the one line a user needs if the lab cannot run here."""
    if importlib.util.find_spec("tomli_w") is None:  # the lab writes its omapifo.toml with it
        raise LabError("the lab needs omapifo's 'lab' extra (tomli-w): "
                       "pip install 'omapifo[lab]'")
    if os.geteuid() != 0:
        raise LabError("the lab needs root (it creates network namespaces): run it with sudo")
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None
               and not Path(f"/usr/sbin/{t}").exists()]
    if missing:
        raise LabError(f"missing {', '.join(missing)}: run `apt-get install isc-dhcp-server "
                       "isc-dhcp-client isc-dhcp-relay iproute2` (or `make setup`)")
