"""Prefect 3 flows (daily, train, backtest), their deployments and the ``updown`` CLI.

The only package that imports Prefect; it wires ``features`` and ``models`` together.
"""
