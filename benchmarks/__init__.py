"""Side-by-side speed and memory benchmarks of updown (issue 8); run with ``python -m benchmarks``.

One module per comparison; each exposes ``NAME``, ``GOAL`` and ``run(scale=..., repeats=...)``
returning a JSON-ready dict (:func:`benchmarks.common.result`). Not tests: nothing here asserts
on a time, and CI does not run them. Results: ``benchmarks/results/latest.json`` and
``BENCHMARKS.md``.
"""
