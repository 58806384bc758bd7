"""How cameras of other vendors bend ONVIF, spoken on demand (the stanza's ``simulator:`` block).

* ``presets_undeclared``: the GetPresets answer uses the ``tptz:`` and ``tt:`` prefixes without
  declaring them, against Namespaces in XML 1.0 section 5 (a prefix must be declared), as a
  site's PTZ camera did whose firmware writes its answers from string templates. libxml2 reads
  such a document with a namespace error, not a fatal one: a client gets elements named
  ``tptz:Preset`` in no namespace, and zeep fails on them (``Invalid tag name``).
"""

from __future__ import annotations

import re

UNDECLARED_PRESET_PREFIXES = ("tptz", "tt")


def undeclared(body: bytes, prefixes: tuple[str, ...]) -> bytes:
    """``body`` with the declarations of ``prefixes`` removed, their uses left in place."""
    for prefix in prefixes:
        body = re.sub(rb'\s+xmlns:' + prefix.encode() + rb'="[^"]*"', b"", body)
    return body
