"""Remote data roots: a local mirror pulled from and pushed to an fsspec filesystem.

Most tests use fsspec's in-process ``memory://`` filesystem; one runs the same cycle against S3
as served by moto on a loopback port (no network), through s3fs.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest

from features.storage.remote import (
    COMMIT_LAST,
    MANIFEST,
    RemoteConflictError,
    RemoteRoot,
    is_url,
    readable_root,
    storage_options_from_env,
)
from flows.settings import root_spec


@pytest.fixture
def bucket() -> Iterator[str]:
    """A fresh prefix of the process-wide memory filesystem, removed afterwards."""
    name = f"/test-{uuid.uuid4().hex[:8]}"
    yield name
    fs = fsspec.filesystem("memory")
    if fs.exists(name):
        fs.rm(name, recursive=True)


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".updown-mirror")
    }


def test_urls_and_local_paths(tmp_path: Path):
    assert is_url("s3://bucket/updown")
    assert is_url("gs://b")
    assert is_url("memory://x")
    assert not is_url("data")
    assert not is_url("/abs/path")
    assert not is_url("file:///tmp/x")
    assert root_spec("s3://bucket/updown/") == "s3://bucket/updown"
    assert root_spec("file:///tmp/x") == "/tmp/x"
    assert root_spec(str(tmp_path)) == str(tmp_path.resolve())
    assert readable_root(tmp_path, ["prices"]) == tmp_path


def test_bad_urls_and_options_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    with pytest.raises(ValueError, match="data_root='data'"):
        RemoteRoot("data", mirror=tmp_path)
    with pytest.raises(ImportError, match="pip install"):
        RemoteRoot("nosuchscheme://bucket/x", mirror=tmp_path)
    monkeypatch.setenv("UPDOWN_STORAGE_OPTIONS", "{not json")
    with pytest.raises(ValueError, match="UPDOWN_STORAGE_OPTIONS"):
        storage_options_from_env()
    monkeypatch.setenv("UPDOWN_STORAGE_OPTIONS", '{"endpoint_url": "http://127.0.0.1:9"}')
    assert storage_options_from_env() == {"endpoint_url": "http://127.0.0.1:9"}


def test_pull_copies_what_is_asked_and_only_what_changed(bucket: str, tmp_path: Path):
    fs = fsspec.filesystem("memory")
    for rel, data in {
        "prices/A.parquet": b"a1",
        "prices/.locks/A.lock": b"",
        "cache/yfinance/x": b"per machine",
        "models/m1/model.keras": b"k",
        "reports/backtest/r1/predictions.parquet": b"p",
        "reports/backtest/r1/folds/seed=0/fold=0.parquet": b"f",
        "reports/backtest/.r2.partial/predictions.parquet": b"half",
    }.items():
        fs.pipe(f"{bucket}/{rel}", data)
    remote = RemoteRoot(f"memory://{bucket}", mirror=tmp_path / "m")
    first = remote.pull(["prices", "cache", "reports/backtest/*/predictions.parquet"])
    assert sorted(first.transferred) == ["prices/A.parquet", "reports/backtest/r1/predictions.parquet"]
    assert _files(tmp_path / "m") == {"prices/A.parquet": b"a1", "reports/backtest/r1/predictions.parquet": b"p"}
    again = remote.pull(["prices"])
    assert again.transferred == []
    assert again.unchanged == 1

    fs.pipe(f"{bucket}/prices/A.parquet", b"a2, longer")  # someone else rewrote it
    fs.pipe(f"{bucket}/prices/B.parquet", b"b1")
    assert sorted(remote.pull(["prices"]).transferred) == ["prices/A.parquet", "prices/B.parquet"]
    assert (tmp_path / "m" / "prices" / "A.parquet").read_bytes() == b"a2, longer"

    fs.rm(f"{bucket}/prices/B.parquet")
    gone = remote.pull(["prices"])
    assert gone.deleted == ["prices/B.parquet"]
    assert not (tmp_path / "m" / "prices" / "B.parquet").exists()


def test_push_uploads_changes_commit_files_last(bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    fs = fsspec.filesystem("memory")
    fs.pipe(f"{bucket}/prices/A.parquet", b"a1")
    mirror = tmp_path / "m"
    remote = RemoteRoot(f"memory://{bucket}", mirror=mirror)
    remote.pull(["prices"])
    assert remote.changed() == []  # what was pulled is not "changed"

    written = {
        "models/champion.json": b'{"model_id": "m1"}',
        "models/m1/metadata.json": b"{}",
        "models/m1/model.keras": b"k",
        "reports/backtest/r1/predictions.parquet": b"p",
        "reports/backtest/r1/metrics.json": b"{}",
        "reports/daily/date=2024-01-02/predictions.parquet": b"d",
        "prices/B.parquet": b"b1",
        "prices/.locks/B.lock": b"",
        "reports/backtest/.r2.partial/x.parquet": b"half",
        "cache/folds/ab/x": b"per machine",
    }
    for rel, data in written.items():
        (mirror / rel).parent.mkdir(parents=True, exist_ok=True)
        (mirror / rel).write_bytes(data)
    order: list[str] = []
    put = remote.fs.put_file
    monkeypatch.setattr(remote.fs, "put_file", lambda lpath, rpath, **kw: (order.append(rpath), put(lpath, rpath))[1])
    report = remote.push()
    shipped = [r.removeprefix(f"{bucket}/") for r in order]
    assert shipped == report.transferred
    assert sorted(shipped) == sorted(r for r in written if "/." not in r and not r.startswith("cache/"))
    # everything else first, then each commit file in COMMIT_LAST's order
    assert len(COMMIT_LAST) == 3
    assert shipped[-3:] == [
        "reports/backtest/r1/predictions.parquet", "models/m1/metadata.json", "models/champion.json"
    ]  # fmt: skip
    assert fs.cat(f"{bucket}/models/champion.json") == written["models/champion.json"]
    assert not fs.exists(f"{bucket}/cache")
    assert not fs.exists(f"{bucket}/reports/backtest/.r2.partial")

    order.clear()
    assert remote.push().transferred == []
    assert order == []
    (mirror / "prices" / "B.parquet").write_bytes(b"b2, rewritten")
    assert remote.push().transferred == ["prices/B.parquet"]
    assert fs.cat(f"{bucket}/prices/B.parquet") == b"b2, rewritten"


def test_push_refuses_to_overwrite_what_someone_else_wrote(bucket: str, tmp_path: Path):
    fs = fsspec.filesystem("memory")
    fs.pipe(f"{bucket}/prices/A.parquet", b"a1")
    remote = RemoteRoot(f"memory://{bucket}", mirror=tmp_path / "m")
    remote.pull(["prices", "reports/daily"])
    mirror = tmp_path / "m"
    (mirror / "prices" / "A.parquet").write_bytes(b"mine")
    (mirror / "reports" / "daily" / "date=2024-01-02").mkdir(parents=True)
    (mirror / "reports" / "daily" / "date=2024-01-02" / "predictions.parquet").write_bytes(b"mine")
    (mirror / "prices" / "C.parquet").write_bytes(b"c")
    # meanwhile another machine rewrites A and publishes the same day
    fs.pipe(f"{bucket}/prices/A.parquet", b"theirs")
    fs.pipe(f"{bucket}/reports/daily/date=2024-01-02/predictions.parquet", b"theirs")
    with pytest.raises(RemoteConflictError, match=r"prices/A\.parquet.*date=2024-01-02/predictions\.parquet"):
        remote.push()
    assert fs.cat(f"{bucket}/prices/A.parquet") == b"theirs"
    assert not fs.exists(f"{bucket}/prices/C.parquet")  # nothing at all was uploaded
    # the next run pulls first: the remote wins, and the unrelated new file still goes up
    remote.pull(["prices", "reports/daily"])
    assert (mirror / "prices" / "A.parquet").read_bytes() == b"theirs"
    assert remote.push().transferred == ["prices/C.parquet"]


def test_damaged_manifest_costs_a_download_not_a_failure(bucket: str, tmp_path: Path):
    fs = fsspec.filesystem("memory")
    fs.pipe(f"{bucket}/prices/A.parquet", b"a1")
    remote = RemoteRoot(f"memory://{bucket}", mirror=tmp_path / "m")
    remote.pull(["prices"])
    (tmp_path / "m" / MANIFEST).write_text("{truncated")
    assert remote.pull(["prices"]).transferred == ["prices/A.parquet"]
    assert json.loads((tmp_path / "m" / MANIFEST).read_text())["url"] == f"memory://{bucket}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_same_cycle_on_s3_served_by_moto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """s3fs against moto's S3 server on loopback: ETags as versions, PUTs, a conflict."""
    pytest.importorskip("s3fs", reason="the S3 check needs the test extra (s3fs)")
    server_mod = pytest.importorskip("moto.server", reason="the S3 check needs the test extra (moto[server])")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    port = _free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        options = {"endpoint_url": f"http://127.0.0.1:{port}", "key": "testing", "secret": "testing"}
        monkeypatch.setenv("UPDOWN_STORAGE_OPTIONS", json.dumps(options))
        fs = fsspec.filesystem("s3", **options)
        fs.mkdir("updown-test")
        fs.pipe("updown-test/root/prices/A.parquet", b"a1")
        one = RemoteRoot("s3://updown-test/root", mirror=tmp_path / "one")
        two = RemoteRoot("s3://updown-test/root", mirror=tmp_path / "two")
        assert one.pull(["prices"]).transferred == ["prices/A.parquet"]
        assert two.pull(["prices"]).transferred == ["prices/A.parquet"]
        (tmp_path / "one" / "prices" / "A.parquet").write_bytes(b"from one")
        assert one.push().transferred == ["prices/A.parquet"]
        (tmp_path / "two" / "prices" / "A.parquet").write_bytes(b"from two")
        with pytest.raises(RemoteConflictError, match=r"prices/A\.parquet"):
            two.push()
        assert two.pull(["prices"]).transferred == ["prices/A.parquet"]
        assert (tmp_path / "two" / "prices" / "A.parquet").read_bytes() == b"from one"
        monkeypatch.setenv("UPDOWN_MIRROR_DIR", str(tmp_path / "mirrors"))
        view = readable_root("s3://updown-test/root", ["prices"])  # a reader's mirror, pulled now
        assert view.is_relative_to(tmp_path / "mirrors")
        assert (view / "prices" / "A.parquet").read_bytes() == b"from one"
    finally:
        server.stop()
