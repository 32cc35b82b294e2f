"""Prefect 3 flows (daily, train, backtest), their deployments and the ``updown`` CLI.

The only package that imports Prefect; it wires ``features`` and ``models`` together.
"""

# curl_cffi (yfinance's HTTP client) must be loaded before TensorFlow: TensorFlow's own bundled
# TLS/curl symbols otherwise shadow libcurl-impersonate's, and every Yahoo request then fails with
# "ImpersonateError: Impersonating chrome... is not supported". flows/ is where both meet.
import curl_cffi.requests  # noqa: F401  (import for its side effect on symbol resolution)
