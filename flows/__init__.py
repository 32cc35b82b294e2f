"""Prefect 3 flows (daily, train, backtest), their deployments and the ``updown`` CLI.

The only package that imports Prefect; it wires ``features`` and ``models`` together.
"""

# Some flow modules import Keras (hence TensorFlow) before any `models` module; importing the
# `models` package first (cheap, no Keras) puts its before-TensorFlow hook in place for them:
# quiet C++ logging, and curl_cffi (yfinance's HTTP client) loaded before TensorFlow's symbols.
import models  # noqa: F401
