"""``python -m pytest_delegation combine ...``: the console script without its wrapper."""

from __future__ import annotations

import sys

from pytest_delegation.cli import main


if __name__ == "__main__":
    sys.exit(main())
