"""Allow ``python -m flotilla``."""

from flotilla.cli import main

raise SystemExit(main())
