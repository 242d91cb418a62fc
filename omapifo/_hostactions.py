"""Creating, removing and repairing host reservations on both peers of a pair.

The bodies of :meth:`FailoverPair.add_host <omapifo.FailoverPair.add_host>`,
``delete_host`` and ``sync_host``: each runs inside the pair's audited attempt (recorded
before anything is sent, under the pair's lock), reads both peers, lets
:mod:`omapifo._guards` decide, sends, and reads both peers again. dhcpd does not replicate
host objects between failover peers (see :mod:`omapifo._hosts`), so every change is made
on the primary first, then on the secondary; if the secondary fails, the primary's copy
is removed again, and :class:`~omapifo.PartialChange` says so when even that fails.
"""
from __future__ import annotations

import os

from . import _guards as guards
from ._attempt import Attempt
from ._errors import NOT_TAKEN, HostRefused, NotFound, PartialChange, PeerError
from ._hosts import Host, HostView, hosts_in_files
from ._lookups import host_view
from ._omapi import host_lookup
from ._pairaccess import PairAccess
from ._states import Role
from ._wire import read_host

Files = tuple[str | os.PathLike[str], str | os.PathLike[str]]


def _seen(pair: PairAccess, host: Host, files: Files | None
          ) -> tuple[dict[Role, list[Host]], dict[Role, str]]:
    """What each peer holds under the host's name, MAC and client id, plus the hosts of
    its dhcpd.leases (``files``): OMAPI cannot find a host by its address (_hosts.py)."""
    lookups = [host_lookup(host.name)]
    if host.mac:
        lookups.append(host_lookup(mac=host.mac))
    if host.client_id:
        lookups.append(host_lookup(client_id=host.client_id))
    in_files = hosts_in_files(files)
    errors: dict[Role, str] = {}

    def read(role: Role) -> list[Host]:
        found = list(in_files[role])
        try:
            for lookup in lookups:
                h = read_host(pair.peer(role), lookup)
                if h is not None and h not in found:
                    found.append(h)
        except PeerError as exc:
            errors[role] = str(exc)
        return found

    primary, secondary = pair.on_both(read)
    return {Role.PRIMARY: primary, Role.SECONDARY: secondary}, errors


def _create(att: Attempt, role: Role, host: Host) -> None:
    """Create ``host`` on ``role``; a lost answer is settled by reading the host back."""
    att.create(role, host.omapi_object(),
               took=lambda: read_host(att.pair.peer(role), host_lookup(host.name)) == host)


def _check_both(pair: PairAccess, att: Attempt, host: Host, action: str) -> HostView:
    after = host_view(pair, host.name)
    if not after.agree or after.primary != host:
        why = "; ".join(after.differences) or f"primary reads {after.primary}"
        raise att.unsettled(f"{action} of {host} was sent, but the peers read back: {why}",
                            detail=f"{action} sent, but the peers read back: {why}")
    return after


def add(pair: PairAccess, att: Attempt, host: Host, *, dry_run: bool,
        files: Files | None) -> HostView:
    """The body of FailoverPair.add_host (inside its attempt)."""
    seen, errors = _seen(pair, host, files)
    decision = guards.host_add(host, pair.dhcpd_conf(), seen, errors,
                               files_read=files is not None)
    if decision.no_op:
        att.no_op(decision.why)
        return host_view(pair, host.name)
    if not decision.proceed:
        raise att.refuse(decision.why, HostRefused)
    if dry_run:
        att.dry_run(f"would create {host} on both peers ({decision.why})")
        return HostView(host.name, None, None)
    try:
        _create(att, Role.PRIMARY, host)
    except PeerError as exc:
        att.fail(exc, f"the primary did not create it: {exc}")
        raise
    try:
        _create(att, Role.SECONDARY, host)
    except PeerError as exc:
        try:
            att.remove(Role.PRIMARY, host_lookup(host.name))
        except PeerError as undo:
            message = (f"{host} was created on the primary, the secondary failed ({exc}), "
                       f"and removing it from the primary again failed too ({undo}): the "
                       "primary alone holds it; delete it there (omapifo host delete) once "
                       "it answers")
            att.unknown(message)
            raise PartialChange(message, peer=str(Role.PRIMARY), operation="add host") from exc
        # NOT_TAKEN: failed; lost on the way: unknown, the secondary may hold it
        att.fail(exc, f"the secondary did not create it ({exc}); removed from the primary "
                 "again" if isinstance(exc, NOT_TAKEN) else
                 f"the secondary's create got no answer ({exc}), so it may hold the host; "
                 "removed from the primary again. Check with `omapifo host show` and "
                 "delete what is left")
        raise
    after = _check_both(pair, att, host, "add host")
    att.done(f"created {host} on both peers")
    return after


