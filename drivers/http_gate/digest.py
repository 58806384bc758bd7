"""HTTP digest authentication, the server's side (RFC 7616, MD5 or SHA-256, ``qop=auth``).

The server challenges with a nonce it can check without keeping it: a time stamp, random bytes
and an HMAC over both with a key that lives as long as the process. A nonce older than its
lifetime is answered with ``stale=true`` (the client retries at once, no new password needed).
Each nonce's ``nc`` values are remembered (bounded), so a captured request cannot be sent
again; requests that arrive out of order (several in flight on one nonce) are still taken.
Clients without ``qop`` (RFC 2069) are refused: with no ``nc`` their requests could be replayed.

Used by the gate receiver (controllers answer our challenge) and by the controller simulator
(the gateway answers the simulated device's challenge), both tested against httpx's client.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import struct
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*(?:,|$)')
ALGORITHMS: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
}
MAX_HEADER = 4096
REMEMBERED_NONCES = 4096
NC_PER_NONCE = 1024  # requests one nonce may authenticate; then the client is challenged again


def parse_authorization(header: str) -> dict[str, str] | None:
    """The parameters of a ``Digest`` Authorization header, or None if it is not one."""
    if len(header) > MAX_HEADER:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params: dict[str, str] = {}
    position = 0
    rest = rest.strip()
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if not match or match.end() == position:
            return None
        value = match.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[match.group(1).lower()] = value
        position = match.end()
    return params


@dataclass(frozen=True)
class DigestResult:
    ok: bool
    username: str = ""
    stale: bool = False  # a good answer to a nonce that has expired: challenge again
    reason: str = ""


class DigestAuthority:
    """Issues challenges for one realm and checks answers against a password lookup."""

    def __init__(self, realm: str, lifetime: float = 300.0, algorithm: str = "MD5",
                 clock: Callable[[], float] = time.time) -> None:
        if algorithm not in ALGORITHMS:
            raise ValueError(f"digest algorithm {algorithm!r} (known: {', '.join(ALGORITHMS)})")
        self.realm = realm
        self.lifetime = lifetime
        self.algorithm = algorithm
        self._hash = ALGORITHMS[algorithm]
        self._clock = clock
        self._key = os.urandom(32)
        self._seen: OrderedDict[str, set[int]] = OrderedDict()  # nonce -> nc values used

    def nonce(self) -> str:
        stamp = struct.pack(">d", self._clock()) + os.urandom(8)
        mac = hmac.new(self._key, stamp, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(stamp + mac).decode().rstrip("=")

    def challenge(self, stale: bool = False) -> str:
        """The value of a ``WWW-Authenticate`` header."""
        return (f'Digest realm="{self.realm}", qop="auth", algorithm={self.algorithm}, '
                f'nonce="{self.nonce()}"' + (", stale=true" if stale else ""))

    def _nonce_age(self, nonce: str) -> float | None:
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (ValueError, TypeError):
            return None
        if len(raw) != 32:
            return None
        expected = hmac.new(self._key, raw[:16], hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(expected, raw[16:]):
            return None
        (issued,) = struct.unpack(">d", raw[:8])
        return self._clock() - issued

    def verify(self, header: str | None, method: str, uri: str,
               password_for: Callable[[str], str | None]) -> DigestResult:
        """Check an Authorization header for a request of ``method`` on ``uri`` (path and
        query as sent). ``password_for`` gives a user's password, None for no such user."""
        if not header:
            return DigestResult(False, reason="no credentials")
        params = parse_authorization(header)
        if params is None:
            return DigestResult(False, reason="not a digest Authorization header")
        username = params.get("username", "")
        for name in ("username", "realm", "nonce", "uri", "response"):
            if not params.get(name):
                return DigestResult(False, username, reason=f"digest without {name}")
        if params.get("qop") != "auth" or not params.get("nc") or not params.get("cnonce"):
            return DigestResult(False, username, reason="digest without qop=auth (RFC 2069 "
                                                        "answers can be replayed; refused)")
        if params.get("algorithm", "MD5").upper() != self.algorithm.upper():
            return DigestResult(False, username, reason=f"digest algorithm "
                                f"{params.get('algorithm')!r}, expected {self.algorithm}")
        if params["realm"] != self.realm:
            return DigestResult(False, username, reason=f"realm {params['realm']!r}")
        if params["uri"] != uri:
            return DigestResult(False, username, reason="digest uri is not the request's")
        password = password_for(username)
        if password is None:
            return DigestResult(False, username, reason="unknown user")
        try:
            nc = int(params["nc"], 16)
        except ValueError:
            return DigestResult(False, username, reason="nc is not hexadecimal")
        ha1 = self._hash(f"{username}:{self.realm}:{password}".encode())
        ha2 = self._hash(f"{method}:{uri}".encode())
        expected = self._hash(f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:"
                              f"auth:{ha2}".encode())
        if not hmac.compare_digest(expected, params["response"].lower()):
            return DigestResult(False, username, reason="wrong digest response (password)")
        age = self._nonce_age(params["nonce"])
        if age is None:
            return DigestResult(False, username, reason="a nonce this server did not issue")
        if age > self.lifetime or age < -5:
            return DigestResult(False, username, stale=True, reason="nonce expired")
        used = self._seen.setdefault(params["nonce"], set())
        if nc in used:
            return DigestResult(False, username, reason=f"nc {nc} already used (replay)")
        if len(used) >= NC_PER_NONCE:
            return DigestResult(False, username, stale=True, reason="nonce used up")
        used.add(nc)
        self._seen.move_to_end(params["nonce"])
        while len(self._seen) > REMEMBERED_NONCES:
            self._seen.popitem(last=False)
        return DigestResult(True, username)
