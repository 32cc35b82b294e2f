"""Print the README's test command, the one line CI runs literally (``.ci/run``).

The command is the only line of the first ```bash block after the words "Install and run the
tests" in README.md. Anything else (no such words, no block, a block of several lines) exits
with status 1 and says what it found, so CI can never run something other than what the README
shows.

Usage: ``python3 .ci/readme_command.py [README.md]``
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

MARKER = "Install and run the tests"
_BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)


def readme_test_command(readme: str) -> str:
    """The single command line of the bash block following :data:`MARKER`.

    Raises:
        ValueError: naming what is missing or ambiguous.
    """
    at = readme.find(MARKER)
    if at < 0:
        raise ValueError(f"README has no {MARKER!r} section")
    block = _BLOCK.search(readme, at)
    if block is None:
        raise ValueError(f"README has no ```bash block after {MARKER!r}")
    lines = [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if len(lines) != 1:
        raise ValueError(f"the ```bash block after {MARKER!r} must hold exactly one command line, got {lines!r}")
    return lines[0].strip()


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "README.md")
    try:
        print(readme_test_command(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
