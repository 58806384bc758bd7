"""How cameras of other vendors bend ONVIF, spoken on demand (the stanza's ``simulator:`` block).

* ``presets_undeclared``: the GetPresets answer uses the ``tptz:`` and ``tt:`` prefixes without
  declaring them, against Namespaces in XML 1.0 section 5 (a prefix must be declared), as a
  site's PTZ camera did (reported from the field as ``GetPresets: ValueError: Invalid tag name
  'tptz:Preset'``). A recovering XML parser names such elements ``tptz:Preset`` in no
  namespace, which zeep cannot use; a strict one refuses the document.
* ``snapshot_auth: basic``: the snapshot and MJPEG URIs challenge with HTTP Basic (RFC 7617)
  only, as the snapshot CGIs of many cameras do; a client that knows only Digest is refused.
* ``clock_needs_auth``: GetSystemDateAndTime without credentials is refused (``NotAuthorized``),
  although ONVIF Core puts it in access class PRE_AUTH (a device answers it to anyone),
  so that a client can learn the clock it signs WS-Security with. Cameras do it all the same;
  onvif-zeep-async retries that call with credentials when it connects for the same reason.
* ``events_service: false``: the camera has no events service (GetServices and GetCapabilities
  leave it out, its operations are ``ActionNotSupported``), as a site's camera had: a client
  must learn the services from GetServices, not assume them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re

UNDECLARED_PRESET_PREFIXES = ("tptz", "tt")


def undeclared(body: bytes, prefixes: tuple[str, ...]) -> bytes:
    """``body`` with the declarations of ``prefixes`` removed, their uses left in place."""
    for prefix in prefixes:
        body = re.sub(rb'\s+xmlns:' + prefix.encode() + rb'="[^"]*"', b"", body)
    return body


def basic_challenge(realm: str) -> str:
    return f'Basic realm="{realm}"'


def basic_verify(header: str | None, username: str, password: str) -> bool:
    """Whether ``header`` is HTTP Basic with ``username`` and ``password`` (RFC 7617)."""
    scheme, _, encoded = (header or "").strip().partition(" ")
    if scheme.lower() != "basic" or len(encoded) > 1024:
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(given, f"{username}:{password}".encode())
