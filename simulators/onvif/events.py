"""The camera's event producer and its pull-point subscriptions (ONVIF Core, Event Handling).

Property topics keep their current state per source: a new subscription starts with one
``Initialized`` message per state, ``SetSynchronizationPoint`` queues them again, and a change
is sent as ``Changed``. ``PullMessages`` is a real long poll: it holds until a message arrives,
the request's Timeout passes or the subscription ends. Subscriptions end at their
TerminationTime, read on the camera's clock (so moving that clock forward ends them early, as
it does on a real camera), on Unsubscribe, and when the camera reboots.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import logging
import secrets
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from simulators.onvif.clock import CameraClock
from simulators.onvif.soap import NS, add
from simulators.onvif.topics import Topic
from simulators.onvif.xmltree import etree

log = logging.getLogger(__name__)

Operation = Literal["Initialized", "Changed", "Deleted"]
QUEUE_LIMIT = 1000  # a subscription nobody pulls keeps the newest messages only
CONCRETE_SET = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
MAX_SUBSCRIPTIONS = 32


@dataclass(frozen=True)
class EventMessage:
    topic: Topic
    utc_time: datetime
    source: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]
    operation: Operation | None = None

    def initialized(self, when: datetime) -> EventMessage:
        return EventMessage(self.topic, when, self.source, self.data, "Initialized")

    def to_xml(self, parent: etree._Element, subscription_address: str | None) -> None:
        holder = add(parent, "wsnt:NotificationMessage")
        if subscription_address:
            add(add(holder, "wsnt:SubscriptionReference"), "wsa:Address", subscription_address)
        add(holder, "wsnt:Topic", self.topic.path, Dialect=CONCRETE_SET)
        wrapper = add(holder, "wsnt:Message")
        message = add(wrapper, "tt:Message", UtcTime=self.utc_time,
                      PropertyOperation=self.operation)
        source = add(message, "tt:Source")
        for name, value in self.source:
            add(source, "tt:SimpleItem", Name=name, Value=value)
        data = add(message, "tt:Data")
        for name, value in self.data:
            add(data, "tt:SimpleItem", Name=name, Value=value)

    def view(self) -> dict[str, object]:
        return {"topic": self.topic.path, "time": self.utc_time.isoformat(),
                "operation": self.operation, "source": dict(self.source),
                "data": dict(self.data)}


# A raw message (``notify-raw``): bounded, parsed without entities, DTDs or network, and given
# the prefixes a PullMessages answer declares when it declares none of its own (the capture
# files keep them out: they are message fragments as they appear inside such an answer).
RAW_LIMIT = 64 * 1024
RAW_PREFIXES = {"wsnt": "http://docs.oasis-open.org/wsn/b-2", "tt": NS["tt"],
                "tns1": NS["tns1"], "tnsaxis": "http://www.axis.com/2009/event/topics",
                "wsa5": "http://www.w3.org/2005/08/addressing"}
_RAW_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                              huge_tree=False, remove_comments=True)


class RawMessageError(ValueError):
    """A raw notification that cannot be sent; the message says why."""


@dataclass(frozen=True)
class RawMessage:
    """A ``wsnt:NotificationMessage`` exactly as a camera wrote it (a capture), sent to every
    live subscription whatever its topic filter, and never a property state to resend."""

    element: etree._Element

    @classmethod
    def parse(cls, text: str) -> RawMessage:
        raw = text.strip().encode()
        if len(raw) > RAW_LIMIT:
            raise RawMessageError(f"{len(raw)} bytes, at most {RAW_LIMIT}")
        if raw.startswith(b"<?xml"):  # a declaration cannot stand inside the wrapper
            raw = raw.partition(b"?>")[2].lstrip()
        declared = " ".join(f'xmlns:{p}="{u}"' for p, u in RAW_PREFIXES.items())
        try:
            wrapper = etree.fromstring(f"<raw {declared}>".encode() + raw + b"</raw>",
                                       _RAW_PARSER)
        except etree.XMLSyntaxError as exc:
            raise RawMessageError(f"not well-formed XML: {exc}") from None
        children = [c for c in wrapper if isinstance(c.tag, str)]
        if len(children) != 1 or etree.QName(children[0]).localname != "NotificationMessage":
            raise RawMessageError("not one wsnt:NotificationMessage element")
        element = children[0]
        # declared on the message itself, every prefix in scope: the topic's text names one,
        # and no serialiser keeps a declaration that only text uses
        message = etree.Element(element.tag, attrib=dict(element.attrib), nsmap=element.nsmap)
        message.text = element.text
        message.extend(list(element))
        return cls(message)

    def to_xml(self, parent: etree._Element, subscription_address: str | None) -> None:
        parent.append(copy.deepcopy(self.element))

    def view(self) -> dict[str, object]:
        topic = next((c.text for c in self.element.iter()
                      if isinstance(c.tag, str) and etree.QName(c).localname == "Topic"), "")
        return {"topic": (topic or "").strip(), "raw": True}


class TopicFilter:
    """A ConcreteSet topic expression: ``|``-separated topics, ``//.`` for a whole subtree."""

    def __init__(self, expressions: Sequence[tuple[str, str]] = ()) -> None:
        self._terms = list(expressions)  # (namespace, path) ; path ends with "//." for a subtree

    @classmethod
    def parse(cls, element: etree._Element | None) -> TopicFilter:
        if element is None:
            return cls()
        terms: list[tuple[str, str]] = []
        for expression in element.iter():
            if not isinstance(expression.tag, str) \
                    or etree.QName(expression).localname != "TopicExpression":
                continue
            nsmap = {k or "": v for k, v in expression.nsmap.items()}
            for raw in (expression.text or "").split("|"):
                raw = raw.strip()
                if not raw:
                    continue
                prefix, _, path = raw.rpartition(":") if ":" in raw else ("", "", raw)
                namespace = nsmap.get(prefix, NS.get(prefix, prefix))
                terms.append((namespace, path))
        return cls(terms)

    def matches(self, topic: Topic) -> bool:
        if not self._terms:
            return True
        namespace = NS[topic.prefix]
        path = "/".join(topic.parts)
        for term_ns, term in self._terms:
            if term_ns != namespace:
                continue
            if term.endswith("//."):
                root = term[:-3]
                if path == root or path.startswith(root + "/"):
                    return True
            elif term == path or term == path + "/":
                return True
        return False


