"""The omapifo REST service (installed as ``omapifo.api``): Flask, marshmallow, APScheduler.

    from omapifo import load_config
    from omapifo.api import create_app
    app = create_app(load_config("omapifo.toml"))      # starts the health poller

Endpoints are documented in docs/rest.md and served as /api/v1/openapi.json.
"""
from .app import create_app

__all__ = ["create_app"]
