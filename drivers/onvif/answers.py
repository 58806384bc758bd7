"""A camera's SOAP answers, bounded before they are used and parsed off the event loop.

onvif-zeep-async reads every answer whole (``ClientResponse.read()``) and zeep parses it on the
event loop. A camera that answers one PullMessages with megabytes, or with 60,000 notifications
when it was asked for 100, would hold every other device's polls for seconds and the memory for
good. So each service of a ``BoundedCamera`` gets:

* a transport that reads at most ``answer_limit`` bytes: a Content-Length over it is refused
  before the body is read, a body without one is counted as it streams and the read stops at
  the limit (the connection is closed, the rest never held);
* operations whose answer is parsed, by zeep as usual, on a worker thread;
* for PullMessages (``pull_messages``), at most MessageLimit notifications: the camera's excess
  is cut from the document, and counted, before zeep builds objects for it.

Refusals are ``BoundaryError``: 413 naming the operation's address, the size and the limit;
400 for an answer that is not well-formed XML or not a SOAP Envelope, saying which.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientConnectionError, ClientResponse
from lxml import etree  # type: ignore[import-untyped]  # lxml ships no stubs
from onvif import ONVIFCamera
from onvif.client import AsyncTransportProtocolErrorHandler, ONVIFService
from zeep.proxy import AsyncOperationProxy, AsyncServiceProxy
from zeep.utils import get_version

from gateway.kernel.boundary import BoundaryError, device_text

log = logging.getLogger(__name__)

WSNT_NS = "http://docs.oasis-open.org/wsn/b-2"
NOTIFICATION = f"{{{WSNT_NS}}}NotificationMessage"
ENVELOPES = frozenset({"{http://www.w3.org/2003/05/soap-envelope}Envelope",  # SOAP 1.2 (ONVIF)
                       "{http://schemas.xmlsoap.org/soap/envelope/}Envelope"})  # SOAP 1.1
CHUNK = 64 * 1024

# entities never expanded, no network, no huge-tree mode: the document is already size-capped
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                          remove_comments=True)


async def read_capped(response: ClientResponse, limit: int, what: str) -> bytes:
    """The body of ``response``, or a ``BoundaryError`` as soon as it is known to pass
    ``limit`` bytes (from its Content-Length, or counted while it streams)."""
    length = response.content_length
    if length is not None and length > limit:
        raise BoundaryError(f"{what} is {length} bytes (Content-Length); the limit is "
                            f"{limit}", 413)
    body = bytearray()
    async for chunk in response.content.iter_chunked(CHUNK):
        body += chunk
        if len(body) > limit:
            raise BoundaryError(f"{what} is over {limit} bytes; the rest was not read", 413)
    return bytes(body)


class BoundedTransport(AsyncTransportProtocolErrorHandler):
    """The library's transport (retry on a dead pooled socket kept), reading with a cap."""

    def __init__(self, service: ONVIFService, limit: int) -> None:
        old = service.transport
        super().__init__(session=old.session, verify_ssl=False, cache=old.cache)
        self.limit = limit

    async def _post_internal(self, address: str, message: str | bytes,
                             headers: dict[str, str]) -> tuple[ClientResponse, bytes]:
        headers = headers or {}
        headers.setdefault("User-Agent", f"Zeep/{get_version()}")
        headers.setdefault("Content-Type", 'text/xml; charset="utf-8"')
        data = message.encode("utf-8") if isinstance(message, str) else message
        try:
            response = await self.session.post(address, data=data, headers=headers,
                                               proxy=self.proxy, timeout=self._client_timeout)
        except RuntimeError as exc:
            if self.session.closed:  # the link was closed under us: a connection failure
                raise ClientConnectionError(f"posting to {address}: {exc}") from exc
            raise
        try:
            content = await read_capped(response, self.limit, f"the answer of {address}")
        except BaseException:
            response.close()  # the unread rest stays on the wire and goes with the socket
            raise
        return response, content


class OffLoopOperation(AsyncOperationProxy):
    """A zeep operation whose answer is parsed on a worker thread."""

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        answer, _ = await self.answer(args, kwargs)
        return answer

    async def answer(self, args: tuple[Any, ...], kwargs: dict[str, Any],
                     items: int | None = None) -> tuple[Any, int]:
        """The parsed answer and how many notifications past ``items`` were cut from it."""
        proxy = self._proxy
        kwargs["_soapheaders"] = self._merge_soap_headers(kwargs.get("_soapheaders"))
        binding, client, options = proxy._binding, proxy._client, proxy._binding_options
        # what zeep's send_async does, with process_reply moved off the loop
        envelope, headers = binding._create(self._op_name, args, kwargs, client=client,
                                            options=options)
        response = await client.transport.post_xml(options["address"], envelope, headers)
        return await asyncio.to_thread(_process, binding, client, self._op_name, response,
                                       items)


