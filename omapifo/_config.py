"""The omapifo configuration file: failover pairs, and the REST service's settings.

One TOML file (read with the standard library's tomllib) describes any number of pairs::

    [pairs.classroom-1-6]
    primary   = "198.18.10.253:7911"      # host[:port], OMAPI port defaults to 7911
    secondary = "198.18.60.253:7911"
    key_name  = "omapi_key"
    key_file  = "/etc/omapifo/omapi.key"  # base64 secret, 0600 or 0640; or key = "..." inline
    algorithm = "hmac-md5"                # or hmac-sha256, hmac-sha512
    failover_peer = "classroom-1-6"       # name in dhcpd.conf; defaults to the pair's name
    dhcpd_conf = "/etc/dhcp/dhcpd.conf"   # optional; where pools are read from
    secondary_dhcpd_conf = "/srv/dhcp2/dhcpd.conf"  # optional; the secondary's copy
    dhcpd_leases = "/var/lib/dhcp/dhcpd.leases"    # optional; both needed to add hosts
    secondary_dhcpd_leases = "/srv/dhcp2/dhcpd.leases"
    timeout = 3.0                         # seconds per OMAPI request
    scan_window = 8                       # unanswered lookups at once in a scan; 1-16
    pool_scans = true                     # the service's pool scans (false: none)
    probe_giaddr = "198.18.9.1"           # optional; this host's relay address for DHCP
                                          # probes, in a subnet both servers serve

The library itself never reads files or the environment: :func:`load_config` is for
the command line and the service; scripts may build :class:`PairConfig` directly.
Validation uses marshmallow; every error names the file, the pair and the field.
"""
from __future__ import annotations

import errno
import ipaddress
import os
import pwd
import shlex
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping
from typing import Any

import marshmallow as ma

from ._errors import ConfigError, UnknownPair
from ._omapi import ALGORITHMS, DEFAULT_PORT, DEFAULT_TIMEOUT, OmapiKey
from ._pairlock import DEFAULT_LOCK_DIR
from ._scan import DEFAULT_WINDOW, MAX_WINDOW
from ._severity import PEER_CRITICAL_AFTER


@dataclass(frozen=True)
class Endpoint:
    """Where one dhcpd's OMAPI listens."""

    host: str
    port: int = DEFAULT_PORT

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """``"198.18.10.253:7911"`` or ``"dhcp1.example.edu"`` (port 7911)."""
        text = text.strip()
        if not text:
            raise ValueError("empty address; expected host[:port]")
        if text.count(":") > 1 or text.startswith("["):
            raise ValueError(f"{text!r}: IPv6 is not supported (dhcpd's OMAPI and "
                             "pypureomapi speak IPv4); expected host[:port]")
        host, sep, port_text = text.partition(":")
        port = DEFAULT_PORT
        if sep:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ValueError(f"{text!r}: port must be a number from 1 to 65535")
            port = int(port_text)
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            if not _is_hostname(host):
                raise ValueError(f"{text!r}: {host!r} is neither an IPv4 address nor a host name") \
                    from None
        return cls(host, port)


def _is_hostname(host: str) -> bool:
    labels = host.rstrip(".").split(".")
    return bool(host) and len(host) <= 253 and not host.replace(".", "").isdigit() and all(
        0 < len(lb) <= 63 and lb[0] != "-" and lb[-1] != "-"
        and all(c.isalnum() or c == "-" for c in lb) for lb in labels)


