"""``python -m benchmarks [--only NAME[,NAME]] [--quick] [--repeats N] [--out PATH] [--report]``.

Runs the comparisons in one process (the memory, daily-flow and backtest ones start their own
subprocesses, by design), prints each result as it comes, and writes every figure with its
repeats and the machine facts to ``benchmarks/results/latest.json`` (``--out`` to change). The
500-ticker store and the champion are prepared once and shared by ``store``, ``daily`` and
``inference``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import (
    backtest,
    baselines,
    cli_startup,
    daily,
    feature_engineering,
    inference,
    kernels,
    lstm,
    memory,
    scale_out,
    store_read,
    threads,
    training,
    universe,
)
from benchmarks.common import machine_info, train_champion, workspace
from benchmarks.report import markdown

MODULES = {
    m.NAME: m
    for m in (
        training,
        lstm,
        memory,
        feature_engineering,
        store_read,
        daily,
        inference,
        backtest,
        cli_startup,
        universe,
        scale_out,
        baselines,
        threads,
        kernels,
    )
}
DEFAULT_OUT = Path(__file__).parent / "results" / "latest.json"


def _print(res: dict[str, Any]) -> None:
    head = res["figures"][res["headline"]]
    print(f"\n== {res['name']}: {res['goal']}  -> {head['median']:.4g} {head['unit']}  met={res['met']}", flush=True)
    for key, fig in res["figures"].items():
        reps = ", ".join(f"{v:.4g}" for v in fig["repeats"])
        print(f"   {key:42s} {fig['median']:>12.4g} {fig['unit']:10s} [{reps}]", flush=True)
    for note in res["notes"]:
        print(f"   note: {note}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(MODULES)}")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (minutes, not a quarter hour)")
    parser.add_argument("--repeats", type=int, default=None, help="override every benchmark's repeat count")
    parser.add_argument(
        "--epochs", type=int, default=None, help="epochs per block of the universe backtest (default: its size's, 1)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON (default: %(default)s)")
    parser.add_argument("--report", action="store_true", help="print the markdown table of --out and exit")
    args = parser.parse_args(argv)
    if args.report:
        print(markdown(json.loads(args.out.read_text(encoding="utf-8"))))
        return 0
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(MODULES)
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        parser.error(f"--only must name benchmarks from {list(MODULES)}, got {unknown}")
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    scale = "quick" if args.quick else "full"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.perf_counter()
    out: dict[str, Any] = {
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "scale": scale,
        "command": "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine_info(),
        "results": {},
        "errors": {},
    }
    with workspace() as scratch:
        shared = scratch / "data"
        prepared: dict[str, bool] = {}

        def prepare(size: dict[str, Any]) -> Path:
            key = f"{size['tickers']}x{size['days']}"
            if key not in prepared:
                t0 = time.perf_counter()
                write_s = store_read.fill_store(shared, size["tickers"], size["days"])
                train_champion(shared)
                prepared[key] = True
                out["setup"] = {"store": key, "store_write_s": write_s, "setup_s": time.perf_counter() - t0}
                print(f"setup: store {key} written in {write_s:.1f} s; champion trained", flush=True)
            return shared

        runners: dict[str, Callable[[], dict[str, Any]]] = {
            "training": lambda: training.run(scale=scale, repeats=args.repeats),
            "memory": lambda: memory.run(scale=scale, repeats=args.repeats),
            "features": lambda: feature_engineering.run(scale=scale, repeats=args.repeats),
            "store": lambda: store_read.run(scale=scale, repeats=args.repeats, root=prepare(store_read.SIZES[scale])),
            "daily": lambda: daily.run(scale=scale, repeats=args.repeats, root=prepare(daily.SIZES[scale])),
            "inference": lambda: inference.run(
                scale=scale, repeats=args.repeats, root=prepare(store_read.SIZES[scale])
            ),
            "backtest": lambda: backtest.run(scale=scale, repeats=args.repeats),
            "cli": lambda: cli_startup.run(scale=scale, repeats=args.repeats),
            "lstm": lambda: lstm.run(scale=scale, repeats=args.repeats),
            "scale_out": lambda: scale_out.run(scale=scale, repeats=args.repeats),
            "universe": lambda: universe.run(scale=scale, repeats=args.repeats, epochs=args.epochs),
            "baselines": lambda: baselines.run(scale=scale, repeats=args.repeats),
            "threads": lambda: threads.run(scale=scale, repeats=args.repeats),
            "kernels": lambda: kernels.run(scale=scale, repeats=args.repeats),
        }
        if scale == "quick":  # quick sizes of store and daily differ: let each prepare its own
            runners["store"] = lambda: store_read.run(scale=scale, repeats=args.repeats)
            runners["daily"] = lambda: daily.run(scale=scale, repeats=args.repeats)
            runners["inference"] = lambda: inference.run(scale=scale, repeats=args.repeats)
        for name in names:
            load_before = list(os.getloadavg())
            t0 = time.perf_counter()
            try:
                res = runners[name]()
            except Exception as exc:  # one failed benchmark must not lose the others' numbers
                traceback.print_exc()
                out["errors"][name] = f"{type(exc).__name__}: {exc}"
                continue
            res["seconds"] = time.perf_counter() - t0
            res["measured_at"] = dt.datetime.now(dt.UTC).isoformat()
            res["loadavg_before"] = load_before
            res["loadavg_after"] = list(os.getloadavg())
            out["results"][name] = res
            _print(res)
    out["total_s"] = time.perf_counter() - started
    if args.only and args.out.is_file():  # a subset refreshes its results and keeps the others
        previous = json.loads(args.out.read_text(encoding="utf-8"))
        if previous.get("scale") == scale:
            out["results"] = {**previous.get("results", {}), **out["results"]}
            out["runs"] = [*previous.get("runs", [previous.get("command")]), out["command"]]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out} ({out['total_s']:.0f} s)", flush=True)
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
