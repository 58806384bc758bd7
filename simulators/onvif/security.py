"""WS-Security UsernameToken, the device's side (OASIS UsernameToken Profile 1.0).

``PasswordDigest = Base64(SHA-1(nonce + created + password))``, with ``created`` the text as
sent. The device refuses a wrong password, a ``Created`` more than ``window`` seconds from its
own clock (which may be off: the check is against that clock, as a camera's is) and a nonce it
has already seen inside the window. ``PasswordText`` is accepted too, as the profile allows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections import OrderedDict
from datetime import datetime

from simulators.onvif.clock import CameraClock
from simulators.onvif.soap import SoapFault, not_authorized, parse_datetime, q
from simulators.onvif.xmltree import etree

DIGEST = ("http://docs.oasis-open.org/wss/2004/01/"
          "oasis-200401-wss-username-token-profile-1.0#PasswordDigest")
TEXT = ("http://docs.oasis-open.org/wss/2004/01/"
        "oasis-200401-wss-username-token-profile-1.0#PasswordText")
REMEMBERED_NONCES = 20_000


def password_digest(nonce: bytes, created: str, password: str) -> str:
    raw = hashlib.sha1(nonce + created.encode() + password.encode()).digest()
    return base64.b64encode(raw).decode()


class UsernameTokenChecker:
    def __init__(self, clock: CameraClock, *, window: float = 300.0) -> None:
        self.clock = clock
        self.window = window
        self._nonces: OrderedDict[bytes, datetime] = OrderedDict()

    def forget_nonces(self) -> None:
        """A reboot forgets the nonces it had seen (as a camera's memory does)."""
        self._nonces.clear()

    def check(self, header: etree._Element | None, username: str, password: str) -> str:
        """The authenticated user name, or a ``ter:NotAuthorized`` fault saying why not."""
        token = None
        if header is not None:
            security = header.find(q("wsse:Security"))
            if security is not None:
                token = security.find(q("wsse:UsernameToken"))
        if token is None:
            raise not_authorized("no WS-Security UsernameToken in the request")
        user = (token.findtext(q("wsse:Username")) or "").strip()
        password_el = token.find(q("wsse:Password"))
        if password_el is None:
            raise not_authorized("UsernameToken without a Password")
        given = (password_el.text or "").strip()
        kind = password_el.get("Type", TEXT)
        if kind == TEXT:
            good = hmac.compare_digest(given.encode(), password.encode())
            if user != username or not good:
                raise not_authorized("wrong user name or password")
            return user
        if kind != DIGEST:
            raise not_authorized(f"unknown password type {kind}")
        nonce_text = (token.findtext(q("wsse:Nonce")) or "").strip()
        created = (token.findtext(q("wsu:Created")) or "").strip()
        if not nonce_text or not created:
            raise not_authorized("a PasswordDigest needs a Nonce and a Created")
        try:
            nonce = base64.b64decode(nonce_text, validate=True)
        except (binascii.Error, ValueError):
            raise not_authorized("the Nonce is not base64") from None
        expected = password_digest(nonce, created, password)
        if user != username or not hmac.compare_digest(given.encode(), expected.encode()):
            raise not_authorized("wrong user name or password")
        try:
            when = parse_datetime(created)
        except SoapFault:
            raise not_authorized(f"Created is not a dateTime: {created!r}") from None
        now = self.clock.now()
        skew = abs((now - when).total_seconds())
        if skew > self.window:
            raise not_authorized(f"Created {created} is {skew:.0f} s from the device clock "
                                 f"({now.isoformat(timespec='seconds')})")
        self._forget_old(now)
        if nonce in self._nonces:
            raise not_authorized("the Nonce was already used (replay)")
        self._nonces[nonce] = now
        while len(self._nonces) > REMEMBERED_NONCES:
            self._nonces.popitem(last=False)
        return user

    def _forget_old(self, now: datetime) -> None:
        while self._nonces:
            nonce, seen = next(iter(self._nonces.items()))
            if abs((now - seen).total_seconds()) <= 2 * self.window:
                break
            del self._nonces[nonce]
