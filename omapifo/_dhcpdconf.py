"""A dhcpd.conf parser: includes, subnets, shared networks, groups, pools, failover peers.

dhcpd has no OMAPI object for pools or subnets ("Can't look up pools yet"), so pools
come from the configuration. The parser reads dhcpd.conf(5)'s lexical structure
(statements end in ``;``, declarations open ``{ ... }``, ``#`` comments, quoted
strings) into a tree whose every node knows its file and line, then types what omapifo
needs. Anything else (options, other parameters) is kept as text with its location.

Includes: dhcpd resolves a relative ``include`` against its *working directory*
(measured with 4.4.3), which for a server started from its configuration directory,
as the seed's is, is the including file's directory; ``base_dir`` overrides it.
"""
from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ._errors import ConfigError


class DhcpdConfError(ConfigError):
    """A dhcpd.conf (or dhcpd.leases) could not be read; the message starts with file:line."""


@dataclass(frozen=True)
class Loc:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Token:
    text: str
    quoted: bool
    loc: Loc


_TOKEN_RE = re.compile(r'"((?:[^"\\]|\\.)*)"|([{};,])|([^\s{};,"#]+)|(#[^\n]*)|(\n)|([ \t\r\f\v]+)')


def tokenize(text: str, file: str, line: int = 1) -> Iterator[Token]:
    """dhcpd.conf's tokens with their line (``text`` starting on ``line``); comments and
    blanks dropped."""
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            if text[pos] == '"':
                raise DhcpdConfError(f"{file}:{line}: unterminated quoted string")
            raise DhcpdConfError(f"{file}:{line}: unexpected character {text[pos]!r}")
        quoted, punct, word, _comment, newline, _space = m.groups()
        if quoted is not None:
            yield Token(quoted, True, Loc(file, line))
            line += quoted.count("\n")
        elif punct is not None or word is not None:
            yield Token(punct or word or "", False, Loc(file, line))
        elif newline is not None:
            line += 1
        pos = m.end()


@dataclass
class Node:
    """One statement (``words ;``) or declaration (``words { children }``)."""

    words: list[Token]
    children: list[Node] | None
    loc: Loc

    @property
    def head(self) -> str:
        return self.words[0].text.lower() if self.words else ""

    def texts(self) -> list[str]:
        return [t.text for t in self.words]

    def __str__(self) -> str:
        return " ".join(f'"{t.text}"' if t.quoted else t.text for t in self.words)


def parse_tree(text: str, file: str, line: int = 1) -> list[Node]:
    """The statement tree of one file, or of a piece of it starting on ``line`` (no
    include resolution)."""
    root: list[Node] = []
    stack: list[tuple[list[Node], Loc | None]] = [(root, None)]
    words: list[Token] = []
    for tok in tokenize(text, file, line):
        if not tok.quoted and tok.text == ";":
            if words:
                stack[-1][0].append(Node(words, None, words[0].loc))
            words = []
        elif not tok.quoted and tok.text == "{":
            node = Node(words, [], words[0].loc if words else tok.loc)
            stack[-1][0].append(node)
            stack.append((node.children, tok.loc))  # type: ignore[arg-type]
            words = []
        elif not tok.quoted and tok.text == "}":
            if words:
                raise DhcpdConfError(f"{words[-1].loc}: expected ';' after "
                                     f"'{' '.join(t.text for t in words)}'")
            if len(stack) == 1:
                raise DhcpdConfError(f"{tok.loc}: '}}' without a matching '{{'")
            stack.pop()
        else:
            words.append(tok)
    if words:
        raise DhcpdConfError(f"{words[-1].loc}: expected ';' after "
                             f"'{' '.join(t.text for t in words)}' at end of file")
    if len(stack) > 1:
        raise DhcpdConfError(f"{stack[-1][1]}: '{{' is never closed")
    return root


