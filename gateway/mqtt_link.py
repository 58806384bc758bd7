"""The northbound MQTT connection (paho-mqtt in its own network thread).

It reconnects by itself with jittered backoff (a fleet of gateways does not reconnect to a
restarted broker in step), moves to the next node when the site gives several (a broker
cluster, or a primary and a backup), sets the retained gateway status with a last will, announces
itself on every (re)connect, and hands command requests to the event loop. On MQTT 5 it uses
message expiry, content type, response topic and correlation data; on 3.1.1 the same information
travels in the JSON payload.
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from gateway.config import Mqtt
from gateway.topics import CONTRACT_VERSION, Topics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokerNode:
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> BrokerNode:
        parsed = urlparse(url)
        return cls(parsed.hostname or "127.0.0.1",
                   parsed.port or (8883 if parsed.scheme == "mqtts" else 1883))

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


RECONNECT_DELAY = (1.0, 2.0)
"""Seconds between attempts (paho doubles from the first to the second): alarms wait while the
link is down (fire alarms reach the centre in 10 s). Each gateway adds up to a second of its
own at random to both."""

WILL_SETTLE = 2.0

RESUBSCRIBE_AFTER = 2.0
"""Seconds before asking again for the command subscription a broker refused (a cluster node
refuses it while the leaders of its session store are being elected, a broker at its limit of
subscriptions refuses it): until it is granted, no command reaches the gateway."""
"""Seconds past 1.5 keepalives after a move: a node the gateway left without a DISCONNECT (a
partition, not a death) publishes its will then, and the status is published again over it."""


@dataclass(frozen=True)
class Request:
    """A command request as it came off the wire.

    ``response_topic`` is the MQTT 5 response topic, only if it is one the gateway may answer
    on (its own response topics, or a configured prefix); a request that asked for another
    has it in ``refused_response_topic``, and is refused and answered on our own topic.
    """

    name: str
    payload: bytes
    retained: bool
    response_topic: str | None = None
    correlation_data: bytes | None = None
    refused_response_topic: str | None = None


def use_site_credentials(client: mqtt.Client, config: Mqtt | None, scheme: str) -> None:
    """The site's broker username, password (from the environment or a file) and TLS files on
    ``client``; TLS also for an ``mqtts://`` URL. A secret that cannot be read is a ConfigError."""
    if config is not None and config.username:
        password = config.password.read() if config.password else None
        client.username_pw_set(config.username, password)
    tls = config.tls if config is not None else None
    if tls is not None or scheme == "mqtts":
        client.tls_set(
            ca_certs=str(tls.ca_file) if tls and tls.ca_file else None,
            certfile=str(tls.cert_file) if tls and tls.cert_file else None,
            keyfile=str(tls.key_file) if tls and tls.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
        if tls and tls.insecure:
            client.tls_insecure_set(True)


def status_document(online: bool, gateway: str, site: str, reason: str = "",
                    storage: str = "", extra: dict[str, Any] | None = None) -> bytes:
    doc: dict[str, Any] = {"online": online, "gateway": gateway, "site": site,
                           "contract": CONTRACT_VERSION, **(extra or {})}
    if reason:
        doc["reason"] = reason
    if storage:
        doc["storage"] = storage
    return json.dumps(doc).encode()


class MqttLink:
    def __init__(
        self,
        config: Mqtt,
        topics: Topics,
        *,
        on_request: Callable[[Request], None],
        on_connection: Callable[[bool], None],
        on_ack: Callable[[int, bool], None],
        announce: Callable[[], list[tuple[str, bytes]]],
        response_prefixes: tuple[str, ...] = (),
        status_extra: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.config = config
        self._status_extra = status_extra
        self.topics = topics
        self._on_request = on_request
        self._on_connection = on_connection
        self._on_ack = on_ack
        self._announce = announce
        self._announced: dict[str, bytes] = {}
        self._response_prefixes = response_prefixes
        self._storage = ""
        self._connected = threading.Event()
        self._stopping = False
        self._shared_props: dict[tuple[str, int | None], Properties] = {}
        url = urlparse(config.urls[0])
        self.nodes = [BrokerNode.of(one) for one in config.urls]
        self._node = 0
        self.moves = 0  # times the link went on to another node
        self._settle: threading.Timer | None = None
        self._resubscribe: threading.Timer | None = None
        self.commands_refused = False  # the broker refused the command subscription
        self.v5 = config.protocol == "5"
        client_id = config.client_id or f"campus-gateway-{topics.site}-{topics.gateway}"
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
            clean_session=None if self.v5 else True,
        )
        self.client.enable_logger(logging.getLogger("gateway.mqtt.paho"))
        self._jitter_reconnects()
        self.client.max_inflight_messages_set(config.in_flight or 20)
        use_site_credentials(self.client, config, url.scheme)
        self.client.will_set(
            topics.status,
            status_document(False, topics.gateway, topics.site, "connection lost"),
            qos=1,
            retain=True,
            properties=self._props("application/json", None) if self.v5 else None,
        )
        self.client.on_connect = self._handle_connect
        self.client.on_disconnect = self._handle_disconnect
        self.client.on_connect_fail = self._handle_connect_fail
        self.client.on_publish = self._handle_publish
        self.client.on_subscribe = self._handle_subscribe
        self.client.on_message = self._handle_message

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def node(self) -> BrokerNode:
        """The broker node the link is on (or trying)."""
        return self.nodes[self._node]

    @property
    def host(self) -> str:
        return self.node.host

    @property
    def port(self) -> int:
        return self.node.port

    def where(self) -> dict[str, Any]:
        """For the status and the metrics: the node, how many there are, how often it moved."""
        return {"node": str(self.node), "nodes": len(self.nodes), "moves": self.moves}

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=int(self.config.keepalive))
        self.client.loop_start()

    def _jitter_reconnects(self) -> None:
        first, most = RECONNECT_DELAY
        spread = random.random()
        self.client.reconnect_delay_set(min_delay=first + spread, max_delay=most + spread)  # type: ignore[arg-type]

    def _move(self, why: str) -> None:
        """In paho's thread, the connection closed: the next attempt goes to the next node."""
        self._jitter_reconnects()
        if len(self.nodes) < 2 or self._stopping:
            return
        left = self.node
        self._node = (self._node + 1) % len(self.nodes)
        # paho's next attempt (after its reconnect delay) goes where connect_async points it;
        # its host setter refuses a connection that was lost rather than closed
        self.client.connect_async(self.host, self.port, keepalive=int(self.config.keepalive))
        self.moves += 1
        log.warning("broker node %s %s: trying %s next", left, why, self.node)

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stop(self) -> None:
        self._stopping = True
        for timer in (self._settle, self._resubscribe):
            if timer is not None:
                timer.cancel()
        if self.connected:
            self._publish_status(False, reason="stopped").wait_for_publish(timeout=2)
        self.client.disconnect()
        self.client.loop_stop()

    def storage(self, reason: str) -> None:
        """Say in the retained status whether the gateway can store what it accepts."""
        self._storage = reason
        if self.connected:
            self._publish_status(True, storage=reason)

    def refresh_status(self) -> None:
        """Publish the retained status again: something it reports (``status_extra``) changed."""
        if self.connected:
            self._publish_status(True, storage=self._storage)

    def _publish_status(self, online: bool, reason: str = "",
                        storage: str = "") -> mqtt.MQTTMessageInfo:
        """The retained gateway status (QoS 1; content type JSON on MQTT 5)."""
        extra: dict[str, Any] | None = None
        if online:
            extra = {"broker": self.where()}
            try:
                extra.update(self._status_extra() if self._status_extra else {})
            except Exception:  # raised in paho's thread it would end it, and every reconnect
                log.exception("the status's extra fields could not be read; sent without them")
        return self.client.publish(
            self.topics.status,
            status_document(online, self.topics.gateway, self.topics.site, reason, storage,
                            extra),
            qos=1, retain=True,
            properties=self._props("application/json", None) if self.v5 else None)

    def _props(self, content_type: str, expiry: int | None) -> Properties:
        props = Properties(PacketTypes.PUBLISH)
        props.ContentType = content_type
        if expiry:
            props.MessageExpiryInterval = expiry
        return props

    def publish(
        self, topic: str, payload: bytes, *, qos: int, retain: bool, content_type: str,
        expiry: int | None,
    ) -> int | None:
        if not self.connected:
            return None
        props = None
        if self.v5:  # the same few property sets over and over: build each once
            props = self._shared_props.get((content_type, expiry))
            if props is None:
                props = self._shared_props[(content_type, expiry)] = self._props(content_type,
                                                                                 expiry)
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return None
        return int(info.mid)

    def reannounce(self) -> None:
        """Publish the retained announcements (the device inventory) that changed since they
        were last published: a driver learns what a device offers only once it is up."""
        props = self._props("application/json", None) if self.v5 else None
        for topic, payload in self._announce():
            if self._announced.get(topic) != payload:
                info = self.client.publish(topic, payload, qos=1, retain=True, properties=props)
                if info.rc == mqtt.MQTT_ERR_SUCCESS:
                    self._announced[topic] = payload

    def respond(self, request: Request, body: dict[str, Any]) -> None:
        """Answer a command (QoS 1, not retained, expires after 5 minutes on MQTT 5)."""
        topic = request.response_topic or self.topics.response(request.name)
        props = None
        if self.v5:
            props = self._props("application/json", 300)
            if request.correlation_data is not None:
                props.CorrelationData = request.correlation_data
        self.client.publish(topic, json.dumps(body).encode(), qos=1, properties=props)

    # -- paho callbacks (network thread) --------------------------------------------------

    def _handle_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any,
                        _p: Any = None) -> None:
        if reason.is_failure:
            log.error("broker %s:%d refused the connection: %s", self.host, self.port, reason)
            return
        log.info("connected to broker %s:%d (MQTT %s)", self.host, self.port,
                 self.config.protocol)
        self._subscribe_requests()
        self._publish_status(True, storage=self._storage)
        self._announced.clear()
        self.reannounce()
        self._connected.set()
        if self.moves:
            self._settle_status()
        self._on_connection(True)

    def _subscribe_requests(self) -> None:
        if self.v5:
            # retain-as-published: a retained request forwarded live still says it is retained
            self.client.subscribe(self.topics.requests,
                                  options=SubscribeOptions(qos=1, retainAsPublished=True))
        else:
            self.client.subscribe(self.topics.requests, qos=1)

    def _handle_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, reasons: list[Any],
                          _p: Any = None) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if not refused:
            if self.commands_refused:
                log.warning("broker %s:%d took the command subscription: commands reach the "
                            "gateway again", self.host, self.port)
            self.commands_refused = False
            return
        self.commands_refused = True
        log.error("broker %s:%d refused the subscription to %s (%s): no command reaches the "
                  "gateway until it is granted; asking again in %.0f s", self.host, self.port,
                  self.topics.requests, ", ".join(refused), RESUBSCRIBE_AFTER)
        if self._resubscribe is not None:
            self._resubscribe.cancel()
        self._resubscribe = threading.Timer(RESUBSCRIBE_AFTER, self._subscribe_again)
        self._resubscribe.daemon = True
        self._resubscribe.start()

    def _subscribe_again(self) -> None:
        # not connected: the next connection subscribes anyway
        if self.connected and not self._stopping:
            self._subscribe_requests()

    def _handle_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any,
                           _p: Any = None) -> None:
        was = self.connected
        self._connected.clear()
        if was and not self._stopping:
            log.warning("lost the broker %s:%d: %s", self.host, self.port, reason)
            self._on_connection(False)
        self._move("went away" if was else f"refused the connection ({reason})")

    def _handle_connect_fail(self, _c: mqtt.Client, _u: Any) -> None:
        self._move("is unreachable")

    def _settle_status(self) -> None:
        """After a move, publish the status again once the node left behind has had time to
        publish the will of our old connection over it."""
        if self._settle is not None:
            self._settle.cancel()
        self._settle = threading.Timer(1.5 * self.config.keepalive + WILL_SETTLE,
                                       self.refresh_status)
        self._settle.daemon = True
        self._settle.start()

    def _handle_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: Any,
                        _p: Any = None) -> None:
        self._on_ack(mid, not reason.is_failure)

    def _handle_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        name = self.topics.request_name(message.topic)
        if name is None:
            return
        props = getattr(message, "properties", None)
        response_topic = getattr(props, "ResponseTopic", None) if props else None
        refused = None
        if response_topic is not None and not self._may_answer_on(response_topic):
            log.warning("request %s asks for answers on %r, which is not one of our response "
                        "topics: refused", name, response_topic)
            refused, response_topic = response_topic, None
        self._on_request(
            Request(
                name=name,
                payload=bytes(message.payload),
                retained=bool(message.retain),
                response_topic=response_topic,
                correlation_data=getattr(props, "CorrelationData", None) if props else None,
                refused_response_topic=refused,
            )
        )

    def _may_answer_on(self, topic: str) -> bool:
        if "+" in topic or "#" in topic:
            return False
        return (self.topics.is_response(topic)
                or any(topic.startswith(prefix) for prefix in self._response_prefixes))
