"""The central platform's side of the contract, as a small client: used by `campus-gateway tail`
and the `alarm` / `drill` commands, and a reference for integrators writing their own."""

from __future__ import annotations

import json
import queue
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

from gateway.config import ConfigError, Mqtt
from gateway.mqtt_link import use_site_credentials
from gateway.topics import Topics
from gateway.topics import parse as parse_topic


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retained: bool

    def json(self) -> Any:
        return json.loads(self.payload) if self.payload else None


def connect(url: str | Sequence[str], *, site: Mqtt | None = None,
            timeout: float = 10.0) -> mqtt.Client:
    """A connected paho client with its network thread running, or ConnectionError.

    ``url``: a broker, or the nodes of a cluster, tried in order until one accepts.
    ``site``: the site file's MQTT section, whose username, password (from the environment or
    a file, as for the daemon) and TLS files are used, so the CLI reaches the broker the
    gateway uses.
    """
    urls = [url] if isinstance(url, str) else list(url)
    failures = []
    for one in urls:
        try:
            return _connect_one(one, site, timeout)
        except ConnectionError as exc:
            failures.append(str(exc))
    raise ConnectionError("; ".join(failures))


def _connect_one(url: str, site: Mqtt | None, timeout: float) -> mqtt.Client:
    parsed = urlparse(url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=f"campus-cli-{uuid.uuid4().hex[:10]}",
                         protocol=mqtt.MQTTv311)
    try:
        use_site_credentials(client, site, parsed.scheme)
    except ConfigError as exc:
        raise ConnectionError(f"the broker password: {exc}") from None
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, p=None: connected.set() if not rc.is_failure else None
    try:
        client.connect(parsed.hostname or "127.0.0.1",
                       parsed.port or (8883 if parsed.scheme == "mqtts" else 1883))
    except OSError as exc:
        raise ConnectionError(f"cannot reach the broker at {url}: {exc}") from exc
    client.loop_start()
    if not connected.wait(timeout):
        client.loop_stop()
        raise ConnectionError(f"the broker at {url} did not accept the connection")
    return client


def subscribe(client: mqtt.Client, topic_filter: str) -> Iterator[Received]:
    """Yield every message on ``topic_filter`` until the client disconnects."""
    inbox: queue.SimpleQueue[Received | None] = queue.SimpleQueue()
    client.on_message = lambda c, u, m: inbox.put(Received(m.topic, bytes(m.payload),
                                                           bool(m.retain)))
    client.on_disconnect = lambda c, u, f, rc, p=None: inbox.put(None)
    client.subscribe(topic_filter, qos=1)
    while (item := inbox.get()) is not None:
        yield item


def request_body(operator: str, token: str, args: dict[str, Any], *,
                 correlation_id: str | None = None, valid_for: float = 60.0) -> dict[str, Any]:
    """A request as the contract wants it: an id of its own and a validity window from now."""
    issued = datetime.now(UTC)
    return {"id": uuid.uuid4().hex, "issued_at": issued.isoformat(),
            "expires_at": (issued + timedelta(seconds=valid_for)).isoformat(),
            "correlation_id": correlation_id or uuid.uuid4().hex,
            "operator": operator, "token": token, "args": args}


def request(client: mqtt.Client, topics: Topics, name: str, *, operator: str, token: str,
            args: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Send one command and wait for its response (matched by correlation id)."""
    body = request_body(operator, token, args, valid_for=max(60.0, timeout))
    correlation = body["correlation_id"]
    answer: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()

    def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(message.payload)
        except ValueError:
            return
        if isinstance(body, dict) and body.get("correlation_id") == correlation:
            answer.put(body)

    client.on_message = on_message
    subscribed = threading.Event()
    client.on_subscribe = lambda *a: subscribed.set()
    client.subscribe(topics.response(name), qos=1)
    subscribed.wait(timeout)
    client.publish(topics.request(name), json.dumps(body), qos=1)
    try:
        return answer.get(timeout=timeout)
    except queue.Empty:
        raise TimeoutError(f"no answer to {name} within {timeout:.0f} s: is gateway "
                           f"{topics.gateway} of site {topics.site} running?") from None


def describe(prefix: str, message: Received) -> str | None:
    """One human-readable line for a message of the contract (None for ones not worth showing)."""
    topic = parse_topic(prefix, message.topic)
    if topic is None:
        return None
    if topic.kind == "media":  # a snapshot's JPEG (media.publish_bytes), not JSON
        return f"MEDIA   {topic.site} {topic.device} {topic.name} {len(message.payload)} bytes"
    body = message.json() if message.payload else None
    if topic.kind == "event" and isinstance(body, dict):
        data = body.get("data", {})
        what = body.get("type", "?").removeprefix("campus.")
        detail = ""
        if "alarm" in data:
            a = data["alarm"]
            detail = f"{a['alarm_id']} {a['condition']} {a['state']}"
            if data.get("by"):
                detail += f" by {data['by']}"
            if data.get("report"):
                detail += f" report={data['report']}"
        elif "point" in data:
            detail = f"{data['point']} zone={data['zone']} {data.get('location', '')!r}"
        elif "online" in data:
            detail = data.get("reason", "")
        elif "output" in data:
            detail = (f"{data['output']} -> {'on' if data['requested'] else 'off'}"
                      f" read back {data['confirmed']} {data.get('error', '')}")
        else:
            detail = json.dumps(data, ensure_ascii=False)[:160]
        drill = " [DRILL]" if body.get("drill") else ""
        return (f"{body.get('time', '')[11:23]} {topic.site} #{body.get('seqno', '?')} "
                f"{body.get('severity', '').upper():8} {what:22} {body.get('device', '')} "
                f"{detail}{drill}")
    if topic.kind == "alarm":
        if body is None:
            return f"ALARM   {topic.site} {topic.name} cleared"
        return (f"ALARM   {topic.site} {topic.name} {body['state']} {body['severity']} "
                f"{body['device_id']}/{body['point']} {body['zone']} {body['location']!r}")
    if topic.kind == "availability" and isinstance(body, dict):
        return (f"DEVICE  {topic.site} {topic.device} {'online' if body['online'] else 'OFFLINE'}"
                f" {body.get('reason', '')}")
    if topic.kind == "status" and isinstance(body, dict):
        return (f"GATEWAY {topic.site} {topic.gateway} "
                f"{'online' if body['online'] else 'OFFLINE'} {body.get('reason', '')}")
    if topic.kind == "stats" and isinstance(body, dict):
        ob = body.get("outbox", {})
        return (f"STATS   {topic.site} {topic.gateway} backlog={ob.get('backlog')} "
                f"alarms_open={body.get('alarms_open')} devices={body.get('devices')}")
    return None
