"""The generic webhook's signature: HMAC-SHA256 over time stamp, nonce, method, path and body.

A signed request carries four headers:

* ``X-Gate-Device``: the controller (its serial number, or its id in the site file);
* ``X-Gate-Timestamp``: Unix time in whole seconds when it was signed;
* ``X-Gate-Nonce``: 16 to 64 characters ``[A-Za-z0-9_-]``, new for every message;
* ``X-Gate-Signature``: ``sha256=`` and the lower-case hex HMAC-SHA256, keyed with the
  controller's shared secret, of the bytes
  ``<timestamp>\\n<nonce>\\n<METHOD>\\n<path>\\n`` followed by the body exactly as sent
  (``path`` with its query string, if any, as in the request line).

An answer is signed the same way with ``ANSWER`` as the method and the nonce of the request it
answers as the path, so an answer cannot be replayed to another request.

The receiver refuses a time stamp further than its replay window from its own clock, and a nonce
it has already accepted from that device within the window.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

DEVICE_HEADER = "X-Gate-Device"
TIMESTAMP_HEADER = "X-Gate-Timestamp"
NONCE_HEADER = "X-Gate-Nonce"
SIGNATURE_HEADER = "X-Gate-Signature"
ANSWER = "ANSWER"
PREFIX = "sha256="
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def signature(secret: str, timestamp: str, nonce: str, method: str, path: str,
              body: bytes) -> str:
    message = f"{timestamp}\n{nonce}\n{method}\n{path}\n".encode() + body
    return PREFIX + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(device: str, secret: str, body: bytes, method: str, path: str,
                   now: float | None = None) -> dict[str, str]:
    """The headers that sign ``body`` sent by ``method`` to ``path`` for ``device``."""
    timestamp = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    return {DEVICE_HEADER: device, TIMESTAMP_HEADER: timestamp, NONCE_HEADER: nonce,
            SIGNATURE_HEADER: signature(secret, timestamp, nonce, method, path, body)}


def answer_headers(device: str, secret: str, body: bytes, request_nonce: str,
                   now: float | None = None) -> dict[str, str]:
    """The headers that sign an answer to the request that carried ``request_nonce``."""
    return signed_headers(device, secret, body, ANSWER, request_nonce, now)


def _header(headers: Mapping[str, str], name: str) -> str:
    return headers.get(name.lower()) or headers.get(name) or ""


def nonce_of(headers: Mapping[str, str]) -> str:
    return _header(headers, NONCE_HEADER)


class SignatureError(Exception):
    """Why a signed message was refused, for the log and the 401 answer."""


class SignatureChecker:
    """Checks signatures within a replay window and remembers the nonces it accepted."""

    MAX_REMEMBERED = 65536

    def __init__(self, window: float, clock: Callable[[], float] = time.time) -> None:
        self.window = window
        self._clock = clock
        self._accepted: OrderedDict[tuple[str, str], float] = OrderedDict()  # -> time stamp

    def check(self, secret: str, headers: Mapping[str, str], body: bytes, method: str,
              path: str) -> None:
        timestamp = _header(headers, TIMESTAMP_HEADER)
        nonce = _header(headers, NONCE_HEADER)
        given = _header(headers, SIGNATURE_HEADER)
        if not timestamp.isdigit() or len(timestamp) > 12:
            raise SignatureError(f"{TIMESTAMP_HEADER} missing or not whole seconds")
        if not _NONCE.match(nonce):
            raise SignatureError(f"{NONCE_HEADER} missing or not 16-64 of [A-Za-z0-9_-]")
        if not given.startswith(PREFIX):
            raise SignatureError(f"{SIGNATURE_HEADER} missing or not sha256=<hex>")
        now = self._clock()
        if abs(now - int(timestamp)) > self.window:
            raise SignatureError(f"time stamp {timestamp} is {now - int(timestamp):+.0f} s off "
                                 f"our clock (window {self.window:g} s)")
        expected = signature(secret, timestamp, nonce, method, path, body)
        if not hmac.compare_digest(expected, given.lower()):
            raise SignatureError("signature does not match (wrong secret, or the message was "
                                 "changed)")
        self._forget(now)
        key = (_header(headers, DEVICE_HEADER), nonce)
        if key in self._accepted:
            raise SignatureError("nonce already used (replay)")
        self._accepted[key] = int(timestamp)

    def _forget(self, now: float) -> None:
        while self._accepted:
            oldest, stamp = next(iter(self._accepted.items()))
            if now - stamp <= self.window and len(self._accepted) < self.MAX_REMEMBERED:
                break
            del self._accepted[oldest]