@dataclass
class PullPointSubscription:
    token: str
    address: str
    created: datetime
    termination: datetime
    filter: TopicFilter
    queue: deque[EventMessage | RawMessage] = field(
        default_factory=lambda: deque(maxlen=QUEUE_LIMIT))
    delivered: int = 0
    pulls: int = 0
    closed: bool = False
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, message: EventMessage | RawMessage) -> None:
        if self.closed or (isinstance(message, EventMessage)
                           and not self.filter.matches(message.topic)):
            return
        self.queue.append(message)
        self._arrived.set()

    def close(self) -> None:
        self.closed = True
        self._arrived.set()

    async def pull(self, clock: CameraClock, timeout: timedelta,
                   limit: int) -> list[EventMessage | RawMessage]:
        """Up to ``limit`` messages, waiting up to ``timeout`` (and no longer than the
        subscription lives) for the first one."""
        self.pulls += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout.total_seconds())
        while not self.queue and not self.closed:
            left = min(deadline - loop.time(),
                       (self.termination - clock.now()).total_seconds())
            if left <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                break
        messages = [self.queue.popleft() for _ in range(min(limit, len(self.queue)))]
        self.delivered += len(messages)
        return messages

    def view(self, now: datetime) -> dict[str, object]:
        return {"address": self.address, "created": self.created.isoformat(),
                "termination": self.termination.isoformat(),
                "expires_in": round((self.termination - now).total_seconds(), 1),
                "queued": len(self.queue), "delivered": self.delivered, "pulls": self.pulls}


