"""Numbers about predictions: metrics, ranking, significance tests and the strategy P&L.

Owns classification metrics and the verdict (:mod:`.metrics`), information coefficients
(:mod:`.ranking`), Diebold-Mariano, Pesaran-Timmermann and Sharpe-ratio statistics
(:mod:`.significance`) and the trading P&L with the labels' timing (:mod:`.strategy`). Pure
pandas/numpy/scipy: may import ``features``; never Keras, another ``models`` package or ``flows``.
"""
