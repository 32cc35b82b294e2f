"""Prices in: sources, validation, incremental updates and the price store.

Owns the canonical price data from the moment a source returns it (:mod:`.sources`) through the
validation policy (:mod:`.validation`) and the incremental update (:mod:`.update`) to the locked
per-ticker Parquet files under ``<root>/prices/`` (:mod:`.store`). May import ``features.frame``,
``features.dates``, ``features.settings`` and ``features.storage``; never the feature code, ``models`` or ``flows``.
"""