def delete(pair: PairAccess, att: Attempt, name: str | None, mac: str | None, *,
           dry_run: bool) -> HostView:
    """The body of FailoverPair.delete_host: remove the host from every peer holding it."""
    before = host_view(pair, name, mac=mac)
    if before.errors:
        role, err = next(iter(before.errors.items()))
        raise att.refuse(f"the {role} cannot be read ({err}): a reservation is removed from "
                         "both peers or not at all", HostRefused)
    holders = [(role, h) for role in Role if (h := before.peer(role)) is not None]
    names = ", ".join(f"{h.name} on the {role}" for role, h in holders)
    decision = guards.host_delete([h.name for _, h in holders], pair.dhcpd_conf())
    if not decision.proceed:
        raise att.refuse(decision.why, HostRefused)
    if dry_run:
        att.dry_run(f"would delete {names}")
        return before
    done: list[Role] = []
    for role, h in holders:
        try:
            att.remove(role, host_lookup(h.name))
        except PeerError as exc:
            if not done:
                att.fail(exc, f"the {role} did not delete it: {exc}")
                raise
            message = (f"deleted {before.key} from the {done[0]}, but the {role} still holds "
                       f"it ({exc}): run the delete again once it answers")
            att.unknown(message)
            raise PartialChange(message, peer=str(role), operation="delete host") from exc
        done.append(role)
    try:
        after = host_view(pair, name, mac=mac)
    except NotFound:
        att.done(f"deleted {names}")
        return HostView(before.key, None, None)
    if after.errors:
        role, err = next(iter(after.errors.items()))
        message = f"deleted {names}, but the {role} could not be read back ({err})"
        raise att.unsettled(message + ": check with `omapifo host show`", detail=message,
                            peer=str(role))
    raise att.unsettled(f"host {before.key} was deleted but still reads back: primary "
                        f"{after.primary}, secondary {after.secondary}",
                        detail=f"deleted {names}, but a peer still reads it: "
                        f"primary {after.primary}, secondary {after.secondary}")


def sync(pair: PairAccess, att: Attempt, name: str, *, dry_run: bool,
         files: Files | None) -> HostView:
    """The body of FailoverPair.sync_host: copy a host one peer holds to the other."""
    before = host_view(pair, name)
    if before.errors:
        role, err = next(iter(before.errors.items()))
        raise att.refuse(f"the {role} cannot be read ({err}): fix that first", HostRefused)
    if before.agree:
        att.no_op(f"host {name} is on both peers, the same; nothing to do")
        return before
    if before.primary and before.secondary:
        raise att.refuse(f"host {name} differs between the peers ("
                         + "; ".join(before.differences) + "): delete it and add it again "
                         "with the values it should have", HostRefused)
    source = Role.PRIMARY if before.primary else Role.SECONDARY
    host = before.peer(source)
    assert host is not None
    seen, errors = _seen(pair, host, files)
    decision = guards.host_sync(host, source, pair.dhcpd_conf(), seen, errors,
                                files_read=files is not None)
    if decision.no_op:
        att.no_op(decision.why)
        return host_view(pair, name)
    if not decision.proceed:
        raise att.refuse(decision.why, HostRefused)
    if dry_run:
        att.dry_run(f"would create {host} on the {source.other} ({decision.why})")
        return before
    try:
        _create(att, source.other, host)
    except PeerError as exc:
        att.fail(exc, f"the {source.other} did not create it: {exc}")
        raise
    after = _check_both(pair, att, host, "sync host")
    att.done(f"created {host} on the {source.other}, as the {source} has it")
    return after
