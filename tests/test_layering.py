"""Architecture test: the pure core imports no I/O, time or shell modules and opens no files."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest


PACKAGE = Path(__file__).resolve().parent.parent / "tsad"

CORE = PACKAGE / "core"
CORE_MODULES = tuple(sorted(p.stem for p in CORE.glob("*.py") if p.stem != "__init__"))

# Which packages may import which: no arrow from the core, the adapter or the emulator into
# the shell (runtime) or the operator commands; the core imports nothing of tsad but itself
# and the exception tree.
LAYERS = {
    "core": {"tsad.core", "tsad.errors"},
    "kalshi": {"tsad.core", "tsad.errors", "tsad.clock", "tsad.kalshi"},
    "sim": {"tsad.core", "tsad.errors", "tsad.clock", "tsad.kalshi", "tsad.sim"},
}


BANNED = frozenset(
    {
        "aiohttp",
        "asyncio",
        "httpx",
        "io",
        "os",
        "pathlib",
        "socket",
        "sqlite3",
        "structlog",
        "subprocess",
        "threading",
        "time",
        "tsad.clock",
        "tsad.commands",
        "tsad.inputs",
        "tsad.kalshi",
        "tsad.runtime",
        "tsad.sim",
        "websockets",
    }
)


def imported_modules(tree: ast.Module, module: str) -> set[str]:
    """Return every module name `tree` imports, resolving relative imports against tsad."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = f"tsad.{module}".split(".")[: -node.level]
                base = ".".join([*parts, node.module] if node.module else parts)
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def banned_in(names: set[str]) -> set[str]:
    """Return the imported names that are, or live inside, a banned module."""
    return {n for n in names if any(n == b or n.startswith(b + ".") for b in BANNED)}


def open_calls(tree: ast.Module) -> list[int]:
    """Return the line numbers of calls to the builtin `open`."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open"
    ]


@pytest.mark.parametrize("module", CORE_MODULES, ids=CORE_MODULES)
def test_core_module_is_pure(module: str) -> None:
    """A pure core module imports nothing banned and never calls open()."""
    path = CORE / f"{module}.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    assert banned_in(imported_modules(tree, f"core.{module}")) == set()
    assert open_calls(tree) == []


@pytest.mark.parametrize(
    ("source", "bad"),
    [
        pytest.param("import asyncio", {"asyncio"}, id="import"),
        pytest.param("import os.path", {"os.path"}, id="dotted-import"),
        pytest.param("from time import monotonic", {"time", "time.monotonic"}, id="from-import"),
        pytest.param("from tsad import clock", {"tsad.clock"}, id="from-package"),
        pytest.param("from . import inputs", {"tsad.inputs"}, id="relative"),
        pytest.param("from .clock import Clock", {"tsad.clock", "tsad.clock.Clock"},
                     id="relative-module"),
        pytest.param("def f():\n    import socket", {"socket"}, id="nested"),
        pytest.param("import importlib\nfrom fractions import Fraction", set(), id="allowed"),
        pytest.param("import timeit", set(), id="prefix-is-not-module"),
    ],
)
def test_scanner_finds_banned_imports(source: str, bad: set[str]) -> None:
    """The scanner catches direct, dotted, relative and nested imports, and nothing else."""
    assert banned_in(imported_modules(ast.parse(source), "model")) == bad


def test_scanner_finds_open_calls() -> None:
    """The scanner flags builtin open() but not methods named open."""
    tree = ast.parse("x = 1\nopen('f')\npath.open()\n")
    assert open_calls(tree) == [2]


def test_core_has_the_trading_modules() -> None:
    """The scan above covers the core as it is: a renamed or moved module fails, never skips."""
    expected = {"tickers", "money", "market", "orders", "model", "midweek", "quoting", "risk",
                "reconcile", "book", "exchange", "clock"}
    assert expected <= set(CORE_MODULES)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_no_arrow_into_the_shell(layer: str) -> None:
    """The core, the Kalshi adapter and the emulator never import the shell or the commands."""
    allowed = LAYERS[layer]
    bad: dict[str, set[str]] = {}
    for path in sorted((PACKAGE / layer).glob("*.py")):
        mod = f"{layer}.{path.stem}"
        names = imported_modules(ast.parse(path.read_text(), filename=str(path)), mod)
        tsad_names = {n for n in names if n == "tsad" or n.startswith("tsad.")}
        wrong = {n for n in tsad_names
                 if not any(n == a or n.startswith(a + ".") for a in allowed)}
        if wrong:
            bad[mod] = wrong
    assert bad == {}
