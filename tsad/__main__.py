"""``python -m tsad``: the same as the ``tsad`` console script."""

from tsad.commands.cli import main


raise SystemExit(main())
