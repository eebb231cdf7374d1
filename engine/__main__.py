"""``python -m engine CONTENT STYLE [STYLE ...] -o OUT``: see engine.cli."""

from engine.cli import main

raise SystemExit(main())
