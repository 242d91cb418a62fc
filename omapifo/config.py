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

The library itself never reads files or the environment: :func:`load_config` is for
the command line and the service; scripts may build :class:`PairConfig` directly.
Validation uses marshmallow; every error names the file, the pair and the field.
"""
from __future__ import annotations

import ipaddress
import os
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import marshmallow as ma

from .errors import ConfigError
from .omapi import ALGORITHMS, DEFAULT_PORT, DEFAULT_TIMEOUT, OmapiKey
from .pairlock import DEFAULT_LOCK_DIR


DEFAULT_CONFIG_PATHS = (Path("omapifo.toml"), Path("/etc/omapifo/omapifo.toml"))


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
    # there: OMAPI cannot find a host by its address (omapifo.hosts), so the guard against
    # reserving one address twice needs them
    dhcpd_leases: Path | None = None
    secondary_dhcpd_leases: Path | None = None
    timeout: float = DEFAULT_TIMEOUT
    # where the pair's lock file lives: the service and the command line on one host
    # must use the same directory; the default /run/omapifo, or a directory of the
    # user's own while it does not exist (omapifo.pairlock.resolve_dir)
    lock_dir: Path = DEFAULT_LOCK_DIR

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
class ServiceConfig:
    """The REST service's settings (``[service]`` and ``[[service.tokens]]``)."""

    listen: str = "127.0.0.1:8067"
    poll_interval: float = 10.0
    pool_interval: float = 300.0
    pool_scan_rate: float = 2000.0  # lookups per second per peer; 0 = uncapped
    # None: not configured; the service chooses ($STATE_DIRECTORY/omapifo.sqlite3 under
    # systemd, else ./omapifo.sqlite3): the library reads no environment
    database: Path | None = None
    open_healthz: bool = True
    open_metrics: bool = True
    comms_interrupted_warning: float = 300.0  # seconds before it turns critical
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
            raise ConfigError(f"no pair named {name!r} (configured: {known})",
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

    @ma.validates_schema
    def _one_key(self, data: dict[str, Any], **kw: Any) -> None:
        if ("key" in data) == ("key_file" in data):
            raise ma.ValidationError("give exactly one of key_file (a file holding the "
                                     "base64 secret) or key (the secret inline)", "key_file")


class _TokenSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(["reader", "operator"]))
    sha256 = ma.fields.String(required=True, validate=ma.validate.Regexp(
        r"^[0-9a-f]{64}$", error="must be the 64 lowercase hex digits of the token's SHA-256"))


class _ServiceSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    listen = ma.fields.String()
    poll_interval = ma.fields.Float(validate=ma.validate.Range(min=0.5, max=3600))
    pool_interval = ma.fields.Float(validate=ma.validate.Range(min=5, max=86400))
    pool_scan_rate = ma.fields.Float(validate=ma.validate.Range(min=0))
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
            timeout=p["timeout"], lock_dir=lock_dir)
    svc = doc.get("service", {})
    tokens = tuple(TokenConfig(**t) for t in svc.pop("tokens", []))
    if "database" in svc:
        # ":memory:" is SQLite's in-memory database, not a file next to the config
        db = svc["database"]
        svc["database"] = Path(db) if db == ":memory:" else base / db
    return Config(pairs=pairs, service=ServiceConfig(**svc, tokens=tokens), path=path)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate an omapifo TOML file.

    Without a path: ``./omapifo.toml``, then ``/etc/omapifo/omapifo.toml``.
    Raises :class:`~omapifo.errors.ConfigError` naming the file, pair and field.
    """
    if path is None:
        found = next((p for p in DEFAULT_CONFIG_PATHS if p.exists()), None)
        if found is None:
            raise ConfigError("no configuration file: give -c FILE, or create ./omapifo.toml "
                              "or /etc/omapifo/omapifo.toml")
        path = found
    p = Path(path)
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