# -- the typed model -------------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    first: ipaddress.IPv4Address
    last: ipaddress.IPv4Address
    dynamic_bootp: bool
    loc: Loc

    @property
    def size(self) -> int:
        return int(self.last) - int(self.first) + 1

    def addresses(self) -> Iterator[ipaddress.IPv4Address]:
        for n in range(int(self.first), int(self.last) + 1):
            yield ipaddress.IPv4Address(n)

    def __contains__(self, ip: object) -> bool:
        return isinstance(ip, ipaddress.IPv4Address) and self.first <= ip <= self.last


@dataclass
class Pool:
    ranges: list[Range]
    failover_peer: str | None
    failover_peer_loc: Loc | None
    permits: list[str]  # allow/deny lines as written
    loc: Loc
    subnet: ipaddress.IPv4Network | None = None
    shared_network: str | None = None

    @property
    def name(self) -> str:
        first = self.ranges[0].first if self.ranges else "empty"
        return f"{self.subnet or self.shared_network or '?'} from {first}"

    @property
    def size(self) -> int:
        return sum(r.size for r in self.ranges)


@dataclass
class Subnet:
    network: ipaddress.IPv4Network
    loc: Loc
    pools: list[Pool] = field(default_factory=list)
    ranges: list[Range] = field(default_factory=list)  # ranges directly in the subnet
    shared_network: str | None = None


@dataclass
class Host:
    name: str
    hardware: str | None
    fixed_addresses: list[str]
    loc: Loc


@dataclass(frozen=True)
class Key:
    name: str
    algorithm: str | None
    has_secret: bool
    loc: Loc


@dataclass
class Setting:
    value: str
    loc: Loc


@dataclass
class FailoverPeer:
    """A ``failover peer "NAME" { ... }`` block; every statement kept with its location."""

    name: str
    loc: Loc
    statements: dict[str, Setting] = field(default_factory=dict)

    def get(self, key: str) -> str | None:
        s = self.statements.get(key)
        return s.value if s else None

    def int(self, key: str) -> int | None:
        v = self.get(key)
        return int(v) if v is not None and v.isdigit() else None

    @property
    def role(self) -> str | None:
        if "primary" in self.statements:
            return "primary"
        if "secondary" in self.statements:
            return "secondary"
        return None


@dataclass(frozen=True)
class Include:
    path: str  # as written
    resolved: Path
    symlink_target: str | None  # what a symlink pointed at, as the seed sets them up
    loc: Loc


@dataclass
class DhcpdConf:
    path: Path
    subnets: list[Subnet] = field(default_factory=list)
    shared_networks: list[str] = field(default_factory=list)
    pools: list[Pool] = field(default_factory=list)
    failover_peers: dict[str, FailoverPeer] = field(default_factory=dict)
    hosts: list[Host] = field(default_factory=list)
    keys: dict[str, Key] = field(default_factory=dict)
    omapi_port: Setting | None = None
    omapi_key: Setting | None = None
    includes: list[Include] = field(default_factory=list)
    options: list[tuple[str, Loc]] = field(default_factory=list)  # other statements as text

    @property
    def ranges(self) -> list[Range]:
        return [r for p in self.pools for r in p.ranges] + [
            r for s in self.subnets for r in s.ranges]


_FAILOVER_KEYS = {
    ("primary",): "primary", ("secondary",): "secondary", ("address",): "address",
    ("port",): "port", ("peer", "address"): "peer address", ("peer", "port"): "peer port",
    ("max-response-delay",): "max-response-delay",
    ("max-unacked-updates",): "max-unacked-updates", ("mclt",): "mclt", ("split",): "split",
    ("hba",): "hba", ("load", "balance", "max", "seconds"): "load balance max seconds",
    ("auto-partner-down",): "auto-partner-down", ("max-lease-misbalance",): "max-lease-misbalance",
    ("max-lease-ownership",): "max-lease-ownership", ("min-balance",): "min-balance",
    ("max-balance",): "max-balance",
}


def ipv4_at(text: str, loc: Loc) -> ipaddress.IPv4Address:
    """``text`` as an IPv4 address, or a DhcpdConfError located at ``loc``."""
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise DhcpdConfError(f"{loc}: {text!r} is not an IPv4 address") from None


