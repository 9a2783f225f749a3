"""`python -m thrust …` is the `thrust` command."""

from thrust.cli import main

raise SystemExit(main())
