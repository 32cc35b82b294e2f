"""``python -m flows.cli``: the same as the ``updown`` console script."""

import sys

from flows.cli import main

if __name__ == "__main__":
    sys.exit(main())
