"""``python -m imgindex`` runs the command line (same as the ``imgindex`` command)."""

from .cli import main

raise SystemExit(main())
