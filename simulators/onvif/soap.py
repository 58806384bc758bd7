"""SOAP 1.2 envelopes as an ONVIF device reads and writes them.

Requests are parsed with entity expansion, network access and DTDs off; an operation is named by
the qualified name of the Body's first element, so one HTTP path can serve several services.
Answers are built on an envelope that declares every prefix the ONVIF schemas use, which matters
for event topics: their text (``tns1:RuleEngine/...``) names a prefix that must be in scope.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from simulators.onvif.xmltree import etree

NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "xs": "http://www.w3.org/2001/XMLSchema",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "tt": "http://www.onvif.org/ver10/schema",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "ter": "http://www.onvif.org/ver10/error",
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
    "wstop": "http://docs.oasis-open.org/wsn/t-1",
    "wsrf-bf": "http://docs.oasis-open.org/wsrf/bf-2",
    "wsrf-r": "http://docs.oasis-open.org/wsrf/r-2",
    "tns1": "http://www.onvif.org/ver10/topics",
    "tnssim": "urn:campus-gateway:onvif-simulator:topics",
}
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
CONTENT_TYPE = "application/soap+xml; charset=utf-8"
MAX_REQUEST_BYTES = 256 * 1024

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          huge_tree=False, remove_blank_text=True)
_DURATION = re.compile(r"^(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?"
                       r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def q(name: str) -> str:
    """``"tt:Name"`` -> ``"{http://www.onvif.org/ver10/schema}Name"``."""
    prefix, _, local = name.partition(":")
    return f"{{{NS[prefix]}}}{local}"


class SoapFault(Exception):
    """A SOAP 1.2 Fault: ``code`` Sender or Receiver, ONVIF subcodes (``ter:InvalidArgVal``)."""

    def __init__(self, reason: str, *subcodes: str, code: str = "Sender",
                 status: int | None = None, detail: etree._Element | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.subcodes = subcodes
        self.status = status if status is not None else (400 if code == "Sender" else 500)
        self.detail = detail


def not_authorized(why: str) -> SoapFault:
    # Clients look for "not authorized" in the reason (HTTP 400, as many cameras answer).
    return SoapFault(f"Sender not authorized: {why}", "ter:NotAuthorized", status=400)


def invalid_arg(why: str, subcode: str = "ter:InvalidArgVal") -> SoapFault:
    return SoapFault(why, "ter:InvalidArgVal", *(() if subcode == "ter:InvalidArgVal"
                                                 else (subcode,)))


@dataclass
class SoapRequest:
    """One parsed request: the operation element and the headers an answer may need."""

    path: str
    envelope: etree._Element
    header: etree._Element | None
    operation: etree._Element
    action: str = ""
    message_id: str = ""
    to: str = ""
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> tuple[str, str]:
        qname = etree.QName(self.operation)
        return qname.namespace or "", qname.localname

    def child(self, *names: str) -> etree._Element | None:
        """The first descendant path of the operation, by local names (any namespace)."""
        node: etree._Element | None = self.operation
        for name in names:
            if node is None:
                return None
            node = next((c for c in node if isinstance(c.tag, str)
                         and etree.QName(c).localname == name), None)
        return node

    def text(self, *names: str, default: str | None = None) -> str | None:
        node = self.child(*names)
        if node is None or node.text is None:
            return default
        return node.text.strip()


def parse_request(path: str, body: bytes) -> SoapRequest:
    if len(body) > MAX_REQUEST_BYTES:
        raise SoapFault("request too large", "ter:InvalidArgVal")
    try:
        tree = etree.fromstring(body, _PARSER).getroottree()
    except etree.XMLSyntaxError as exc:
        raise SoapFault(f"not well-formed XML: {exc}", "ter:WellFormed") from None
    if tree.docinfo.doctype:
        raise SoapFault("a DOCTYPE is not allowed in SOAP", "ter:WellFormed")
    root = tree.getroot()
    if root.tag == f"{{{SOAP11_ENV}}}Envelope":
        raise SoapFault("ONVIF devices speak SOAP 1.2", code="VersionMismatch", status=400)
    if root.tag != q("env:Envelope"):
        raise SoapFault("the document is not a SOAP 1.2 envelope", "ter:WellFormed")
    header = root.find(q("env:Header"))
    body_el = root.find(q("env:Body"))
    operation = next((c for c in body_el if isinstance(c.tag, str)), None) \
        if body_el is not None else None
    if operation is None:
        raise SoapFault("the SOAP Body names no operation", "ter:WellFormed")
    request = SoapRequest(path=path, envelope=root, header=header, operation=operation)
    if header is not None:
        request.action = (header.findtext(q("wsa:Action")) or "").strip()
        request.message_id = (header.findtext(q("wsa:MessageID")) or "").strip()
        request.to = (header.findtext(q("wsa:To")) or "").strip()
    return request


class Answer:
    """A response envelope under construction; ``body`` is where the operation's answer goes."""

    def __init__(self, request: SoapRequest | None = None) -> None:
        self.envelope = etree.Element(q("env:Envelope"), nsmap=NS)
        self.header = etree.SubElement(self.envelope, q("env:Header"))
        self.body = etree.SubElement(self.envelope, q("env:Body"))
        self._request = request

    def add(self, parent: etree._Element, name: str, text: Any = None,
            **attributes: Any) -> etree._Element:
        return add(parent, name, text, **attributes)

    def respond_to(self, action: str) -> None:
        """WS-Addressing headers for operations whose request carried them (events)."""
        request = self._request
        if request is None or not request.action:
            return
        add(self.header, "wsa:Action", action)
        if request.message_id:
            add(self.header, "wsa:RelatesTo", request.message_id)

    def to_bytes(self) -> bytes:
        if len(self.header) == 0:
            self.envelope.remove(self.header)
        data: bytes = etree.tostring(self.envelope, xml_declaration=True, encoding="UTF-8")
        return data