class EventProducer:
    """What the camera's analytics and inputs say, fanned out to every live subscription."""

    def __init__(self, clock: CameraClock, subscription_base: str) -> None:
        self.clock = clock
        self.subscription_base = subscription_base
        self._states: dict[tuple[str, tuple[tuple[str, str], ...]], EventMessage] = {}
        self.subscriptions: dict[str, PullPointSubscription] = {}
        self.recent: deque[EventMessage | RawMessage] = deque(maxlen=50)
        self._ids = itertools.count(1)

    # --- producing ---------------------------------------------------------------------------

    def emit(self, topic: Topic, source: Iterable[tuple[str, str]],
             data: Iterable[tuple[str, str]], *, force: bool = False) -> EventMessage | None:
        """Send a message; for a property, only when its data changes (or ``force``)."""
        source_items = tuple(source)
        data_items = tuple(data)
        now = self.clock.now()
        operation: Operation | None = None
        if topic.is_property:
            key = (topic.path, source_items)
            previous = self._states.get(key)
            if previous is not None and previous.data == data_items and not force:
                return None
            operation = "Changed"
        message = EventMessage(topic, now, source_items, data_items, operation)
        if topic.is_property:
            self._states[(topic.path, source_items)] = message
        self.recent.append(message)
        for subscription in self.live():
            subscription.offer(message)
        return message

    def emit_raw(self, message: RawMessage) -> None:
        """Send a captured message as it is, to every live subscription."""
        self.recent.append(message)
        for subscription in self.live():
            subscription.offer(message)

    def state(self, topic: Topic, source: Iterable[tuple[str, str]]) -> EventMessage | None:
        return self._states.get((topic.path, tuple(source)))

    def seed(self, topic: Topic, source: Iterable[tuple[str, str]],
             data: Iterable[tuple[str, str]]) -> None:
        """A property's state at boot, without sending anything."""
        items = tuple(source)
        self._states[(topic.path, items)] = EventMessage(topic, self.clock.now(), items,
                                                         tuple(data), "Initialized")

    def reset_states(self) -> None:
        self._states.clear()

    # --- subscriptions -----------------------------------------------------------------------

    def subscribe(self, termination: datetime, topic_filter: TopicFilter) -> PullPointSubscription:
        self.expire()
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            oldest = min(self.subscriptions.values(), key=lambda s: s.created)
            log.info("pull point limit reached: dropping %s", oldest.token)
            self.drop(oldest.token)
        token = f"{next(self._ids)}-{secrets.token_hex(6)}"
        subscription = PullPointSubscription(token, f"{self.subscription_base}/{token}",
                                             self.clock.now(), termination, topic_filter)
        self.subscriptions[token] = subscription
        self.synchronize(subscription)
        return subscription

    def synchronize(self, subscription: PullPointSubscription) -> None:
        now = self.clock.now()
        for message in self._states.values():
            subscription.offer(message.initialized(now))

    def find(self, token: str) -> PullPointSubscription | None:
        self.expire()
        return self.subscriptions.get(token)

    def drop(self, token: str) -> None:
        subscription = self.subscriptions.pop(token, None)
        if subscription is not None:
            subscription.close()

    def drop_all(self) -> None:
        for token in list(self.subscriptions):
            self.drop(token)

    def live(self) -> list[PullPointSubscription]:
        self.expire()
        return list(self.subscriptions.values())

    def expire(self) -> None:
        now = self.clock.now()
        for token, subscription in list(self.subscriptions.items()):
            if subscription.termination <= now:
                log.debug("pull point %s expired", token)
                self.drop(token)

    def view(self) -> dict[str, object]:
        now = self.clock.now()
        return {
            "subscriptions": [s.view(now) for s in self.live()],
            "states": [m.view() for m in self._states.values()],
            "recent": [m.view() for m in list(self.recent)[-10:]],
        }
