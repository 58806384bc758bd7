"""The northbound MQTT connection (paho-mqtt in its own network thread).

It reconnects by itself with backoff, sets the retained gateway status with a last will, announces
itself on every (re)connect, and hands command requests to the event loop. On MQTT 5 it uses
message expiry, content type, response topic and correlation data; on 3.1.1 the same information
travels in the JSON payload.
"""

from __future__ import annotations

import json
import logging
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
        url = urlparse(config.url)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or (8883 if url.scheme == "mqtts" else 1883)
        self.v5 = config.protocol == "5"
        client_id = config.client_id or f"campus-gateway-{topics.site}-{topics.gateway}"
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
            clean_session=None if self.v5 else True,
        )
        self.client.enable_logger(logging.getLogger("gateway.mqtt.paho"))
        # Alarms wait while the link is down: retry often (fire alarms reach the centre in 10 s).
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.max_inflight_messages_set(20)
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
        self.client.on_publish = self._handle_publish
        self.client.on_message = self._handle_message

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=int(self.config.keepalive))
        self.client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stop(self) -> None:
        self._stopping = True
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
        extra = None
        if online and self._status_extra:
            try:
                extra = self._status_extra()
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
        if self.v5:
            # retain-as-published: a retained request forwarded live still says it is retained
            client.subscribe(self.topics.requests,
                             options=SubscribeOptions(qos=1, retainAsPublished=True))
        else:
            client.subscribe(self.topics.requests, qos=1)
        self._publish_status(True, storage=self._storage)
        self._announced.clear()
        self.reannounce()
        self._connected.set()
        self._on_connection(True)

    def _handle_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any,
                           _p: Any = None) -> None:
        was = self.connected
        self._connected.clear()
        if was and not self._stopping:
            log.warning("lost the broker %s:%d: %s", self.host, self.port, reason)
            self._on_connection(False)

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
