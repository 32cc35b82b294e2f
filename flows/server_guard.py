"""Prefect's temporary API server never outlives the process that started it.

Without ``PREFECT_API_URL``, Prefect 3 runs each flow against a temporary ("ephemeral") server:
``prefect.server.api.server.SubprocessASGIServer`` starts ``python -m uvicorn ...
prefect.server.api.server:create_app`` as a child process and stops it from an ``atexit`` hook. A
hard kill of the parent (SIGKILL, the kernel's OOM killer) runs no hook, so the server used to
stay behind with parent 1, for good.

:func:`install` makes Prefect start that server through this module instead (``python -m
flows.server_guard <parent pid> uvicorn ...``): it starts a watcher thread, then runs uvicorn in
the same process, unchanged. The watcher polls its parent process id every
:data:`POLL_S` seconds; when the parent is gone (the process was re-parented), it stops the
server with SIGTERM (uvicorn's graceful shutdown) and, should that hang, exits hard
:data:`GRACE_S` seconds later. Polling the parent works on Linux and macOS alike and does not
depend on which thread of the parent started the server (Linux's ``PR_SET_PDEATHSIG`` fires when
that *thread* ends, which in Prefect may be an event-loop thread, not the process).

Only the command Prefect builds is changed, by prefixing it: if a Prefect release builds another
command, it runs unchanged (``tests/faults/test_orphans.py`` then fails).
"""

from __future__ import annotations

import os
import runpy
import signal
import subprocess
import sys
import threading
import time
import types
from collections.abc import Sequence
from typing import Any

__all__ = ["GRACE_S", "POLL_S", "guarded_command", "install", "main"]

POLL_S = 0.5
"""Seconds between two looks at the parent process."""
GRACE_S = 5.0
"""Seconds the server has to shut down after its parent died, before it is ended hard."""


def guarded_command(args: Sequence[str], *, parent: int) -> list[str]:
    """Prefect's ``python -m uvicorn ...`` command run through this module; any other command unchanged."""
    args = list(args)
    if len(args) >= 3 and args[1:3] == ["-m", "uvicorn"]:
        return [args[0], "-m", __name__, str(parent), *args[2:]]
    return args


class _GuardedSubprocess(types.ModuleType):
    """Stands in for ``subprocess`` inside Prefect's server module: its ``Popen`` guards the server."""

    def __init__(self) -> None:
        super().__init__("subprocess")

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)

    def Popen(self, args: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:  # noqa: N802 (subprocess's name)
        return subprocess.Popen(guarded_command(args, parent=os.getpid()), **kwargs)


def install() -> None:
    """Route Prefect's temporary server through this module (a no-op with a real server configured).

    Prefect imports its server module only to start the temporary server, so with
    ``PREFECT_API_URL`` set nothing is imported here (that import takes about 2 s).
    """
    from prefect.settings import get_current_settings

    if get_current_settings().api.url:
        return
    import prefect.server.api.server as server

    if not isinstance(server.subprocess, _GuardedSubprocess):
        server.subprocess = _GuardedSubprocess()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_S)
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn shuts down gracefully on SIGTERM
    time.sleep(GRACE_S)
    os._exit(1)


def main(argv: Sequence[str]) -> None:
    """``python -m flows.server_guard PARENT_PID MODULE [ARGS...]``: run ``MODULE`` as ``python -m`` would, watched."""
    parent, module, *rest = argv
    if os.getppid() != int(parent):  # the parent died before the server even started
        raise SystemExit(1)
    threading.Thread(target=_watch, args=(int(parent),), name="parent-watcher", daemon=True).start()
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