class OffLoopService(AsyncServiceProxy):
    def __init__(self, client: Any, binding: Any, **options: Any) -> None:
        super().__init__(client, binding, **options)
        self._operations = {name: OffLoopOperation(self, name) for name in binding.all()}


def _process(binding: Any, client: Any, name: str, response: Any,
             items: int | None) -> tuple[Any, int]:
    excess = 0
    if response.status_code == 200:  # a fault or an error page: zeep says what it is
        root = _envelope(response.content, name)
        if items is not None:
            excess = _cut_notifications(response, root, items)
    return binding.process_reply(client, binding.get(name), response), excess


def _envelope(content: bytes, name: str) -> Any:
    """The answer's SOAP Envelope, or a ``BoundaryError`` saying what it is instead (zeep
    recovers what it can of broken XML and fails later with a ``TypeError`` that says
    nothing)."""
    try:
        root = etree.fromstring(content, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise BoundaryError(f"the {name} answer is not well-formed XML ({exc}; it begins "
                            f"{device_text(repr(content[:48]), 80)})", 400) from None
    if root.tag not in ENVELOPES:
        raise BoundaryError(f"the {name} answer is no SOAP Envelope (its root is "
                            f"{device_text(root.tag, 120)})", 400)
    return root


def _cut_notifications(response: Any, root: Any, items: int) -> int:
    """Keep the first ``items`` NotificationMessages of the answer; how many were cut."""
    found = list(root.iter(NOTIFICATION))
    if len(found) <= items:
        return 0
    for element in found[items:]:
        parent = element.getparent()
        if parent is not None:
            parent.remove(element)
    response._content = etree.tostring(root)
    return len(found) - items


def bound(service: ONVIFService, limit: int) -> ONVIFService:
    """``service`` with the capped transport and off-loop operations (once)."""
    if isinstance(service.transport, BoundedTransport):
        return service
    transport = BoundedTransport(service, limit)
    service.transport = transport
    for name in ("zeep_client", "zeep_client_authless"):
        client = getattr(service, name)
        if client is not None:
            client.transport = transport
    for name in ("ws_client", "ws_client_authless"):
        proxy = getattr(service, name)
        if proxy is not None:
            setattr(service, name, OffLoopService(proxy._client, proxy._binding,
                                                  **proxy._binding_options))
    return service


class BoundedCamera(ONVIFCamera):
    """``ONVIFCamera`` whose every service (those it makes for itself too) is ``bound``."""

    def __init__(self, host: str, port: int, user: str, password: str,
                 answer_limit: int) -> None:
        super().__init__(host, port, user, password, adjust_time=True)
        self.answer_limit = answer_limit

    async def create_onvif_service(self, name: str, port_type: str | None = None,
                                   read_timeout: int | None = None,
                                   write_timeout: int | None = None) -> ONVIFService:
        service = await super().create_onvif_service(name, port_type, read_timeout,
                                                     write_timeout)
        return bound(service, self.answer_limit)


@dataclass(frozen=True)
class PullAnswer:
    messages: list[Any]
    current_time: dt.datetime | None
    termination: dt.datetime | None
    excess: int  # notifications past MessageLimit the camera sent anyway (not used)


async def pull_messages(service: ONVIFService, timeout: float, limit: int) -> PullAnswer:
    """One PullMessages long poll, with at most ``limit`` notifications used."""
    operation = service.ws_client["PullMessages"]
    if not isinstance(operation, OffLoopOperation):
        raise TypeError("pull_messages needs a bound service")
    answer, excess = await operation.answer(
        (), {"MessageLimit": limit, "Timeout": dt.timedelta(seconds=timeout)}, items=limit)
    current = getattr(answer, "CurrentTime", None)
    termination = getattr(answer, "TerminationTime", None)
    return PullAnswer(list(getattr(answer, "NotificationMessage", None) or []),
                      current if isinstance(current, dt.datetime) else None,
                      termination if isinstance(termination, dt.datetime) else None, excess)
