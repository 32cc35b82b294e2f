"""The ``updown`` command line: the parser, the subcommands and their arguments.

Owns the parser, the subcommands and their printing (:mod:`.commands`; its ``main`` is re-exported here
as the console script's entry point, ``flows.cli:main``) and the arguments that become configs
(:mod:`.args`). May import the rest of ``flows``, ``features`` and ``models``.
"""

from flows.cli.commands import main

__all__ = ["main"]
