"""Every runtime dependency earns its place: the package imports it (and the lock pins it)."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tsad"
LOCK = ROOT / "systemd" / "requirements.lock"

# Distributions whose import name differs from their name, and data-only distributions that
# are used through a standard-library module (tzdata is zoneinfo's fallback database on
# hosts without /usr/share/zoneinfo).
IMPORT_NAMES = {
    "prometheus-client": {"prometheus_client"},
    "tzdata": {"zoneinfo"},
}


def _name(requirement: str) -> str:
    m = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert m, requirement
    return re.sub(r"[-_.]+", "-", m.group(0)).lower()


def runtime_dependencies() -> list[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [_name(r) for r in data["project"]["dependencies"]]


def imported_top_levels() -> set[str]:
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found.add(node.module.split(".")[0])
    return found


def test_every_runtime_dependency_is_imported_by_the_package() -> None:
    """A dependency nothing in tsad/ imports is dead weight on every install: drop it."""
    imported = imported_top_levels()
    unused = [
        dist for dist in runtime_dependencies()
        if not IMPORT_NAMES.get(dist, {dist.replace("-", "_")}) & imported
    ]
    assert not unused, f"runtime dependencies tsad/ never imports: {unused}"


def test_the_lock_pins_every_runtime_dependency_exactly() -> None:
    """systemd/requirements.lock pins each runtime dependency to one version, with hashes."""
    text = LOCK.read_text()
    pinned = {
        _name(m.group(1)): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", text, re.MULTILINE)
    }
    missing = [d for d in runtime_dependencies() if d not in pinned]
    assert not missing, f"not pinned in {LOCK.name}: {missing}"
    assert "--hash=sha256:" in text