@dataclass(frozen=True)
class PairConfig:
    """One failover pair: both servers' OMAPI endpoints, the key, the failover peer name."""

    name: str
    primary: Endpoint
    secondary: Endpoint
    key: OmapiKey
    failover_peer: str = ""
    dhcpd_conf: Path | None = None
    secondary_dhcpd_conf: Path | None = None  # the secondary's, for `config check`/doctor
    # both peers' dhcpd.leases, read (never written) for the host reservations dhcpd keeps
    # there: OMAPI cannot find a host by its address (omapifo._hosts), so the guard against
    # reserving one address twice needs them
    dhcpd_leases: Path | None = None
    secondary_dhcpd_leases: Path | None = None
    timeout: float = DEFAULT_TIMEOUT
    # where the pair's lock file lives: the service and the command line on one host
    # must use the same directory; the default /run/omapifo, or a directory of the
    # user's own while it does not exist (omapifo._pairlock.resolve_dir)
    lock_dir: Path = DEFAULT_LOCK_DIR
    # lease lookups a scan keeps unanswered on one connection (omapifo._scan): more made
    # dhcpd 4.4.3 abort, so at most MAX_WINDOW (docs/install.md, "dhcpd's limits")
    scan_window: int = DEFAULT_WINDOW
    # False: the service never scans this pair's pools, neither every pool_interval nor
    # for GET .../pools (a lookup per address is load dhcpd may not be able to spare)
    pool_scans: bool = True
    # this host's address in a subnet both servers serve with a failover pool: DHCP probes
    # are relayed from it (omapifo._probe; docs/probes.md). None: no probes of this pair
    probe_giaddr: str | None = None

    def __post_init__(self) -> None:
        if not self.failover_peer:
            object.__setattr__(self, "failover_peer", self.name)

    @property
    def leases_files(self) -> tuple[Path, Path] | None:
        """(primary's, secondary's) dhcpd.leases when both are configured, else None."""
        if self.dhcpd_leases is None or self.secondary_dhcpd_leases is None:
            return None
        return self.dhcpd_leases, self.secondary_dhcpd_leases


@dataclass(frozen=True)
class TokenConfig:
    """A bearer token of the REST service: stored as its SHA-256 hex digest, never in clear."""

    name: str
    role: str  # "reader" or "operator"
    sha256: str = field(repr=False)


@dataclass(frozen=True)
class DrillConfig:
    """A failover drill the service runs on a schedule (``[[service.drills]]``)."""

    pair: str
    peer: str  # "primary" or "secondary": the server the drill stops
    # when, as crontab(5)'s five fields in UTC ("0 4 1 * *": 04:00 on the 1st of a month)
    schedule: str
    # starts the stopped server's dhcpd again ({role} replaced): an unattended drill
    # cannot wait for an admin
    start_command: str
    reason: str = "scheduled drill"


@dataclass(frozen=True)
class ServiceConfig:
    """The REST service's settings (``[service]`` and ``[[service.tokens]]``)."""

    listen: str = "127.0.0.1:8067"
    poll_interval: float = 10.0
    pool_interval: float = 300.0
    # seconds between two DHCP probe rounds of each pair that has a probe_giaddr
    # (omapifo._probe: one DISCOVER per server a round)
    probe_interval: float = 60.0
    # lookups per second per peer in a scan; always a cap (0 is refused, not "uncapped": a
    # scan at full speed takes CPU dhcpd needs for DHCP)
    pool_scan_rate: float = 2000.0
    # the default of every pair's pool_scans (a pair's own setting wins)
    pool_scans: bool = True
    # None: not configured; the service chooses ($STATE_DIRECTORY/omapifo.sqlite3 under
    # systemd, else ./omapifo.sqlite3): the library reads no environment
    database: Path | None = None
    open_healthz: bool = True
    open_metrics: bool = True
    # seconds before it turns critical: the dead-peer policy's number (omapifo._severity)
    comms_interrupted_warning: float = PEER_CRITICAL_AFTER
    # Fresh reads (?fresh=1, GET /peers/{role}) of one pair share one OMAPI read: a result
    # younger than fresh_min_age is reused; a caller that finds a read in flight waits at
    # most fresh_wait for it, then gets 503 + Retry-After instead of holding a thread.
    fresh_min_age: float = 1.0
    fresh_wait: float = 0.5
    pool_fresh_min_age: float = 2.0  # the same for ?fresh=1 pool scans
    # seconds of pool scans kept for the status page's charts and pools/history (7 days)
    pool_history_retention: float = 604800.0
    # the status page at / without logging in (it is read-only, but shows the pairs)
    open_status_page: bool = False
    # what `omapifo serve` logs to stderr (transitions, actions, poll errors)
    log_level: str = "info"  # debug, info, warning or error
    log_format: str = "text"  # "text" (key=value) or "json" (one object a line)
    tokens: tuple[TokenConfig, ...] = ()
    drills: tuple[DrillConfig, ...] = ()
    # Host names the service answers to besides its listen address, localhost and
    # 127.0.0.1 (the names clients and the TLS proxy use); any other Host gets 400, so a
    # DNS-rebinding page cannot read /metrics or an open status page from a browser
    allowed_hosts: tuple[str, ...] = ()
    # how many proxies in front of the service set X-Forwarded-For and -Proto (werkzeug's
    # ProxyFix); 0: none, the headers are dropped. With a TLS proxy (1), the status
    # page's cookie is Secure and its commands name https URLs.
    trusted_proxies: int = 0


LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class Config:
    """Everything one configuration file says."""

    pairs: dict[str, PairConfig]
    service: ServiceConfig = ServiceConfig()
    path: Path | None = None

    def pair_config(self, name: str) -> PairConfig:
        """The configuration of one pair; ConfigError lists the configured ones (to open
        the pair itself: :func:`omapifo.open_pair`)."""
        try:
            return self.pairs[name]
        except KeyError:
            known = ", ".join(sorted(self.pairs)) or "none"
            raise UnknownPair(f"no pair named {name!r} (configured: {known})",
                              operation=f"config {self.path or ''}".strip()) from None


# -- marshmallow schemas: the file's shape --------------------------------------------

class _EndpointField(ma.fields.Field[Endpoint]):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> Endpoint:
        if not isinstance(value, str):
            raise ma.ValidationError("must be a string: host[:port]")
        try:
            return Endpoint.parse(value)
        except ValueError as exc:
            raise ma.ValidationError(str(exc)) from None


# what is wrong with a value, and why: the limits are dhcpd's, not ours
WINDOW_ERROR = (f"must be 1 to {MAX_WINDOW} (default {DEFAULT_WINDOW}): a scan window of "
                "32 unanswered lookups made dhcpd 4.4.3 abort, 16 was measured safe "
                "(docs/install.md, dhcpd's limits)")
RATE_ERROR = ("must be a positive number of lookups per second per peer; 0 no longer means "
              "uncapped (to stop the service's scans: pool_scans = false; "
              "docs/configuration.md)")


class _PairSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    primary = _EndpointField(required=True)
    secondary = _EndpointField(required=True)
    key_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1))
    key_file = ma.fields.String()
    key = ma.fields.String()
    algorithm = ma.fields.String(load_default="hmac-md5",
                                 validate=ma.validate.OneOf(sorted(ALGORITHMS)))
    failover_peer = ma.fields.String(validate=ma.validate.Length(min=1))
    dhcpd_conf = ma.fields.String()
    secondary_dhcpd_conf = ma.fields.String()
    dhcpd_leases = ma.fields.String()
    secondary_dhcpd_leases = ma.fields.String()
    timeout = ma.fields.Float(load_default=DEFAULT_TIMEOUT,
                              validate=ma.validate.Range(min=0.05, max=120))
    scan_window = ma.fields.Integer(strict=True, load_default=DEFAULT_WINDOW,
                                    validate=ma.validate.Range(min=1, max=MAX_WINDOW,
                                                               error=WINDOW_ERROR))
    pool_scans = ma.fields.Boolean()
    probe_giaddr = ma.fields.IPv4()

    @ma.validates_schema
    def _one_key(self, data: dict[str, Any], **kw: Any) -> None:
        if ("key" in data) == ("key_file" in data):
            raise ma.ValidationError("give exactly one of key_file (a file holding the "
                                     "base64 secret) or key (the secret inline)", "key_file")


# crontab(5)'s five fields, each of digits, "*", ",", "-" and "/" (names like "mon" are
# not taken: one spelling); the service's scheduler reads them (APScheduler's CronTrigger)
_CRON_FIELD = r"[0-9*,/-]+"
CRON_RE = rf"{_CRON_FIELD}( {_CRON_FIELD}){{4}}\Z"


class _DrillSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    pair = ma.fields.String(required=True)
    peer = ma.fields.String(required=True, validate=ma.validate.OneOf(["primary", "secondary"]))
    schedule = ma.fields.String(required=True, validate=ma.validate.Regexp(
        CRON_RE, error="five crontab fields in UTC, e.g. \"0 4 1 * *\" (04:00 on the 1st)"))
    start_command = ma.fields.String(required=True, validate=ma.validate.Length(min=1))
    reason = ma.fields.String(validate=ma.validate.Length(min=1, max=500))

    @ma.validates("start_command")
    def _splits(self, value: str, **kw: Any) -> None:
        # split as the drill will (omapifo._drill.command_start): a bad one is said now,
        # not at 04:00 on the 1st in a log line
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise ma.ValidationError(f"cannot be split like a shell line: {exc}") from None
        if not words:
            raise ma.ValidationError("names no command")


