"""Prometheus metrics of the gateway, on a listener of their own (off unless the site file asks).

Counters and histograms are fed as things happen (events on the bus, commands audited, polls,
deliveries); the gauges (backlogs, devices online, alarms open, broker link, storage) are read
when Prometheus scrapes, so keeping them costs nothing in between. prometheus-client serves
them from its own thread; a listener that cannot start is logged and the gateway goes on.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.bus import AlarmChanged, Polled
from gateway.config import Metrics as MetricsConfig
from gateway.kernel.events import COMMAND_AUDIT, AlarmSnapshot, CommandAudit, Event
from gateway.outbox import OutboxStats

log = logging.getLogger(__name__)

DELIVERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)
POLL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


@dataclass
class Readings:
    """Where the gauges are read from, at scrape time."""

    outbox: Callable[[], OutboxStats]
    online: dict[str, bool]
    open_alarms: Callable[[], list[AlarmSnapshot]]
    broker_connected: Callable[[], bool]
    flooding: Callable[[], dict[str, int]]
    parts: Callable[[], list[dict[str, Any]]] = field(default=lambda: [])  # the supervisor's
    broker: Callable[[], dict[str, Any]] = field(default=lambda: {})  # the link's where()


class _Gauges(Collector):
    def __init__(self, readings: Readings) -> None:
        self._readings = readings

    def collect(self) -> Iterator[GaugeMetricFamily]:
        r = self._readings
        stats = r.outbox()
        for name, value, text in (
                ("campus_outbox_backlog", stats.backlog, "messages accepted, not yet delivered"),
                ("campus_outbox_life_safety_backlog", stats.life_safety_backlog,
                 "life-safety messages accepted, not yet delivered"),
                ("campus_outbox_in_flight", stats.in_flight, "handed to MQTT, not yet acked"),
                ("campus_outbox_set_aside", stats.set_aside,
                 "messages that could not be published, set aside since start"),
                ("campus_storage_ok", 0 if stats.storage else 1,
                 "1 while events are stored on disk before they are sent"),
                ("campus_broker_connected", 1 if r.broker_connected() else 0,
                 "1 while the link to the broker is up")):
            yield GaugeMetricFamily(name, text, value=value)
        where = r.broker()
        if where:
            yield GaugeMetricFamily("campus_broker_moves", "times the link went on to another "
                                    "broker node since start", value=where["moves"])
            node = GaugeMetricFamily("campus_broker_node", "1 for the broker node the link is "
                                     "on (or trying)", labels=["node"])
            node.add_metric([where["node"]], 1)
            yield node
        online = GaugeMetricFamily("campus_device_online", "1 if the gateway reaches the device",
                                   labels=["device"])
        for device, up in sorted(r.online.items()):
            online.add_metric([device], 1 if up else 0)
        yield online
        alarms = GaugeMetricFamily("campus_alarms_open", "open alarms",
                                   labels=["severity", "condition"])
        for (severity, condition), count in sorted(Tally(
                (a.severity.value, a.condition) for a in r.open_alarms()).items()):
            alarms.add_metric([severity, condition], count)
        yield alarms
        flooding = GaugeMetricFamily("campus_device_flooding_held_back",
                                     "condition changes held back at a flooding device",
                                     labels=["device"])
        for device, held in sorted(r.flooding().items()):
            flooding.add_metric([device], held)
        yield flooding
        running = GaugeMetricFamily("campus_part_running",
                                    "1 while a supervised part of the gateway runs",
                                    labels=["part", "kind"])
        for part in r.parts():
            running.add_metric([part["name"], part["kind"]], 1 if part["state"] == "running" else 0)
        yield running


class Metrics:
    def __init__(self, config: MetricsConfig, readings: Readings) -> None:
        self.config = config
        self.registry = CollectorRegistry()
        self.events = Counter("campus_events", "events published, by type", ["type"],
                              registry=self.registry)
        self.commands = Counter("campus_commands", "commands audited, by command and outcome",
                                ["command", "outcome", "source"], registry=self.registry)
        self.delivery = Histogram("campus_delivery_seconds",
                                  "from acceptance into the outbox to the broker's PUBACK",
                                  buckets=DELIVERY_BUCKETS, registry=self.registry)
        self.polls = Histogram("campus_poll_seconds", "time a device poll took", ["device"],
                               buckets=POLL_BUCKETS, registry=self.registry)
        self.poll_errors = Counter("campus_poll_errors", "failed polls", ["device"],
                                   registry=self.registry)
        self.part_failures = Counter(
            "campus_part_failures", "failures of a supervised part (it is started again), by "
            "why: raised, stopped, stalled, unavailable", ["part", "reason"],
            registry=self.registry)
        self.registry.register(_Gauges(readings))

    def start(self) -> None:
        listen = self.config.listen
        try:
            start_http_server(listen.port, listen.host, registry=self.registry)
            log.info("metrics at http://%s:%d/metrics", listen.host, listen.port)
        except OSError as exc:
            log.error("metrics could not listen on %s:%d (%s); the gateway goes on without",
                      listen.host, listen.port, exc.strerror or exc)

    # -- fed as things happen ---------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        self.events.labels(event.type.name).inc()
        if event.type is COMMAND_AUDIT and isinstance(event.payload, CommandAudit):
            audit = event.payload
            self.commands.labels(audit.command, audit.outcome, audit.source).inc()

    def on_alarm(self, change: AlarmChanged) -> None:
        self.events.labels(change.kind.name).inc()

    def on_poll(self, polled: Polled) -> None:
        self.polls.labels(polled.device_id).observe(polled.seconds)
        if polled.error is not None:
            self.poll_errors.labels(polled.device_id).inc()

    def part_failed(self, part: str, reason: str) -> None:
        self.part_failures.labels(part, reason).inc()

    def delivered(self, seconds: float) -> None:
        """From the outbox thread (prometheus-client is thread-safe)."""
        self.delivery.observe(seconds)
