"""A data root on object storage (any fsspec URL), worked on through a local mirror.

The store, the registry and the reports rely on things object stores do not have: file locks,
``os.replace`` over an existing file, folder renames. Rather than weaken those guarantees, a
flow whose data root is a URL (``s3://bucket/updown``, ``gs://...``, ``memory://...``) works on a
local *mirror* of it with the ordinary local code, between two steps:

``pull(paths)``
    Download the remote files under ``paths`` that changed since the last sync (compared by
    size and ETag / modification stamp), each through a temporary file and a rename, and drop
    mirror files the remote deleted. The remote wins: a mirror file a failed run changed but never
    pushed is overwritten when its remote copy changed.
``push()``
    Upload the mirror files that changed since the last sync. Each object is written by one PUT,
    which object stores make atomic (a reader sees the old object or the new one, whole), and the
    files that make others visible go last (:data:`COMMIT_LAST`): a backtest run's
    ``predictions.parquet`` after its other files, a model's ``metadata.json`` after its
    ``model.keras``, the champion pointer after everything. Before uploading anything, ``push``
    checks that none of the remote files it would overwrite changed since this mirror last saw
    them (another machine wrote meanwhile); if one did it uploads nothing and raises
    :class:`RemoteConflictError` naming the files, so no one's update is silently lost.

Hidden paths (temporary files, ``.locks``, run folders still being built) and ``cache/`` (per
machine) are never synced. The mirror's own state is ``.updown-mirror.json`` in the mirror,
read and written under a file lock, so flows on one machine can share a mirror.

Limits (also in docs/operations.md): the conflict check and the uploads are not one atomic step,
so two machines pushing the *same* file in the same instant can still race; serialise writers of
one root (one daily deployment, a Prefect concurrency limit for the rest). Credentials and
endpoints come from fsspec's usual configuration (environment, ``~/.config/fsspec``) or
``storage_options``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import fnmatch
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from features.settings import Settings
from features.storage import layout
from features.storage.atomic import atomic_path, write_json

MANIFEST = ".updown-mirror.json"
MANIFEST_LOCK = ".updown-mirror.lock"
LOCAL_SCHEMES = ("", "file", "local")

# Pushed after every other file, in this order: each makes other files visible to readers.
COMMIT_LAST: tuple[str, ...] = (
    layout.FINISHED_RUNS,  # a backtest run counts as finished once its predictions.parquet exists
    layout.MODEL_CARDS,  # the registry lists a model once its metadata.json exists
    layout.CHAMPION,  # the pointer the daily flow follows
)
NOT_SYNCED = (f"{layout.CACHE}/", f"{layout.QUARANTINE}/")
FSSPEC_HINT = (
    "a data root URL needs the fsspec filesystem of its scheme: "
    "pip install 'updown[s3]' (s3fs) or 'updown[gcs]' (gcsfs)"
)


class RemoteConflictError(RuntimeError):
    """The remote changed under a file this mirror also changed; nothing was uploaded."""


def is_url(root: str | os.PathLike[str]) -> bool:
    """True for ``scheme://...`` data roots other than ``file://`` (a local path stays a path)."""
    text = os.fspath(root)
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.lower() not in LOCAL_SCHEMES and scheme.replace("+", "").isalnum()


def default_mirror(url: str) -> Path:
    """``$UPDOWN_MIRROR_DIR/<hash of url>`` (default ``~/.cache/updown/mirrors/<hash>``)."""
    return Settings.from_env().mirror_dir / hashlib.sha256(url.encode()).hexdigest()[:16]


def storage_options_from_env() -> dict[str, Any]:
    """``$UPDOWN_STORAGE_OPTIONS`` as a JSON object (e.g. ``{"endpoint_url": "http://minio:9000"}``), or {}.

    Raises:
        features.settings.SettingsError: (a ``ValueError``) the variable is not a JSON object.
    """
    return dict(Settings.from_env().storage_options)


@dataclass
class SyncReport:
    """What one pull or push moved (paths relative to the root)."""

    transferred: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0

    def summary(self, verb: str) -> str:
        gone = f", {len(self.deleted)} deleted" if self.deleted else ""
        return f"{verb} {len(self.transferred)} files{gone}, {self.unchanged} unchanged"