def _ip(tok: Token) -> ipaddress.IPv4Address:
    return ipv4_at(tok.text, tok.loc)


class _Reader:
    def __init__(self, conf: DhcpdConf, base_dir: Path | None) -> None:
        self.conf = conf
        self.base_dir = base_dir
        self.stack: list[Path] = []

    def read_file(self, path: Path, loc: Loc | None = None) -> list[Node]:
        try:
            text = path.read_text(errors="replace")
        except OSError as exc:
            where = f"{loc}: " if loc else ""
            raise DhcpdConfError(f"{where}cannot read {path}: {exc.strerror}") from None
        if path.resolve() in self.stack:
            raise DhcpdConfError(f"{loc}: {path} includes itself")
        self.stack.append(path.resolve())
        try:
            return self.expand(parse_tree(text, str(path)), path)
        finally:
            self.stack.pop()

    def expand(self, nodes: list[Node], path: Path) -> list[Node]:
        out: list[Node] = []
        for node in nodes:
            if node.head == "include" and node.children is None:
                if len(node.words) != 2 or not node.words[1].quoted:
                    raise DhcpdConfError(f'{node.loc}: expected include "FILE";')
                written = node.words[1].text
                target = Path(written)
                if not target.is_absolute():
                    target = (self.base_dir or path.parent) / target
                link = os.readlink(target) if target.is_symlink() else None
                self.conf.includes.append(Include(written, target, link, node.loc))
                out.extend(self.read_file(target, node.loc))
            else:
                if node.children is not None:
                    node.children = self.expand(node.children, path)
                out.append(node)
        return out

    # -- typing the tree ------------------------------------------------------------

    def walk(self, nodes: list[Node], subnet: Subnet | None = None,
             shared: str | None = None) -> None:
        for node in nodes:
            w = node.texts()
            head = node.head
            if node.children is not None:
                if head == "subnet":
                    self.subnet(node, shared)
                elif head == "shared-network" and len(w) >= 2:
                    self.conf.shared_networks.append(w[1])
                    self.walk(node.children, None, w[1])
                elif head == "pool":
                    self.pool(node, subnet, shared)
                elif head == "failover" and len(w) >= 3 and w[1] == "peer":
                    self.failover(node)
                elif head == "host":
                    self.host(node)
                elif head == "key":
                    self.key(node)
                elif head in ("group", "class", "subclass", "if", "elsif", "else", "on",
                              "zone"):
                    self.walk(node.children, subnet, shared)
                elif head == "subnet6":
                    continue
                else:
                    self.conf.options.append((str(node), node.loc))
                continue
            if head == "range":
                rng = self.range(node)
                if subnet is not None:
                    subnet.ranges.append(rng)
                else:
                    raise DhcpdConfError(f"{node.loc}: range outside a subnet or pool")
            elif head == "omapi-port":
                self.conf.omapi_port = Setting(w[1] if len(w) > 1 else "", node.loc)
            elif head == "omapi-key":
                self.conf.omapi_key = Setting(w[1] if len(w) > 1 else "", node.loc)
            elif head == "failover" and w[1:2] == ["peer"]:
                raise DhcpdConfError(f"{node.loc}: 'failover peer' reference outside a pool")
            else:
                self.conf.options.append((str(node), node.loc))

    def range(self, node: Node) -> Range:
        toks = node.words[1:]
        bootp = bool(toks) and toks[0].text == "dynamic-bootp"
        if bootp:
            toks = toks[1:]
        if not 1 <= len(toks) <= 2:
            raise DhcpdConfError(f"{node.loc}: expected range [dynamic-bootp] LOW [HIGH];")
        first = _ip(toks[0])
        last = _ip(toks[-1])
        if last < first:
            first, last = last, first  # dhcpd accepts either order
        return Range(first, last, bootp, node.loc)

    def subnet(self, node: Node, shared: str | None) -> None:
        w = node.words
        if len(w) != 4 or w[2].text != "netmask":
            raise DhcpdConfError(f"{node.loc}: expected subnet ADDRESS netmask MASK {{")
        try:
            net = ipaddress.IPv4Network(f"{w[1].text}/{w[3].text}")
        except ValueError as exc:
            raise DhcpdConfError(f"{node.loc}: bad subnet: {exc}") from None
        sub = Subnet(net, node.loc, shared_network=shared)
        self.conf.subnets.append(sub)
        self.walk(node.children or [], sub, shared)

    def pool(self, node: Node, subnet: Subnet | None, shared: str | None) -> None:
        pool = Pool([], None, None, [], node.loc, subnet.network if subnet else None, shared)
        for child in node.children or []:
            w = child.texts()
            if child.head == "range":
                pool.ranges.append(self.range(child))
            elif child.head == "failover" and w[1:2] == ["peer"]:
                if len(w) != 3:
                    raise DhcpdConfError(f'{child.loc}: expected failover peer "NAME";')
                pool.failover_peer, pool.failover_peer_loc = w[2], child.loc
            elif child.head in ("allow", "deny", "ignore"):
                pool.permits.append(" ".join(w))
            else:
                self.conf.options.append((str(child), child.loc))
        if pool.subnet is None and pool.ranges:  # a pool of a shared-network
            first = pool.ranges[0].first
            pool.subnet = next((s.network for s in self.conf.subnets if first in s.network),
                               None)
        if subnet is not None:
            subnet.pools.append(pool)
        self.conf.pools.append(pool)

    def failover(self, node: Node) -> None:
        w = node.words
        if len(w) != 3:
            raise DhcpdConfError(f'{node.loc}: expected failover peer "NAME" {{')
        peer = FailoverPeer(w[2].text, node.loc)
        for child in node.children or []:
            words = [t.text.lower() for t in child.words]
            for n in (4, 2, 1):
                key = _FAILOVER_KEYS.get(tuple(words[:n]))
                if key:
                    peer.statements[key] = Setting(" ".join(child.texts()[n:]), child.loc)
                    break
            else:
                peer.statements[" ".join(words)] = Setting("", child.loc)
        if peer.name in self.conf.failover_peers:
            raise DhcpdConfError(f"{node.loc}: failover peer {peer.name!r} declared twice "
                                 f"(first at {self.conf.failover_peers[peer.name].loc})")
        self.conf.failover_peers[peer.name] = peer

    def host(self, node: Node) -> None:
        name = node.words[1].text if len(node.words) > 1 else "?"
        hw, fixed = None, []
        for child in node.children or []:
            w = child.texts()
            if child.head == "hardware" and len(w) >= 3:
                hw = w[2].lower()
            elif child.head == "fixed-address":
                fixed += [x for x in w[1:] if x != ","]
        self.conf.hosts.append(Host(name, hw, fixed, node.loc))

    def key(self, node: Node) -> None:
        name = node.words[1].text if len(node.words) > 1 else "?"
        alg = next((c.texts()[1] for c in node.children or [] if c.head == "algorithm"
                    and len(c.words) > 1), None)
        secret = any(c.head == "secret" for c in node.children or [])
        self.conf.keys[name] = Key(name, alg, secret, node.loc)


def parse_file(path: str | os.PathLike[str], *, base_dir: str | os.PathLike[str] | None = None
               ) -> DhcpdConf:
    """Read a dhcpd.conf with its includes; DhcpdConfError names file and line."""
    p = Path(path)
    conf = DhcpdConf(p)
    reader = _Reader(conf, Path(base_dir) if base_dir else None)
    reader.walk(reader.read_file(p))
    return conf


def parse_text(text: str, file: str = "<text>") -> DhcpdConf:
    """Parse configuration text that has no includes (tests, generated files)."""
    conf = DhcpdConf(Path(file))
    reader = _Reader(conf, None)
    reader.walk(reader.expand(parse_tree(text, file), Path(file)))
    return conf
