"""The host reservation endpoints (omapifo/_hosts.py), on the v1 blueprint. Thin, like views.py:
parse with a schema, call the library (which guards and audits), dump with a schema."""
from __future__ import annotations

import json
from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import abort

from . import schemas as s
from .views import _change, _confirmed, _json, _pair, _problems, blp


@blp.route("/pairs/<string:pair>/hosts")
class Hosts(MethodView):
    @blp.arguments(s.HostQuerySchema, location="query")
    @blp.response(200, s.HostListSchema)
    # two shapes, as GET .../leases: the list, or (the lookup form, ?mac= / ?ip=) one host
    @blp.doc(responses={"200": {"description": "every host of both peers' dhcpd.leases "
                                "(HostList); with ?mac= or ?ip=, that one host as both peers "
                                "answer over OMAPI (HostView)",
                                "content": {"application/json": {"schema": {"oneOf": [
                                    {"$ref": "#/components/schemas/HostList"},
                                    {"$ref": "#/components/schemas/HostView"}]}}}}})
    @blp.alt_response(404, schema=s.ProblemSchema, description="neither peer has the host")
    @blp.alt_response(409, schema=s.ProblemSchema, description="the list: the pair has no "
                      "dhcpd_leases and secondary_dhcpd_leases configured")
    @_problems(502, 504)
    def get(self, query: dict[str, Any], pair: str) -> Any:
        """Every host reservation in both peers' dhcpd.leases (the pair's ``dhcpd_leases``
        and ``secondary_dhcpd_leases``; dhcpd cannot list hosts over OMAPI), compared name
        by name. With ``?mac=`` (or ``?ip=``, which dhcpd only finds through a lease of
        that address): that host as both peers see it, with agreement."""
        fp = _pair(pair)
        if query["mac"] is None and query["ip"] is None:
            return fp.hosts()
        if query["mac"] is not None and query["ip"] is not None:
            abort(400, message="give one of ?mac= or ?ip= (or neither, for the list)")
        return _json(json.dumps(s.HostViewSchema().dump(
            fp.host(mac=query["mac"], ip=query["ip"]))).encode())

    @_change(s.HostCreateSchema, s.HostViewSchema, "refused by the guard (address in a "
             "dynamic range, outside every subnet, or taken), or a peer failed", status=201)
    def post(self, query: dict[str, Any], body: dict[str, Any], pair: str) -> Any:
        """Reserve an address for a client on both peers (created on the primary, then
        the secondary, read back from both; undone on the primary if the secondary fails)."""
        return _confirmed(pair, body).add_host(
            body["name"], ip=body["ip"], mac=body["mac"], client_id=body["client_id"],
            dry_run=query["dry_run"], actor=g.caller.name)


@blp.route("/pairs/<string:pair>/hosts/<string:name>")
class HostByName(MethodView):
    @blp.response(200, s.HostViewSchema)
    @blp.alt_response(404, schema=s.ProblemSchema, description="neither peer has the host")
    @_problems(409, 502, 504)
    def get(self, pair: str, name: str) -> Any:
        """A host reservation as both peers see it, with agreement and differences."""
        return _pair(pair).host(name)

    @_change(s.HostDeleteSchema, s.HostViewSchema, "a peer cannot be read, or one peer "
             "still holds it (partial)")
    def delete(self, query: dict[str, Any], body: dict[str, Any], pair: str, name: str) -> Any:
        """Remove a host reservation from both peers (body ``{"confirm": PAIR}``)."""
        return _confirmed(pair, body).delete_host(name, dry_run=query["dry_run"],
                                                  actor=g.caller.name)


@blp.route("/pairs/<string:pair>/hosts/<string:name>/sync")
class HostSync(MethodView):
    @_change(s.HostSyncSchema, s.HostViewSchema, "refused by the guard")
    def post(self, query: dict[str, Any], body: dict[str, Any], pair: str, name: str) -> Any:
        """Create a host that one peer holds on the other peer, with the same values."""
        return _confirmed(pair, body).sync_host(name, dry_run=query["dry_run"],
                                                actor=g.caller.name)
