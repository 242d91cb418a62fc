"""The layers of omapifo/ as the package docstring draws them, checked on the source.

Two rules, both read with ``ast`` (nothing is imported):

- The import graph of omapifo/ has no cycle, and the protocol layer (_omapi.py, _scan.py,
  _budget.py, _errors.py, _dhcp.py) imports nothing of omapifo above it.
- Nothing above the protocol layer (_omapi.py, _scan.py, and _wire.py, which decodes OMAPI
  objects into the models) names an OMAPI object type or attribute: not the rest of
  omapifo/, not api/, not clients/. The names come from the protocol layer's own table
  (omapifo._omapi.ATTRIBUTES). A name counts where OMAPI puts one:

  * a type (``"lease"``, ``"host"``, ...) as the first argument of ``.open``, ``.update``,
    ``.create`` or ``.delete``; ``"failover-state"`` anywhere;
  * a hyphenated attribute (``"ip-address"``, ``"local-state"``, ...) as a call argument,
    a subscript or a dict key (``attrs.get("hardware-address")``, ``num("local-stos")``);
  * any attribute, ``"name"`` and ``"state"`` too, paired with bytes: the first of a
    2-tuple or of a call's first two arguments whose second is a bytes expression
    (``("name", x.encode())``, ``("state", u32(4))``, ``attrs.get("name", b"")``).

  Ordinary words stay free: ``"state"`` as a JSON key, ``"host"`` as a command's name,
  ``"client-hostname"`` compared with a dhcpd.leases keyword (the file parsers read
  dhcpd's files, whose keywords some OMAPI attributes share).
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from omapifo._omapi import ATTRIBUTES

ROOT = Path(__file__).resolve().parent.parent
# the file stems of omapifo/ (every module is private: _omapi.py is "_omapi")
PROTOCOL = {"_omapi", "_scan", "_budget", "_errors", "_dhcp"}
WIRE = PROTOCOL | {"_wire"}  # may name OMAPI attributes
TYPES = frozenset(ATTRIBUTES)
NAMES = frozenset().union(*ATTRIBUTES.values())
HYPHENATED = frozenset(n for n in NAMES | TYPES if "-" in n)
SENDS = {"open", "update", "create", "delete"}
# calls and attributes whose value is bytes: what an OMAPI attribute's value is made of
BYTES_CALLS = {"encode", "u32", "_u32", "pack", "ip_bytes", "parse_mac", "parse_client_id",
               "to_bytes", "bytes", "fromhex", "inet_aton"}


def _sources() -> list[Path]:
    above = [p for p in sorted((ROOT / "omapifo").glob("*.py")) if p.stem not in WIRE]
    return above + sorted((ROOT / "api").rglob("*.py")) + sorted((ROOT / "clients").rglob("*.py"))


def _text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        value = node.value
        return value.decode(errors="replace") if isinstance(value, bytes) else value
    return None


def _is_bytes(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, bytes)
    if isinstance(node, ast.Attribute):
        return node.attr == "packed"
    if isinstance(node, ast.Call):
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        return name in BYTES_CALLS
    return False


def omapi_names(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, name) of every OMAPI object type or attribute ``tree`` names (see above)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            args = list(node.args)
            if isinstance(node.func, ast.Attribute) and node.func.attr in SENDS and args \
                    and _text(args[0]) in TYPES:
                yield node.lineno, str(_text(args[0]))
            for arg in args + [k.value for k in node.keywords]:
                if _text(arg) in HYPHENATED:
                    yield arg.lineno, str(_text(arg))
            if len(args) >= 2 and _text(args[0]) in NAMES and _is_bytes(args[1]):
                yield node.lineno, str(_text(args[0]))
        elif isinstance(node, ast.Subscript) and _text(node.slice) in HYPHENATED:
            yield node.lineno, str(_text(node.slice))
        elif isinstance(node, ast.Dict):
            for key in node.keys:
                if key is not None and _text(key) in HYPHENATED:
                    yield key.lineno, str(_text(key))
        elif isinstance(node, ast.Tuple) and len(node.elts) == 2 \
                and _text(node.elts[0]) in NAMES and _is_bytes(node.elts[1]):
            yield node.lineno, str(_text(node.elts[0]))
        elif isinstance(node, ast.Constant) and _text(node) == "failover-state":
            yield node.lineno, "failover-state"


def _names_in(path: Path) -> list[str]:
    rel = path.relative_to(ROOT)
    return sorted({f"{rel}:{line}: {name!r}"
                   for line, name in omapi_names(ast.parse(path.read_text(), str(path)))})


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_above_the_protocol_layer_names_an_omapi_attribute(path):
    assert _names_in(path) == []


@pytest.mark.parametrize("source, found", [
    ('peer.open("lease", [("ip-address", ip.packed)])', ["lease", "ip-address"]),
    ('[("state", u32(LeaseState.RELEASED))]', ["state"]),
    ('lookup = [("name", name.encode())]', ["name"]),
    ('attrs.get("name", b"")', ["name"]),
    ('x = attrs["hardware-address"]', ["hardware-address"]),
    ('num("local-state")', ["local-state"]),
    ('peer.update("control", [], changes)', ["control"]),
    ('TYPE = "failover-state"', ["failover-state"]),
    ('{"client-hostname": raw}', ["client-hostname"]),
    # ordinary words and dhcpd's file keywords: not OMAPI
    ('row = {"state": str(view.state), "name": host.name}', []),
    ('sub.add_parser("host"); [("state", "normal")]', []),
    ('w[0] == "client-hostname"', []),
    ('KEYS = ("max-response-delay", "max-unacked-updates", "split")', []),
    ('"""A lease is opened by ``ip-address``."""', []),
])
def test_the_rule_finds_omapi_names_and_only_those(source, found):
    assert sorted(name for _, name in omapi_names(ast.parse(source))) == sorted(found)


# -- the import graph ----------------------------------------------------------------------

def _imports() -> dict[str, set[str]]:
    """Each module of omapifo/ and the modules of omapifo/ it imports."""
    modules = {p.stem: p for p in (ROOT / "omapifo").glob("*.py")}
    graph: dict[str, set[str]] = {}
    for stem, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    found.add(node.module.partition(".")[0])
                else:
                    found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("omapifo."):
                found.add(str(node.module).split(".")[1])
        graph[stem] = {m for m in found if m in modules and m != stem}
    return graph


def test_the_import_graph_has_no_cycle():
    graph = _imports()
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join(path + (module,)))
        if module in done:
            return
        for dep in sorted(graph[module]):
            visit(dep, path + (module,))
        done.add(module)
    for module in sorted(graph):
        visit(module, ())


def test_the_protocol_layer_imports_nothing_above_it():
    graph = _imports()
    assert {m: sorted(graph[m] - PROTOCOL) for m in PROTOCOL} == {m: [] for m in PROTOCOL}


def test_the_layer_sets_name_modules_and_the_graph_sees_their_imports():
    """The sets above are file stems of omapifo/ and the graph finds every import form the
    package uses (``from ._x import``, ``from . import _x as x``): a rename that made them
    name nothing would make the two tests above pass on an empty graph."""
    graph = _imports()
    assert WIRE <= set(graph)
    assert {"_omapi", "_errors", "_states"} <= graph["_wire"]      # from ._x import ...
    assert {"_faults", "_pairlock"} <= graph["_attempt"]           # from . import _x as x
    assert "_failover" in graph["__init__"]
