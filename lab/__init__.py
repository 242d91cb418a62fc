"""omapifo.lab: the seed's classroom as a real lab, an ISC dhcpd failover pair in network
namespaces (docs/lab.md). The tests, ``omapifo lab``, ``omapifo demo`` and the
benchmarks use it; the library (``omapifo``) never imports it.

    from omapifo.lab import Lab, LabSettings
    lab = Lab.create(LabSettings(prefix="demo"))
    lab.up()                     # returns when both servers are normal over OMAPI
    lab.client(1)                # one real DHCP exchange from client subnet 1
    lab.down()                   # removes exactly what `up` recorded

Modules, one job each: :mod:`.lab` (:class:`Lab`, the one that composes the rest),
:mod:`.settings`, :mod:`.layout` (addresses), :mod:`.record` (the registry under
/run/omapifo-lab), :mod:`.network` (namespaces, links, link faults), :mod:`.processes`
(started in a namespace, ended by pid), :mod:`.templates` (dhcpd.conf, failover blocks,
omapifo.toml), :mod:`.command`, :mod:`.prerequisites`, :mod:`.errors`.
"""
from .errors import LabError
from .lab import Lab, down
from .layout import CLIENT_SUBNETS, LAB_NET, OMAPI_PORT, SLOTS, Layout
from .prerequisites import REQUIRED_TOOLS, check_prerequisites
from .record import REGISTRY, LabRecord
from .settings import DEFAULT_PEER_NAME, DEFAULT_PREFIX, LabSettings

__all__ = [
    "CLIENT_SUBNETS",
    "DEFAULT_PEER_NAME",
    "DEFAULT_PREFIX",
    "LAB_NET",
    "Lab",
    "LabError",
    "LabRecord",
    "LabSettings",
    "Layout",
    "OMAPI_PORT",
    "REGISTRY",
    "REQUIRED_TOOLS",
    "SLOTS",
    "check_prerequisites",
    "down",
]
