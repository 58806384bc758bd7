"""How cameras of other vendors bend ONVIF, spoken on demand (the stanza's ``simulator:`` block:
a named dialect from ``DIALECTS``, or these options one by one).

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

from simulators.dialects import Dialect

UNDECLARED_PRESET_PREFIXES = ("tptz", "tt")

_CORE = "ONVIF Core Specification 2.x"
DIALECTS = (
    Dialect("onvif", "strict", "ONVIF Profile S/T camera that follows the specifications",
            f"{_CORE}; Profile S and Profile T specifications; WS-BaseNotification 1.3"),
    Dialect("onvif", "sloppy-prefixes",
            "PTZ camera whose GetPresets answer uses tptz:/tt: prefixes it never declares",
            "Namespaces in XML 1.0 section 5 (a prefix must be declared); seen on a site's "
            "camera as `GetPresets: ValueError: Invalid tag name 'tptz:Preset'`",
            settings={"presets_undeclared": True},
            works="events, snapshots, stream", degraded=("ptz",)),
    Dialect("onvif", "basic-snapshot",
            "camera whose snapshot CGI challenges with HTTP Basic only",
            "RFC 7617; Bosch cameras with Basic enabled (github.com/jimm98y/SharpOnvif issue "
            "16); cameras that refuse mixed credentials (github.com/openvideolibs/"
            "python-onvif-zeep-async pull 88)",
            settings={"snapshot_auth": "basic"}, status={"snapshot_auth": "basic"}),
    Dialect("onvif", "clock-needs-auth",
            "camera that refuses GetSystemDateAndTime without credentials",
            f"{_CORE} puts it in access class PRE_AUTH; Vivotek, Panasonic and Digital "
            "Barriers cameras refuse it (github.com/agsh/onvif issue 301; github.com/lumeohq/"
            "onvif-rs pull 65)",
            settings={"clock_needs_auth": True}),
    Dialect("onvif", "no-events",
            "camera (or encoder) with no events service",
            f"{_CORE}, GetServices (a device lists the services it has); the events service "
            "is optional outside Profile S/T",
            settings={"events_service": False},
            works="snapshots, stream, PTZ; the gateway's own analytics if configured",
            degraded=("events",)),
)


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
