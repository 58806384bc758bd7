"""Every MQTT topic the gateway publishes or subscribes to is built or parsed here, and only here.

Layout (P = prefix, S = site id, G = gateway id, D = device id)::

    P/S/gateway/G/status              retained JSON; the last will sets it offline
    P/S/gateway/G/devices             retained device inventory
    P/S/gateway/G/stats               every stats interval
    P/S/gateway/G/request/<name>      commands in (central platform, console, CLI)
    P/S/gateway/G/response/<name>     command results, with the request's correlation id
    P/S/device/D/availability         retained JSON
    P/S/event/<category>/D            CloudEvents, QoS 1
    P/S/alarm/<alarm id>              retained current alarm state; cleared when the alarm closes
"""

from __future__ import annotations

from dataclasses import dataclass

CONTRACT_VERSION = "2.3"


@dataclass(frozen=True)
class Topics:
    prefix: str
    site: str
    gateway: str

    @property
    def _gw(self) -> str:
        return f"{self.prefix}/{self.site}/gateway/{self.gateway}"

    @property
    def status(self) -> str:
        return f"{self._gw}/status"

    @property
    def devices(self) -> str:
        return f"{self._gw}/devices"

    @property
    def stats(self) -> str:
        return f"{self._gw}/stats"

    @property
    def requests(self) -> str:
        """Subscription filter for every command addressed to this gateway."""
        return f"{self._gw}/request/+"

    def request(self, name: str) -> str:
        return f"{self._gw}/request/{name}"

    def response(self, name: str) -> str:
        return f"{self._gw}/response/{name}"

    def is_response(self, topic: str) -> bool:
        """Whether ``topic`` is one of this gateway's response topics."""
        head = f"{self._gw}/response/"
        return topic.startswith(head) and len(topic) > len(head) and "/" not in topic[len(head):]

    def request_name(self, topic: str) -> str | None:
        """The command name of a request topic, or None if the topic is not one of ours."""
        head = f"{self._gw}/request/"
        if topic.startswith(head) and "/" not in topic[len(head) :] and len(topic) > len(head):
            return topic[len(head) :]
        return None

    def availability(self, device_id: str) -> str:
        return f"{self.prefix}/{self.site}/device/{device_id}/availability"

    def event(self, category: str, device_id: str) -> str:
        return f"{self.prefix}/{self.site}/event/{category}/{device_id}"

    def media(self, camera: str, media_id: str) -> str:
        """A snapshot's JPEG, where the site turns ``media.publish_bytes`` on (QoS 0)."""
        return f"{self.prefix}/{self.site}/media/{camera}/{media_id}"

    def alarm(self, alarm_id: str) -> str:
        return f"{self.prefix}/{self.site}/alarm/{alarm_id}"


def site_filter(prefix: str, site: str | None) -> str:
    """What a central-platform subscriber uses: one site, or every site under the prefix."""
    return f"{prefix}/{site or '+'}/#"


@dataclass(frozen=True)
class ParsedTopic:
    """A topic read back by a subscriber (the tail command, tests)."""

    site: str
    kind: str  # status, devices, stats, request, response, availability, event, alarm
    device: str | None = None
    gateway: str | None = None
    name: str | None = None  # command name, event category or alarm id


def parse(prefix: str, topic: str) -> ParsedTopic | None:
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != prefix:
        return None
    site, kind = parts[1], parts[2]
    rest = parts[3:]
    if kind == "gateway" and len(rest) == 2 and rest[1] in {"status", "devices", "stats"}:
        return ParsedTopic(site, rest[1], gateway=rest[0])
    if kind == "gateway" and len(rest) == 3 and rest[1] in {"request", "response"}:
        return ParsedTopic(site, rest[1], gateway=rest[0], name=rest[2])
    if kind == "device" and len(rest) == 2 and rest[1] == "availability":
        return ParsedTopic(site, "availability", device=rest[0])
    if kind == "event" and len(rest) == 2:
        return ParsedTopic(site, "event", device=rest[1], name=rest[0])
    if kind == "alarm" and len(rest) == 1:
        return ParsedTopic(site, "alarm", name=rest[0])
    if kind == "media" and len(rest) == 2:
        return ParsedTopic(site, "media", device=rest[0], name=rest[1])
    return None