class _TokenSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(["reader", "operator"]))
    # marshmallow's Regexp calls match(): \Z ends the string, "$" would pass a final "\n"
    sha256 = ma.fields.String(required=True, validate=ma.validate.Regexp(
        r"[0-9a-f]{64}\Z", error="must be the 64 lowercase hex digits of the token's SHA-256"))


def _allowed_host(value: str) -> None:
    """One of ``[service] allowed_hosts``: a host name or an IPv4 address, no port."""
    host, sep, _ = value.partition(":")
    if sep and (_is_hostname(host) or _is_ipv4(host)):
        raise ma.ValidationError(f"{value!r}: give the name without a port (the service "
                                 "compares names only, as werkzeug's TRUSTED_HOSTS does)")
    if not (_is_hostname(value) or _is_ipv4(value)):
        raise ma.ValidationError(f"{value!r} is neither a host name nor an IPv4 address")


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


class _ServiceSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    listen = ma.fields.String()
    poll_interval = ma.fields.Float(validate=ma.validate.Range(min=0.5, max=3600))
    pool_interval = ma.fields.Float(validate=ma.validate.Range(min=5, max=86400))
    probe_interval = ma.fields.Float(validate=ma.validate.Range(min=10, max=86400))
    pool_scan_rate = ma.fields.Float(validate=ma.validate.Range(min=0, min_inclusive=False,
                                                                error=RATE_ERROR))
    pool_scans = ma.fields.Boolean()
    database = ma.fields.String()
    open_healthz = ma.fields.Boolean()
    open_metrics = ma.fields.Boolean()
    comms_interrupted_warning = ma.fields.Float(validate=ma.validate.Range(min=0))
    fresh_min_age = ma.fields.Float(validate=ma.validate.Range(min=0, max=3600))
    fresh_wait = ma.fields.Float(validate=ma.validate.Range(min=0, max=60))
    pool_fresh_min_age = ma.fields.Float(validate=ma.validate.Range(min=0, max=86400))
    pool_history_retention = ma.fields.Float(validate=ma.validate.Range(min=0, max=366 * 86400))
    open_status_page = ma.fields.Boolean()
    log_level = ma.fields.String(validate=ma.validate.OneOf(LOG_LEVELS))
    log_format = ma.fields.String(validate=ma.validate.OneOf(LOG_FORMATS))
    tokens = ma.fields.List(ma.fields.Nested(_TokenSchema))
    drills = ma.fields.List(ma.fields.Nested(_DrillSchema))
    allowed_hosts = ma.fields.List(ma.fields.String(validate=_allowed_host))
    trusted_proxies = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=0, max=8))


class _FileSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    pairs = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(_PairSchema),
                           required=True)
    service = ma.fields.Nested(_ServiceSchema)
    lock_dir = ma.fields.String(validate=ma.validate.Length(min=1))


