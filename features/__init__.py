"""Prices to model-ready arrays: sources, the price store, features, labels, windows.

Data flows one way: a source returns the canonical price frame (:mod:`features.frame`), the
store keeps it (:mod:`features.prices.store`), :mod:`features.indicators` and :mod:`features.labels`
turn it into a feature matrix and down/flat/up classes, and :mod:`features.windows` serves
sequence windows to a model. Nothing here imports ``models`` or ``flows``.
"""