def _stamp(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return value if isinstance(value, (int, float, str)) or value is None else str(value)


def _token(info: Mapping[str, Any]) -> str:
    """A remote object's version: its size and the first content tag or time the filesystem gives."""
    for key in ("ETag", "etag", "md5Hash", "crc32c", "LastModified", "mtime", "updated", "created"):
        if info.get(key) is not None:
            return json.dumps([info.get("size"), key, _stamp(info[key])])
    return json.dumps([info.get("size")])


def _local_state(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _synced(rel: str) -> bool:
    parts = PurePosixPath(rel).parts
    return not any(p.startswith(".") for p in parts) and not any(rel.startswith(p) for p in NOT_SYNCED)


def _matches(rel: str, pattern: str) -> bool:
    """Glob match part by part (``*`` never crosses a ``/``)."""
    parts, want = PurePosixPath(rel).parts, PurePosixPath(pattern).parts
    return len(parts) == len(want) and all(fnmatch.fnmatchcase(p, w) for p, w in zip(parts, want, strict=True))


def _selected(rel: str, entry: str) -> bool:
    """Whether ``entry`` (a folder, a file or a glob pattern; "" = everything) selects ``rel``."""
    if any(c in entry for c in "*?["):
        return _matches(rel, entry)
    return entry == "" or rel == entry or rel.startswith(entry + "/")


def _static_prefix(entry: str) -> str:
    """The folder a listing for ``entry`` has to start from (the part before the first glob)."""
    parts = []
    for part in PurePosixPath(entry).parts if entry else ():
        if any(c in part for c in "*?["):
            break
        parts.append(part)
    return "/".join(parts)


def _commit_rank(rel: str) -> int:
    for rank, pattern in enumerate(COMMIT_LAST, start=1):
        if _matches(rel, pattern):
            return rank
    return 0


class RemoteRoot:
    """One fsspec data root and its local mirror.

    Args:
        url: ``scheme://bucket/prefix``.
        mirror: the local folder mirroring it (default :func:`default_mirror`).
        storage_options: passed to the fsspec filesystem (e.g. ``{"endpoint_url": ...}``).

    Raises:
        ValueError: ``url`` is not a URL.
        ImportError: fsspec (or the filesystem for the scheme) is not installed, saying what to install.
    """

    def __init__(
        self, url: str, *, mirror: str | Path | None = None, storage_options: Mapping[str, Any] | None = None
    ) -> None:
        if not is_url(url):
            raise ValueError(f"a remote data root must be a URL like s3://bucket/prefix, got data_root={url!r}")
        try:
            import fsspec
        except ImportError as exc:
            raise ImportError(FSSPEC_HINT) from exc
        self.url = url.rstrip("/")
        if storage_options is None:
            storage_options = storage_options_from_env()
        try:
            self.fs, base = fsspec.core.url_to_fs(self.url, **dict(storage_options or {}))
        except (ImportError, ValueError) as exc:
            raise ImportError(f"{FSSPEC_HINT} ({exc})") from exc
        self.base = base.rstrip("/")
        self.mirror = Path(mirror).expanduser().resolve() if mirror is not None else default_mirror(self.url)

    def __repr__(self) -> str:
        return f"RemoteRoot({self.url!r}, mirror={str(self.mirror)!r})"

    # -- remote listing --------------------------------------------------------------------

    def _rel(self, remote_path: str) -> str:
        if not remote_path.startswith(self.base):
            raise ValueError(f"{remote_path!r} is not under the data root {self.url}")
        return remote_path[len(self.base) :].lstrip("/")

    def _remote(self, rel: str) -> str:
        return f"{self.base}/{rel}" if rel else self.base

    def _list(self, paths: Iterable[str]) -> dict[str, str]:
        """Remote files ``paths`` select (folders, files or globs): relative path -> version token."""
        self.fs.invalidate_cache()
        out: dict[str, str] = {}
        for entry in paths:
            entry = entry.strip("/")
            try:
                found = self.fs.find(self._remote(_static_prefix(entry)), detail=True)
            except FileNotFoundError:
                continue
            for name, info in found.items():
                if info.get("type", "file") != "file":
                    continue
                key = self._rel(name)
                if key and _synced(key) and _selected(key, entry):
                    out[key] = _token(info)
        return out

    # -- the mirror's state ----------------------------------------------------------------

    @contextlib.contextmanager
    def _state(self) -> Iterator[dict[str, dict[str, Any]]]:
        """The manifest (relative path -> {"remote": token, "local": [size, mtime_ns]}), locked."""
        self.mirror.mkdir(parents=True, exist_ok=True)
        with open(self.mirror / MANIFEST_LOCK, "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            path = self.mirror / MANIFEST
            try:
                state = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
            except json.JSONDecodeError:
                state = {}  # a damaged manifest only costs a full re-download
            files: dict[str, dict[str, Any]] = state.get("files", {}) if state.get("url") == self.url else {}
            try:
                yield files
            finally:
                write_json({"url": self.url, "files": files}, path)

    # -- sync ------------------------------------------------------------------------------

    def pull(self, paths: Iterable[str] = ("",)) -> SyncReport:
        """Bring the mirror's copy of ``paths`` up to date.

        Args:
            paths: relative folders, files or globs (``reports/backtest/*/predictions.parquet``;
                ``*`` stays within one folder); "" = everything.
        """
        paths = [p.strip("/") for p in paths]
        report = SyncReport()
        remote = self._list(paths)
        with self._state() as files:
            for rel, token in sorted(remote.items()):
                local = self.mirror / rel
                known = files.get(rel)
                if known and known["remote"] == token and local.is_file():
                    report.unchanged += 1
                    continue
                with atomic_path(local, suffix=".part") as tmp:
                    self.fs.get_file(self._remote(rel), str(tmp))
                files[rel] = {"remote": token, "local": _local_state(local)}
                report.transferred.append(rel)
            for rel in sorted(files):
                if rel not in remote and any(_selected(rel, p) for p in paths):  # synced before, deleted remotely since
                    (self.mirror / rel).unlink(missing_ok=True)
                    del files[rel]
                    report.deleted.append(rel)
        return report

    def changed(self) -> list[str]:
        """Mirror files created or modified since the last sync (relative paths, commit order)."""
        with self._state() as files:
            return self._changed(files)

    def _changed(self, files: Mapping[str, Mapping[str, Any]]) -> list[str]:
        out = []
        for folder, dirs, names in os.walk(self.mirror):
            here = Path(folder).relative_to(self.mirror).as_posix()
            prefix = "" if here == "." else here + "/"
            dirs[:] = [d for d in dirs if _synced(prefix + d + "/")]  # never descend into .locks/ or cache/
            for name in names:
                rel = prefix + name
                if not _synced(rel):
                    continue
                known = files.get(rel)
                if known is None or known["local"] != _local_state(self.mirror / rel):
                    out.append(rel)
        return sorted(out, key=lambda r: (_commit_rank(r), r))

    def push(self) -> SyncReport:
        """Upload the mirror's changes, commit files last.

        Raises:
            RemoteConflictError: a remote file this push would overwrite changed since this mirror
                last synced it (or appeared meanwhile); nothing was uploaded.
        """
        report = SyncReport()
        with self._state() as files:
            todo = self._changed(files)
            if not todo:
                return report
            current = self._list(sorted({str(PurePosixPath(r).parent) if "/" in r else r for r in todo}))
            conflicts = [r for r in todo if r in current and current[r] != files.get(r, {}).get("remote")]
            if conflicts:
                raise RemoteConflictError(
                    f"{self.url} changed while this run worked on it: {', '.join(conflicts[:10])}"
                    f"{' ...' if len(conflicts) > 10 else ''} were written by someone else since the last pull; "
                    "nothing was uploaded. Re-run to work on the new state."
                )
            for rel in todo:
                local = self.mirror / rel
                state = _local_state(local)
                self.fs.makedirs(self._remote(str(PurePosixPath(rel).parent)), exist_ok=True)
                self.fs.put_file(str(local), self._remote(rel))
                files[rel] = {"remote": self._list([rel]).get(rel, ""), "local": state}
                report.transferred.append(rel)
            report.unchanged = len(files) - len(todo)
        return report


def readable_root(root: str | os.PathLike[str], paths: Iterable[str]) -> Path:
    """A local folder holding ``paths`` of ``root``: the root itself, or its mirror, pulled now.

    For readers (``read_predictions``, ``updown report``/``models``): nothing is ever pushed.
    """
    if not is_url(root):
        return Path(root)
    remote = RemoteRoot(os.fspath(root))
    remote.pull(paths)
    return remote.mirror
