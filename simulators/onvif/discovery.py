"""A WS-Discovery (2005/04, as ONVIF uses it) target service for one camera.

It joins 239.255.255.250:3702 on the camera's own address only (never every interface), answers
Probe and Resolve with the camera's types (``dn:NetworkVideoTransmitter tds:Device``), scopes
and XAddrs, unicast to the asker, and announces itself with Hello on start and Bye on stop.
Off unless the site file or an action turns it on.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import cast
from urllib.parse import urlsplit

from simulators.onvif.xmltree import etree

log = logging.getLogger(__name__)

GROUP = "239.255.255.250"
PORT = 3702
NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsd": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
    "dn": "http://www.onvif.org/ver10/network/wsdl",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
}
ACTION = "http://schemas.xmlsoap.org/ws/2005/04/discovery/"
TO_ALL = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
TYPES = ((NS["dn"], "NetworkVideoTransmitter"), (NS["tds"], "Device"))
RFC3986 = "http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc3986"
STRCMP0 = "http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _q(name: str) -> str:
    prefix, _, local = name.partition(":")
    return f"{{{NS[prefix]}}}{local}"


def scope_matches(wanted: str, have: str, rule: str) -> bool:
    if rule == STRCMP0:
        return wanted == have
    a, b = urlsplit(wanted), urlsplit(have)
    if (a.scheme.lower(), a.netloc.lower()) != (b.scheme.lower(), b.netloc.lower()):
        return False
    want_parts = [p for p in a.path.split("/") if p]
    have_parts = [p for p in b.path.split("/") if p]
    return have_parts[:len(want_parts)] == want_parts


class DiscoveryResponder(asyncio.DatagramProtocol):
    def __init__(self, *, address: str, xaddrs: Callable[[], Sequence[str]],
                 scopes: Callable[[], Sequence[str]], endpoint: uuid.UUID) -> None:
        self.address = address
        self._xaddrs = xaddrs
        self._scopes = scopes
        self.endpoint = f"urn:uuid:{endpoint}"
        self.instance = 1
        self._message_number = 0
        self._transport: asyncio.DatagramTransport | None = None
        self.probes = 0
        self.matches = 0
        self._seen: deque[str] = deque(maxlen=256)

    @property
    def running(self) -> bool:
        return self._transport is not None

    async def start(self, instance: int) -> None:
        self.instance = instance
        self._message_number = 0
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        interface = self._interface()
        try:
            sock.bind(("", PORT))
            membership = struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton(interface))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, sock=sock)
        self._send(self._announcement("Hello"), (GROUP, PORT))

    async def stop(self) -> None:
        if self._transport is None:
            return
        self._send(self._announcement("Bye"), (GROUP, PORT))
        self._transport.close()
        self._transport = None

    def _interface(self) -> str:
        try:
            address = ipaddress.ip_address(self.address)
        except ValueError:
            raise OSError(f"give the camera an IP address, not {self.address!r}") from None
        if address.version != 4:
            raise OSError("WS-Discovery here is IPv4 only")
        return "0.0.0.0" if address.is_unspecified else str(address)

    # --- asyncio -------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        try:
            root = etree.fromstring(data, _PARSER)
        except etree.XMLSyntaxError:
            return
        action = (root.findtext(f"{_q('env:Header')}/{_q('wsa:Action')}") or "").strip()
        message_id = (root.findtext(f"{_q('env:Header')}/{_q('wsa:MessageID')}") or "").strip()
        body = root.find(_q("env:Body"))
        if body is None:
            return
        if message_id in self._seen:  # senders repeat each UDP message (SOAP-over-UDP)
            return
        self._seen.append(message_id)
        host, port = str(addr[0]), int(addr[1])
        if action == ACTION + "Probe":
            probe = body.find(_q("wsd:Probe"))
            if probe is not None:
                self.probes += 1
                if self._probe_matches(probe):
                    self.matches += 1
                    self._send(self._match("ProbeMatches", "ProbeMatch", message_id),
                               (host, port))
        elif action == ACTION + "Resolve":
            wanted = body.findtext(f"{_q('wsd:Resolve')}/{_q('wsa:EndpointReference')}/"
                                   f"{_q('wsa:Address')}")
            if (wanted or "").strip() == self.endpoint:
                self._send(self._match("ResolveMatches", "ResolveMatch", message_id),
                           (host, port))

    def error_received(self, exc: Exception) -> None:
        log.debug("WS-Discovery socket: %s", exc)

    # --- messages ------------------------------------------------------------------------------

    def _probe_matches(self, probe: etree._Element) -> bool:
        types_el = probe.find(_q("wsd:Types"))
        if types_el is not None and (types_el.text or "").strip():
            for word in (types_el.text or "").split():
                prefix, _, local = word.rpartition(":")
                namespace = types_el.nsmap.get(prefix or None)
                if not any(local == name and namespace in (ns, None) for ns, name in TYPES):
                    return False
        scopes_el = probe.find(_q("wsd:Scopes"))
        if scopes_el is not None and (scopes_el.text or "").strip():
            rule = scopes_el.get("MatchBy", RFC3986)
            if rule not in (RFC3986, STRCMP0):
                return False
            have = list(self._scopes())
            for wanted in (scopes_el.text or "").split():
                if not any(scope_matches(wanted, scope, rule) for scope in have):
                    return False
        return True

    def _envelope(self, action: str, relates_to: str | None,
                  to: str) -> tuple[etree._Element, etree._Element]:
        envelope = etree.Element(_q("env:Envelope"), nsmap=NS)
        header = etree.SubElement(envelope, _q("env:Header"))
        etree.SubElement(header, _q("wsa:MessageID")).text = uuid.uuid4().urn
        if relates_to:
            etree.SubElement(header, _q("wsa:RelatesTo")).text = relates_to
        etree.SubElement(header, _q("wsa:To")).text = to
        etree.SubElement(header, _q("wsa:Action")).text = ACTION + action
        self._message_number += 1
        sequence = etree.SubElement(header, _q("wsd:AppSequence"))
        sequence.set("InstanceId", str(self.instance))
        sequence.set("MessageNumber", str(self._message_number))
        return envelope, etree.SubElement(envelope, _q("env:Body"))

    def _describe(self, parent: etree._Element, full: bool = True) -> None:
        reference = etree.SubElement(parent, _q("wsa:EndpointReference"))
        etree.SubElement(reference, _q("wsa:Address")).text = self.endpoint
        if full:
            etree.SubElement(parent, _q("wsd:Types")).text = \
                "dn:NetworkVideoTransmitter tds:Device"
            etree.SubElement(parent, _q("wsd:Scopes")).text = " ".join(self._scopes())
            etree.SubElement(parent, _q("wsd:XAddrs")).text = " ".join(self._xaddrs())
        etree.SubElement(parent, _q("wsd:MetadataVersion")).text = "1"

    def _match(self, outer: str, inner: str, relates_to: str) -> bytes:
        envelope, body = self._envelope(outer, relates_to, ANONYMOUS)
        self._describe(etree.SubElement(etree.SubElement(body, _q(f"wsd:{outer}")),
                                        _q(f"wsd:{inner}")))
        return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))

    def _announcement(self, kind: str) -> bytes:
        envelope, body = self._envelope(kind, None, TO_ALL)
        self._describe(etree.SubElement(body, _q(f"wsd:{kind}")), full=kind == "Hello")
        return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))

    def _send(self, data: bytes, target: tuple[str, int]) -> None:
        if self._transport is not None:
            self._transport.sendto(data, target)