def add(parent: etree._Element, name: str, text: Any = None, **attributes: Any) -> etree._Element:
    """A child ``prefix:Local`` with optional text; attribute names may be ``prefix__Local``."""
    element = etree.SubElement(parent, q(name) if ":" in name else name)
    for key, value in attributes.items():
        if value is None:
            continue
        attr = q(key.replace("__", ":")) if "__" in key else key
        element.set(attr, xml_value(value))
    if text is not None:
        element.text = xml_value(text)
    return element


def xml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return xml_datetime(value)
    if isinstance(value, timedelta):
        return xml_duration(value)
    return str(value)


def xml_datetime(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def xml_duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"PT{text}S"


def fault_bytes(fault: SoapFault) -> bytes:
    answer = Answer()
    element = add(answer.body, "env:Fault")
    code = add(element, "env:Code")
    add(code, "env:Value", f"env:{fault.code}")
    parent = code
    for subcode in fault.subcodes:
        parent = add(parent, "env:Subcode")
        add(parent, "env:Value", subcode)
    reason = add(element, "env:Reason")
    text = add(reason, "env:Text", fault.reason)
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    if fault.detail is not None:
        add(element, "env:Detail").append(fault.detail)
    return answer.to_bytes()


def parse_duration(text: str) -> timedelta:
    """An ``xs:duration`` (``PT5S``, ``PT1M30S``, ``P1D``); months count 30 days, years 365."""
    match = _DURATION.match(text.strip())
    if not match or text.strip() in ("P", "PT", "-P"):
        raise invalid_arg(f"not an xs:duration: {text!r}")
    sign, years, months, days, hours, minutes, seconds = match.groups()
    total = timedelta(days=int(years or 0) * 365 + int(months or 0) * 30 + int(days or 0),
                      hours=int(hours or 0), minutes=int(minutes or 0),
                      seconds=float(seconds or 0))
    return -total if sign else total


def parse_datetime(text: str) -> datetime:
    """An ``xs:dateTime``; one without a zone is taken as UTC (as cameras do)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise invalid_arg(f"not an xs:dateTime: {text!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def absolute_or_relative(text: str, now: datetime) -> datetime:
    """``wsnt:AbsoluteOrRelativeTimeType``: a duration from ``now`` or a point in time."""
    text = text.strip()
    if text.startswith(("P", "-P")):
        return now + parse_duration(text)
    return parse_datetime(text)
