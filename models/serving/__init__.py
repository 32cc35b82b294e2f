"""The production model's life: registry, promotion, scoring, prediction reports, settlement.

Owns ``<root>/models/`` and ``champion.json`` (:mod:`.registry`), champion promotion
(:mod:`.promotion`), training the production model and scoring the latest day (:mod:`.scoring`), the
prediction report schema and daily partitions (:mod:`.predictions`) and settling past predictions
(:mod:`.settlement`). May import ``features``, ``models.learn`` and ``models.evaluation``; never
``models.backtest``, ``models.reporting`` or ``flows``.
"""
