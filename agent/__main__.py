"""Entry point of `python -m agent` and of the `exec-agent` script."""

import sys

from agent.cli import main

if __name__ == "__main__":
    sys.exit(main())
