"""The omapifo REST service (installed as ``omapifo.api``): Flask, marshmallow, APScheduler.

    from omapifo import load_config
    from omapifo.api import create_app
    app = create_app(load_config("omapifo.toml"))      # starts the health poller

Endpoints are documented in docs/rest.md and served as /api/v1/openapi.json.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # The app is imported when asked for (PEP 562), not with the package: the REST client
    # (omapifo.clients.client) imports omapifo.api.schemas, and importing the app here
    # loaded Flask, flask-smorest, APScheduler and prometheus_client into every command
    # that only talks to a service.
    if name == "create_app":
        from .app import create_app
        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
