"""``python -m moo``: the ``moo`` command line (see `moo.cli`)."""

from moo.cli import main

raise SystemExit(main())
