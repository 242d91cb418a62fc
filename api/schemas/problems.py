"""The shape of every error the service answers (api/problems.py writes them; the OpenAPI
document describes each error response with it)."""
from __future__ import annotations

from marshmallow import fields as f

from ._base import _Base


class ProblemSchema(_Base):
    """RFC 9457 problem details."""

    type = f.String(metadata={"description": "about:blank, or urn:omapifo:problem:NAME for "
                              "an omapifo error (docs/rest.md lists them)"})
    title = f.String()
    status = f.Integer()
    detail = f.String()
    errors = f.Dict()
    message = f.String(metadata={"description": "an omapifo error's own message"})
    peer = f.String(allow_none=True)
    operation = f.String(allow_none=True)
