"""The central platform's subscriber on a broker cluster: one persistent session that follows
the cluster from node to node.

The session is kept by the cluster (clean session off on MQTT 3.1.1, which every clustered
broker speaks), so QoS 1 messages published while this subscriber is between nodes wait for it
in the session and arrive once it is back on any node with the same client id. Used by
`campus-gateway audit-stream`, the cluster test and the fleet bench.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

from gateway.config import ConfigError, Mqtt
from gateway.mqtt_link import BrokerNode, use_site_credentials

log = logging.getLogger(__name__)

# (topic, payload, retained, arrival time from time.time()) for each message
OnMessage = Callable[[str, bytes, bool, float], None]


class CentralSubscriber:
    """Subscribes ``filters`` at QoS 1 in a persistent session and moves to the next node of
    ``urls`` whenever its node goes away or refuses it."""

    def __init__(self, urls: str | Sequence[str], filters: Sequence[str], on_message: OnMessage,
                 *, client_id: str, site: Mqtt | None = None, keepalive: int = 10) -> None:
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        if not self.urls:
            raise ValueError("no broker URL to subscribe on")
        self.nodes = [BrokerNode.of(url) for url in self.urls]
        self.filters = list(filters)
        self.moves = 0
        self.connected_at: list[float] = []  # time.time() of each connection a node accepted
        self._node = 0
        self._keepalive = keepalive
        self._on_message = on_message
        self._subscribed = threading.Event()
        self._stopping = False
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv311, clean_session=False)
        try:
            use_site_credentials(self.client, site, urlparse(self.urls[0]).scheme)
        except ConfigError as exc:
            raise ConnectionError(f"the broker password: {exc}") from None
        self.client.reconnect_delay_set(min_delay=0.5 + random.random() / 2, max_delay=2)  # type: ignore[arg-type]
        self.client.on_connect = self._connected
        self.client.on_disconnect = self._disconnected
        self.client.on_connect_fail = lambda _c, _u: self._move("is unreachable")
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.on_message = self._message

    @property
    def node(self) -> BrokerNode:
        return self.nodes[self._node]

    def start(self, timeout: float = 30.0) -> CentralSubscriber:
        """Connect (to the first node that answers) and wait until the filters are subscribed,
        or raise ConnectionError naming the nodes."""
        self.client.connect_async(self.node.host, self.node.port, keepalive=self._keepalive)
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            self.stop()
            raise ConnectionError(f"no broker of {', '.join(self.urls)} took the subscription "
                                  f"within {timeout:.0f} s")
        return self

    def stop(self) -> None:
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()

    def _connected(self, client: mqtt.Client, _u: Any, _flags: Any, reason: Any,
                   _p: Any = None) -> None:
        if reason.is_failure:
            log.warning("broker node %s refused the subscriber: %s", self.node, reason)
            return  # paho disconnects and the disconnect moves on
        self.connected_at.append(time.time())
        client.subscribe([(topic_filter, 1) for topic_filter in self.filters])

    def _disconnected(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any,
                      _p: Any = None) -> None:
        self._move(f"went away ({reason})")

    def _move(self, why: str) -> None:
        """In paho's thread: the next attempt goes to the next node."""
        if self._stopping or len(self.nodes) < 2:
            return
        left = self.node
        self._node = (self._node + 1) % len(self.nodes)
        self.moves += 1
        # paho's next reconnect (after its delay) goes where connect_async points it
        self.client.connect_async(self.node.host, self.node.port, keepalive=self._keepalive)
        log.info("broker node %s %s: the subscriber tries %s next", left, why, self.node)

    def _message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        now = time.time()  # first: the arrival time
        try:
            self._on_message(message.topic, bytes(message.payload), bool(message.retain), now)
        except Exception:  # raised in paho's thread it would end the subscription
            log.exception("a message on %s could not be handled", message.topic)
