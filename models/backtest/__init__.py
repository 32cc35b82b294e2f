"""The walk-forward backtest: the plan of folds, the one engine that fits every block, the fold cache.

Owns the walk-forward plan (:mod:`.walkforward`), the engine (:mod:`.engine`: ``Backtest``, ``FoldJob``,
``run_block``), the block file format (:mod:`.foldfiles`) and the content-addressed cache of trained
blocks (:mod:`.foldcache`). May import ``features``, ``models.learn``, ``models.evaluation``,
``models.reporting`` (to write the run folder) and ``models.serving`` (the prediction frame schema);
never ``flows`` or Prefect.
"""
