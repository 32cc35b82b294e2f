"""What a backtest run leaves behind: its folder, the HTML report and the plots.

Owns the files of a run folder (:mod:`.run_folder`), ``report.html`` (:mod:`.html_report`) and the
PNG plots (:mod:`.plots`). May import ``features``, ``models.evaluation`` and ``models.serving`` (the
prediction report schema); never ``models.learn``, ``models.backtest`` or ``flows``.
"""
