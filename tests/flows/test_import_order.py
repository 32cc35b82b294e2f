"""Regression: with TensorFlow loaded, yfinance's curl_cffi transport must still work."""

import subprocess
import sys

SCRIPT = """
import flows.common  # imports keras, hence TensorFlow
from curl_cffi import requests
try:
    requests.Session(impersonate="chrome").get("http://127.0.0.1:9", timeout=2)
except Exception as exc:
    print(type(exc).__name__)
"""


def test_curl_cffi_impersonation_survives_tensorflow():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True)
    # a refused loopback connection, not "ImpersonateError: Impersonating chrome... is not supported"
    assert out.stdout.strip().splitlines()[-1] in {"ConnectionError", "CurlError", "RequestException"}