def _flatten(messages: Any, prefix: str = "") -> list[str]:
    if isinstance(messages, dict):
        out: list[str] = []
        for key, sub in messages.items():
            if key == "value" and prefix:  # marshmallow's Dict nests value errors
                out += _flatten(sub, prefix)
            else:
                out += _flatten(sub, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(messages, list):
        return [m for sub in messages for m in _flatten(sub, prefix)] if any(
            isinstance(m, (dict, list)) for m in messages) else [
            f"{prefix}: {m}" for m in messages]
    return [f"{prefix}: {messages}"]


def _key_file_problems(mode: int) -> tuple[list[str], str]:
    """What is wrong with a key file's permission bits, and the chmod that fixes it.

    Accepted: owner-only (0600, 0400) and group-readable (0640, 0440: e.g. root:nagios for
    the Nagios plugin). Refused: any read or write bit for others, and group-write.
    """
    wrong: list[str] = []
    fix: list[str] = []
    if mode & stat.S_IWGRP:
        wrong.append("writable by its group")
        fix.append("g-w")
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        wrong += [what for bit, what in ((stat.S_IROTH, "readable by others"),
                                         (stat.S_IWOTH, "writable by others")) if mode & bit]
        fix.append("o-rwx")
    return wrong, ",".join(fix)


def read_secret_file(path: Path, where: str) -> str:
    """A secret (an OMAPI key, a service token) from a file kept as admins keep them:
    owner-only or group-readable (root:nagios 0640), never open to others. ConfigError
    names ``where``, the wrong bits and the chmod that fixes them."""
    try:
        st = path.stat()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {path}: {exc.strerror}") from None
    mode = stat.S_IMODE(st.st_mode)
    wrong, fix = _key_file_problems(mode)
    if wrong:
        raise ConfigError(f"{where}: {path} is {' and '.join(wrong)} (mode {mode:o}); "
                          f"run: chmod {fix} {path} (0600 keeps it to its owner, 0640 lets "
                          "its group read it)")
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {path}: {exc.strerror}") from None
    if not text:
        raise ConfigError(f"{where}: {path} is empty")
    return text


def _read_key_file(path: Path, where: str) -> str:
    return read_secret_file(path, f"{where}.key_file")


def _check_inline_keys(data: dict[str, Any], path: Path) -> None:
    """An inline ``key = "..."`` is a secret: refused in a file that others can read."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return  # it was just read; parse_config reports what else is wrong
    if not mode & stat.S_IROTH:
        return
    pairs = data.get("pairs")
    inline = sorted(name for name, p in pairs.items() if isinstance(p, dict) and "key" in p) \
        if isinstance(pairs, dict) else []
    if inline:
        raise ConfigError(f"{path}: pairs.{inline[0]}.key: the secret is inline in a file "
                          f"readable by others (mode {mode:o}); run: chmod o-rwx {path}, "
                          "or move the secret to a key_file of mode 0600")


def parse_config(data: dict[str, Any], *, path: Path | None = None) -> Config:
    """Validate an already-parsed TOML document (a dict) into a :class:`Config`."""
    label = str(path) if path else "<configuration>"
    try:
        doc = _FileSchema().load(data)
    except ma.ValidationError as exc:
        raise ConfigError(f"{label}: " + "; ".join(_flatten(exc.messages))) from None
    base = path.parent if path else Path.cwd()
    lock_dir = base / doc["lock_dir"] if "lock_dir" in doc else DEFAULT_LOCK_DIR
    svc = doc.get("service", {})
    pairs: dict[str, PairConfig] = {}
    # several failover peers between the same two servers are pairs of their own: an
    # endpoint may come back under another failover_peer, never under the same one
    seen: dict[tuple[Endpoint, str], str] = {}
    for name, p in doc["pairs"].items():
        where = f"{label}: pairs.{name}"
        if "key_file" in p:
            secret = _read_key_file(base / p["key_file"], where)
        else:
            secret = p["key"]
        try:
            key = OmapiKey(p["key_name"], secret, p["algorithm"])
        except ValueError as exc:
            raise ConfigError(f"{where}.key: {exc}") from None
        peer = p.get("failover_peer", name)
        for role in ("primary", "secondary"):
            ep = p[role]
            if (ep, peer) in seen:
                raise ConfigError(f"{where}.{role}: {ep} is also {seen[ep, peer]} with the "
                                  f"same failover_peer {peer!r}; a server may be in several "
                                  "pairs only with a different failover_peer in each")
            seen[ep, peer] = f"pairs.{name}.{role}"
        pairs[name] = PairConfig(
            name=name, primary=p["primary"], secondary=p["secondary"], key=key,
            failover_peer=peer,
            dhcpd_conf=(base / p["dhcpd_conf"]) if "dhcpd_conf" in p else None,
            secondary_dhcpd_conf=(base / p["secondary_dhcpd_conf"])
            if "secondary_dhcpd_conf" in p else None,
            dhcpd_leases=(base / p["dhcpd_leases"]) if "dhcpd_leases" in p else None,
            secondary_dhcpd_leases=(base / p["secondary_dhcpd_leases"])
            if "secondary_dhcpd_leases" in p else None,
            timeout=p["timeout"], lock_dir=lock_dir, scan_window=p["scan_window"],
            pool_scans=p.get("pool_scans", svc.get("pool_scans", True)),
            probe_giaddr=str(p["probe_giaddr"]) if "probe_giaddr" in p else None)
    tokens = tuple(TokenConfig(**t) for t in svc.pop("tokens", []))
    drills = tuple(DrillConfig(**d) for d in svc.pop("drills", []))
    for i, drill in enumerate(drills):
        if drill.pair not in pairs:
            raise ConfigError(f"{label}: service.drills.{i}.pair: no pair named "
                              f"{drill.pair!r} (configured: {', '.join(sorted(pairs))})")
        if pairs[drill.pair].probe_giaddr is None:
            raise ConfigError(f"{label}: service.drills.{i}: pair {drill.pair!r} has no "
                              "probe_giaddr: a drill checks with DHCP probes that the "
                              "partner serves (docs/probes.md)")
    if "allowed_hosts" in svc:
        svc["allowed_hosts"] = tuple(svc["allowed_hosts"])
    if "database" in svc:
        # ":memory:" is SQLite's in-memory database, not a file next to the config
        db = svc["database"]
        svc["database"] = Path(db) if db == ":memory:" else base / db
    return Config(pairs=pairs, service=ServiceConfig(**svc, tokens=tokens, drills=drills),
                  path=path)


# Where load_config looks without a path (the command line's and the service's search,
# docs/configuration.md): $OMAPIFO_CONFIG, the user's file, the system's. Never the working
# directory: `sudo omapifo partner-down ...` typed inside a checkout or a colleague's
# directory would act on whatever omapifo.toml is there.
CONFIG_ENV = "OMAPIFO_CONFIG"
SYSTEM_CONFIG = Path("/etc/omapifo/omapifo.toml")


def user_config_path(environ: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/omapifo/omapifo.toml``, else ``~/.config/omapifo/omapifo.toml``
    (the XDG Base Directory spec: an unset, empty or relative XDG_CONFIG_HOME means
    ``$HOME/.config``)."""
    xdg = environ.get("XDG_CONFIG_HOME", "")
    if xdg and os.path.isabs(xdg):
        base = Path(xdg)
    else:
        base = Path(environ.get("HOME") or pwd.getpwuid(os.geteuid()).pw_dir) / ".config"
    return base / "omapifo" / "omapifo.toml"


def _check_user_config(path: Path) -> None:
    """A file found in a home directory is used only when it and its directory are the
    caller's (or root's) and nobody else may write them: under ``sudo -E`` (or a sudoers
    that keeps HOME) root would otherwise act on a file the invoking user controls, the
    working directory's problem again. OpenSSH refuses its ~/.ssh/config on the same rule."""
    me = os.geteuid()
    for item in (path, path.parent):
        st = item.stat()
        if st.st_uid not in (me, 0):
            raise ConfigError(f"{item} belongs to uid {st.st_uid}, not to you (uid {me}): "
                              "omapifo reads a configuration in a home directory only as its "
                              "owner (under sudo, HOME may still be the invoking user's); "
                              f"give --config FILE or set {CONFIG_ENV}")
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise ConfigError(f"{item} may be written by others (mode "
                              f"{stat.S_IMODE(st.st_mode):o}); run: chmod go-w {item}")


def find_config(environ: Mapping[str, str] | None = None) -> Path:
    """The configuration file to read when none is given: ``$OMAPIFO_CONFIG`` (if set, it
    must exist), else the user's file (:func:`user_config_path`), else
    ``/etc/omapifo/omapifo.toml``. Never the working directory. ConfigError names every
    place that was tried."""
    env = os.environ if environ is None else environ
    named = env.get(CONFIG_ENV)
    if named:
        path = Path(named)
        if not path.exists():
            raise ConfigError(f"{path} (from ${CONFIG_ENV}): no such file")
        return path
    tried = [f"${CONFIG_ENV} (not set)"]
    user = user_config_path(env)
    for candidate in (user, SYSTEM_CONFIG):
        try:
            candidate.stat()
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):  # e.g. another user's home
                tried.append(f"{candidate} ({exc.strerror})")
                continue
            tried.append(str(candidate))
            continue
        if candidate == user:
            _check_user_config(candidate)
        return candidate
    raise ConfigError("no configuration file: tried " + ", ".join(tried) + "; the working "
                      f"directory is never searched: give --config FILE or set {CONFIG_ENV}")


def load_config(path: str | os.PathLike[str] | None = None, *,
                environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate an omapifo TOML file.

    Without a path, the command line's and the service's search (:func:`find_config`):
    ``$OMAPIFO_CONFIG``, ``~/.config/omapifo/omapifo.toml`` (``$XDG_CONFIG_HOME``), then
    ``/etc/omapifo/omapifo.toml``, read from ``environ`` (default ``os.environ``); scripts
    should give the path. Raises :class:`~omapifo.ConfigError` naming the file, pair
    and field.
    """
    p = Path(path) if path is not None else find_config(environ)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    config = parse_config(data, path=p.resolve())
    _check_inline_keys(data, p.resolve())
    return config
