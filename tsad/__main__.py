"""``python -m tsad``: the same as the ``tsad`` console script (signals armed first)."""

from tsad.runtime.signals import EARLY


EARLY.arm()

from tsad.commands.cli import main  # noqa: E402 (after the signals are armed)


raise SystemExit(main())
