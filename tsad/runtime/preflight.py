"""Preflight: the checks of a config that touch the world (start, reload and check-config).

`tsad.runtime.config` checks the file itself; these check what it points at: the mid-week
hooks import, the private key is a PEM RSA key nobody else can read, and the journal's
folder is writable. Every problem found is raised as one `ConfigError` (exit 78 at start,
the old config kept on reload).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tsad.errors import ConfigError
from tsad.runtime.settings import Config


__all__ = ["load_checked", "preflight", "writable_folder"]


def writable_folder(folder: Path) -> str | None:
    """Prove ``folder`` (or, while missing, the nearest folder above it) writable.

    Returns:
        Why not, or None. Nothing is left behind (a probe file is created and removed).
    """
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a folder"
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".tsad-check-"):
            pass
    except OSError as exc:
        return f"{probe} is not writable ({exc.strerror or exc})"
    return None


def load_checked(path: Path) -> Config:
    """Load, validate and preflight a config: what start, reload and check-config all run.

    Paper mode gets its default forecaster file paths (next to the journal).

    Raises:
        ConfigError: everything wrong with the file or what it points at.
    """
    from tsad.runtime.config import load_config
    from tsad.runtime.paper import with_paper_paths

    return preflight(with_paper_paths(load_config(path)))


def preflight(cfg: Config) -> Config:
    """Check what ``cfg`` points at; return it unchanged when everything is usable.

    Raises:
        ConfigError: every problem found, one per line, each naming the key.
    """
    from tsad.core import midweek

    problems: list[str] = []
    try:
        midweek.resolve_hooks(cfg.model.hooks)
    except Exception as exc:  # a user hook may fail to import in any way at all
        problems.append(f"model.hooks: {exc}")
    ex = cfg.exchange
    if ex.environment != "paper":
        from tsad.kalshi.signing import load_private_key

        try:
            load_private_key(ex.private_key_path or "",
                             allow_insecure_permissions=ex.allow_insecure_key)
        except ConfigError as exc:
            problems.append(f"exchange.private_key_path: {exc}")
    why = writable_folder(Path(cfg.journal.path).parent)
    if why is not None:
        problems.append(f"journal.path: {why}")
    if problems:
        raise ConfigError(f"{cfg.path}: " + "; ".join(problems) if len(problems) == 1 else
                          f"{cfg.path}: {len(problems)} problems:\n"
                          + "\n".join(f"  {p}" for p in problems))
    return cfg

