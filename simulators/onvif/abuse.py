"""A camera that misbehaves on demand, so the gateway's defences can be tested on real sockets.

* ``pull_flood``: every PullMessages answer carries that many extra tamper notifications
  (``GlobalSceneChange``, State flipping, on 50 sources), whatever MessageLimit asked;
* ``pull_padding``: every PullMessages answer carries one notification whose Source value is
  that many bytes (streamed: the camera never holds it);
* ``snapshot_bytes``: the snapshot is a JPEG followed by padding up to that many bytes
  (streamed);
* ``declare_length``: whether those padded answers say their Content-Length (else chunked);
* ``pull_malformed``: every PullMessages answer is spoiled: ``xml``, cut off mid-document (not
  well-formed XML: what a camera's web server sends when it dies mid-answer); ``envelope``,
  well-formed XML that is no SOAP 1.2 Envelope (the response element alone, unwrapped);
* ``answer_delay``: seconds every SOAP answer waits before it is sent (a camera whose CPU is busy
  encoding: slow, not dead).

Read from the stanza's ``simulator:`` block at start; a test may change them on
``SimulatedCamera.abuse`` while the camera runs. The flood is rendered once per size and spliced
into each answer as bytes, so the simulator (which may also be serving Modbus modules in the
same process) spends no time building it again.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from aiohttp import web

from simulators.onvif.events import EventMessage
from simulators.onvif.soap import NS, q
from simulators.onvif.topics import SCENE_CHANGE
from simulators.onvif.xmltree import etree

MARKER = "@@campus-sim-padding@@"  # where the padding goes in the serialised answer
FLOOD_MARKER = "@@campus-sim-flood@@"  # a comment where the flood goes
CHUNK = 64 * 1024
FLOOD_SOURCES = 50


@dataclass
class Abuse:
    pull_flood: int = 0
    pull_padding: int = 0
    snapshot_bytes: int = 0
    declare_length: bool = True
    pull_malformed: Literal["", "xml", "envelope"] = ""
    answer_delay: float = 0.0
    flooded: int = 0  # notifications sent past MessageLimit so far
    _rendered: tuple[int, bytes] = (0, b"")

    def add_to_pull(self, out: etree._Element, now: datetime) -> None:
        """Where the extra notifications of one PullMessages answer go."""
        if self.pull_padding:
            EventMessage(SCENE_CHANGE, now, (("Source", MARKER),), (("State", "false"),),
                         "Changed").to_xml(out, None)
        if self.pull_flood:
            out.append(etree.Comment(FLOOD_MARKER))

    def flood(self, body: bytes, now: datetime, video_source: str,
              render: bool = False) -> bytes:
        """``body`` with the flood where its marker is (``render``: render it now anyway)."""
        marker = f"<!--{FLOOD_MARKER}-->".encode()
        if marker not in body and not render:
            return body
        count = self.pull_flood
        if self._rendered[0] != count:
            holder = etree.Element(q("tev:PullMessagesResponse"), nsmap=NS)
            for i in range(count):
                source = f"{video_source}-flood-{i % FLOOD_SOURCES}"
                state = "true" if (i // FLOOD_SOURCES) % 2 == 0 else "false"
                EventMessage(SCENE_CHANGE, now, (("Source", source),), (("State", state),),
                             "Changed").to_xml(holder, None)
            whole = etree.tostring(holder)  # namespaces declared once, on the holder
            inner = whole[whole.index(b">") + 1:whole.rindex(b"</")]
            self._rendered = (count, inner)
        if marker not in body:
            return body
        self.flooded += count
        return body.replace(marker, self._rendered[1])


def spoiled(body: bytes, how: str) -> bytes:
    """A serialised SOAP answer spoiled ``how`` (``pull_malformed``)."""
    if how == "xml":
        return body[: len(body) // 2]  # open elements never closed
    root = etree.fromstring(body)
    inner = root.find(q("env:Body"))
    if inner is None or not len(inner):
        return body
    return bytes(etree.tostring(inner[0], xml_declaration=True, encoding="utf-8"))


async def padded(request: web.Request, body: bytes, size: int, content_type: str,
                 declare_length: bool) -> web.StreamResponse:
    """``body`` with ``size`` bytes of padding where ``MARKER`` is (or at its end), streamed."""
    marker = MARKER.encode()
    head, found, tail = body.partition(marker)
    if not found:
        head, tail = body, b""
    response = web.StreamResponse(headers={"Content-Type": content_type})
    if declare_length:
        response.content_length = len(head) + size + len(tail)
    else:
        response.enable_chunked_encoding()
    await response.prepare(request)
    # the client hanging up once it has seen enough is the point of the exercise
    with contextlib.suppress(ConnectionError, RuntimeError):
        await response.write(head)
        filler = b"A" * CHUNK
        left = size
        while left > 0:
            await response.write(filler[:min(left, CHUNK)])
            left -= CHUNK
        await response.write(tail)
        await response.write_eof()
    return response
