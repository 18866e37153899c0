"""``python -m albert_widget``: the ``albert-widget`` command line (see :mod:`albert_widget.cli`)."""

from .cli import main

raise SystemExit(main())
