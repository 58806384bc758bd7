"""The composition root: builds every part of the gateway from the site file and runs them.

Reading order: state and topics, outbox, publisher, alarms and drills, access control, drivers,
linkage, commands, MQTT; then ``_add_parts``, the one list of what runs (each part supervised:
``gateway.supervisor``), and the loops that run until stop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from drivers import DeviceConfig, build_driver
from drivers.modbus.poller import OFFLINE_RETRY
from gateway import shift
from gateway.access.control import AccessControl
from gateway.access.credentials import CredentialStore
from gateway.access.doors import Doors
from gateway.access.evacuation import Evacuations
from gateway.access.ledger import Ledger
from gateway.access.modes import GateModes, serving
from gateway.access.schedules import Schedules
from gateway.alarm_centre.path import AlarmCentrePath
from gateway.alarms import AlarmService, AlarmStore
from gateway.audit import AuditLog
from gateway.bus import AlarmChanged, Bus, Polled
from gateway.commands import CommandQueue, CommandRouter, SeenRequests
from gateway.config import SiteConfig
from gateway.drills import Drills
from gateway.intake import Intake
from gateway.kernel.events import (
    CAMERA_SNAPSHOT,
    CREDENTIALS_SYNCED,
    EVENTS_DROPPED,
    GATE_MODE,
    MESSAGE_SET_ASIDE,
    STORAGE_FULL,
    STORAGE_OK,
    Event,
    EventsDropped,
    MediaReference,
    MessageSetAside,
    Severity,
    StorageState,
)
from gateway.linkage import Linkage
from gateway.media import LiveViews, MediaStore, base_url_of
from gateway.mqtt_link import MqttLink, Request
from gateway.outbox import Outbox, state_database
from gateway.outbox.outbox import WINDOW as OUTBOX_WINDOW
from gateway.publisher import EventPublisher
from gateway.readings import RecentReadings
from gateway.sirens import SirenLinkage
from gateway.supervisor import Fatal, Part, Pulse, Supervisor, resident
from gateway.topics import CONTRACT_VERSION, Topics

if TYPE_CHECKING:  # loaded only for a site that has them: FastAPI, uvicorn, Prometheus
    from gateway.console import Console
    from gateway.metrics import Metrics

log = logging.getLogger(__name__)

DRAIN_ON_STOP = 5.0
MEDIA_PRUNE_EVERY = 3600.0
OUTBOX_WATCH_EVERY = 0.1
OUTBOX_BACKOFF = (0.1, 5.0)  # alarms wait while it is down: it is started again at once
# how long a part may be busy without a sign of life before it is cancelled and started again
OUTBOX_STALL = 30.0  # its thread comes round five times a second while well
COMMAND_STALL = 120.0  # a credential import of a few thousand people takes seconds
MEDIA_STALL = 600.0
DRIVER_STALL = 30.0  # beyond a few of its poll cycles (timeout + interval)
POLLED_DRIVERS = frozenset({"modbus", "modbus_fire"})  # they report every poll (Polled)


def inventory(site: SiteConfig) -> list[dict[str, Any]]:
    return [entry for device in site.devices for entry in device.inventory()]


class Gateway:
    def __init__(self, site: SiteConfig) -> None:
        self.site = site
        state = site.gateway.state_dir
        self.topics = Topics(site.mqtt.prefix, site.site.id, site.gateway.id)
        self.bus = Bus()
        database = state_database(state)
        self.outbox = Outbox(database, site.outbox, self._dropped,
                             window=site.mqtt.in_flight or OUTBOX_WINDOW,
                             on_storage=self._storage_changed,
                             on_delivered=self._delivered if site.metrics.enabled else None,
                             on_set_aside=self._set_aside)
        self.store = AlarmStore(database, self.outbox)
        self.drills = Drills(self.store)
        self.publisher = EventPublisher(self.outbox, self.topics, lambda: self.drills.active)
        self.alarms = AlarmService(self.store, site.alarms, self.bus.publish,
                                   lambda: self.drills.active)
        self.supervisor = Supervisor()
        schedules = Schedules(site.access, site.site.timezone)
        gates = serving(site.devices)
        self.modes = GateModes(site.access, schedules, self.store, gates, self.supervisor.execute,
                               self.bus.publish, self.outbox.unit, site.gateway.id)
        self.credentials = CredentialStore(state)
        self.access = AccessControl(site.access, schedules, self.credentials,
                                    Ledger.load(database, self.outbox), self.modes,
                                    self.bus.publish, self.outbox.unit, self.outbox.durable,
                                    self.supervisor.execute, gates, site.gateway.id)
        self.doors = Doors(site.access.doors, self.bus.publish, self.outbox.unit, self.modes.mode)
        self.media = MediaStore(state / "media", site.media, base_url_of(site.console),
                                open_alarms=self._open_alarm_ids)
        if any(device.driver == "onvif" for device in site.devices):
            # the cameras' FFmpeg options: once, before their threads; OpenCV loads only for them
            from drivers.video.capture import configure_capture_options
            configure_capture_options()
        self.intake = Intake(self.bus, self.alarms.active_conditions, self.outbox.unit,
                             self.outbox.durable, site.flood, self.access.decide, self.media,
                             schedules.allows, limits=site.intake,
                             readings=RecentReadings(database, self.outbox,
                                                     site.intake.repeat_window))
        self.sirens = SirenLinkage(site.devices, site.alarms.siren_off_on,
                                   self.alarms.open_for_device, self.supervisor.execute,
                                   self.intake.emit)
        self.linkage = Linkage(site.linkage, self.supervisor.execute, self.intake.emit,
                               site.gateway.id, self.modes.start_lockdown, frozenset(
                                   d.id for d in site.devices if d.driver == "onvif"))
        # Who hears what, in this order: the stream first, then what reacts to it (the
        # reacting parts' listeners and tasks report their failures to the supervisor).
        watch = self.supervisor.watched
        for reactions in (self.sirens.reactions, self.linkage.reactions, self.modes.reactions):
            reactions.on_failure = self.supervisor.report
        self.bus.subscribe(Event, self.publisher.publish)
        self.bus.subscribe(Event, self.alarms.on_event)
        self.bus.subscribe(Event, watch("sirens", self.sirens.on_event))
        self.bus.subscribe(Event, watch("access", self.doors.on_event))
        self.bus.subscribe(Event, self._status_event)
        if site.media.publish_bytes:
            self.bus.subscribe(Event, self._snapshot_bytes)
        self.bus.subscribe(AlarmChanged, self.publisher.alarm_changed)
        self.bus.subscribe(AlarmChanged, self.drills.observe)
        self.bus.subscribe(AlarmChanged, watch("sirens", self.sirens.alarm_changed))
        self.bus.subscribe(AlarmChanged, watch("linkage", self.linkage.alarm_changed))
        self.bus.subscribe(AlarmChanged, watch("access", self.modes.alarm_changed))
        self.audit = AuditLog(state / "audit.jsonl")
        self.evacuations = Evacuations(self.store, self.alarms, lambda: self.drills.active)
        self.commands = CommandRouter(site.operators, site.commands, self.alarms, self.drills,
                                      self.audit, SeenRequests(database, self.outbox),
                                      self.outbox.durable, self.intake.emit,
                                      lambda: inventory(site), site.gateway.id,
                                      self.supervisor.execute, {
                                          **self.access.handlers(),
                                          **self.evacuations.handlers(),
                                          **shift.handlers()})
        self.link = MqttLink(site.mqtt, self.topics, on_request=self._request,
                             on_connection=lambda _up: self.outbox.connection_changed(),
                             on_ack=self.outbox.acked, announce=self._announce,
                             response_prefixes=tuple(site.commands.response_topics),
                             status_extra=lambda: {"access": self.access.status(),
                                                   "parts": self.supervisor.status(),
                                                   **self._alarm_paths()})
        self.requests = CommandQueue(self.commands, self.link.respond, site.commands)
        # the second alarm path, DC-09 to the alarm receiving centre: one more consumer
        self.alarm_centre = AlarmCentrePath(
            site.alarm_centre, database, self.outbox, self.intake.emit, self.topics.gateway,
            self.link.refresh_status) if site.alarm_centre is not None else None
        if self.alarm_centre is not None:
            self.bus.subscribe(AlarmChanged, watch("alarm centre",
                                                   self.alarm_centre.alarm_changed))
        self.metrics: Metrics | None = None
        if site.metrics.enabled:
            from gateway.metrics import Metrics, Readings

            metrics = self.metrics = Metrics(site.metrics, Readings(
                self.outbox.stats, self.intake.online, self.alarms.open_alarms,
                lambda: self.link.connected, lambda: self.intake.flood.flooding,
                self.supervisor.parts, self.link.where))
            self.supervisor.on_failure = metrics.part_failed
            self.bus.subscribe(Event, watch("metrics", metrics.on_event))
            self.bus.subscribe(AlarmChanged, watch("metrics", metrics.on_alarm))
            self.bus.subscribe(Polled, watch("metrics", metrics.on_poll))
        self.console: Console | None = None
        if site.console.enabled:
            from gateway.console import Console, ConsoleOperators, ConsoleParts, LiveFeed

            feed = LiveFeed(lambda: self.drills.active)
            cameras = [d.id for d in site.devices if d.driver == "onvif"]
            self.console = Console(ConsoleParts(
                site, self.alarms, self.commands, self.drills, feed, self.intake.online,
                self.outbox.stats, lambda: self.link.connected, lambda: inventory(site),
                ConsoleOperators(state / "operators.sqlite3"), self.audit.path, self.access,
                self.media, self.parts, evacuations=self.evacuations,
                live=LiveViews(site.media.live, self.supervisor.driver, lambda: cameras)))
            self.bus.subscribe(Event, watch("console", feed.on_event))
            self.bus.subscribe(AlarmChanged, watch("console", feed.on_alarm))
            self.bus.subscribe(Polled, watch("console", feed.on_poll))
        self._sending: set[asyncio.Task[None]] = set()
        self.started = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.supervisor.on_change = self.link.refresh_status
        self.bus.subscribe(Polled, lambda polled: self.supervisor.beat(
            f"driver {polled.device_id}"))
        self._add_parts()

    def _add_parts(self) -> None:
        """Everything that runs, in the order it starts (it stops in the reverse order)."""
        add = self.supervisor.add
        add(Part("audit", resident(self.audit.start), "thread",
                 stop=self._off_loop(self.audit.close)))
        # the retained status reads the credential store until the link is down
        add(Part("credentials", resident(lambda: None), stop=self._off_loop(
            self.credentials.close)))
        add(Part("mqtt", resident(self.link.start), "thread", stop=self._off_loop(self.link.stop)))
        add(Part("outbox", self._outbox, "thread", stop=self._off_loop(self.outbox.close,
                                                                        DRAIN_ON_STOP),
                 stall_after=OUTBOX_STALL, backoff=OUTBOX_BACKOFF))
        add(Part("access", resident(lambda: self.modes.start(self.alarms.open_alarms())),
                 stop=self.access.wait_idle))
        add(Part("sirens", resident(lambda: None), stop=self.sirens.wait_idle))
        add(Part("linkage", resident(lambda: None), stop=self.linkage.wait_idle))
        add(Part("media", self._prune_media, "loop", stop=self._off_loop(self.media.close),
                 stall_after=MEDIA_STALL))
        if self.metrics is not None:
            add(Part("metrics", resident(self.metrics.start), "thread"))
        for device in self.site.devices:
            self.supervisor.add_driver(build_driver(device, self.intake), self._stall(device))
        for n in range(self.requests.workers):
            add(Part(f"command worker {n}", self.requests.work, "worker",
                     stall_after=COMMAND_STALL))
        if self.console is not None:
            console = self.console
            add(Part("console", lambda _pulse: console.run(), "server"))
        add(Part("alarm clock", self._tick, "loop"))  # no await to hang in: no stall_after
        add(Part("stats", self._stats, "loop"))
        if self.alarm_centre is not None:
            add(Part("alarm centre", self.alarm_centre.run, "loop"))

    @staticmethod
    def _stall(device: DeviceConfig) -> float | None:
        """How long a polling driver may go without finishing a poll (its pulse is each
        ``Polled`` on the bus); None for a driver that waits for its devices to call."""
        if device.driver not in POLLED_DRIVERS:
            return None
        cycle = getattr(device, "timeout", 1.0) + max(getattr(device, "poll_interval", 1.0),
                                                      OFFLINE_RETRY)
        return float(DRIVER_STALL + 2 * cycle)

    def parts(self) -> list[dict[str, Any]]:
        """Every part's health (name, kind, state, failures, last error and when), for the
        console's health page."""
        return self.supervisor.parts()

    async def run(self, stop: asyncio.Event) -> None:
        """Every part until ``stop``; raises ``Fatal`` if the state database failed."""
        self._loop = asyncio.get_running_loop()
        log.info("gateway %s for site %s: %d devices, broker %s", self.topics.gateway,
                 self.topics.site, self.supervisor.drivers, ", ".join(self.site.mqtt.urls))
        try:
            await self.supervisor.run(stop)
        finally:
            log.info("gateway stopped")

    @staticmethod
    def _off_loop(close: Callable[..., object], *args: Any) -> Callable[[], Awaitable[None]]:
        """A blocking ``close`` (a thread's join, an fsync) as a part's stop, off the loop."""
        async def stop() -> None:
            await asyncio.to_thread(close, *args)
        return stop

    async def _outbox(self, pulse: Pulse) -> None:
        """The outbox thread, watched: one that ended is started again from the database,
        unless the database itself failed (``Fatal``); one that hangs stops beating."""
        try:
            self.outbox.start()  # nothing to do while its thread runs
        except sqlite3.Error as exc:
            raise Fatal(f"the state database {self.outbox.path} cannot be opened: {exc}") from exc
        self.outbox.attach(self.link)
        seen = self.outbox.heartbeat
        while True:
            await asyncio.sleep(OUTBOX_WATCH_EVERY)
            ended = self.outbox.ended()
            if isinstance(ended, sqlite3.Error):
                raise Fatal(f"the state database {self.outbox.path} failed: {ended}") from ended
            if ended is not None:
                raise RuntimeError(f"the outbox thread ended: {type(ended).__name__}: {ended}")
            if self.outbox.heartbeat != seen:
                seen = self.outbox.heartbeat
                pulse.beat()

    async def _tick(self, _pulse: Pulse) -> None:
        while True:
            now = datetime.now(UTC)
            self.alarms.tick(now)
            self.access.tick(now)
            self.doors.tick()
            self.intake.flood.tick()
            await asyncio.sleep(1.0)

    async def _prune_media(self, pulse: Pulse) -> None:
        """Media ages out even when no alarm comes."""
        while True:
            pulse.rest()
            await asyncio.sleep(MEDIA_PRUNE_EVERY)
            pulse.beat()
            await asyncio.to_thread(self.media.prune, self._open_alarm_ids())

    def _open_alarm_ids(self) -> list[str]:
        return [a.alarm_id for a in self.alarms.open_alarms()]

    async def _stats(self, _pulse: Pulse) -> None:
        while True:
            await asyncio.sleep(self.site.gateway.stats_interval)
            if self.link.connected:
                self.link.reannounce()
            self.link.publish(self.topics.stats, json.dumps(self.stats()).encode(), qos=0,
                              retain=False, content_type="application/json",
                              expiry=int(self.site.gateway.stats_interval * 2))

    def stats(self) -> dict[str, Any]:
        out = self.outbox.stats()
        online = self.intake.online
        return {
            "time": datetime.now(UTC).isoformat(),
            "uptime_s": round(time.monotonic() - self.started, 1),
            "devices": {"total": self.supervisor.drivers,
                        "online": sum(online.values()),
                        "offline": sum(1 for v in online.values() if not v)},
            "alarms_open": self.alarms.open_count(),
            "flooding": self.intake.flood.flooding,
            "drill": self.drills.active,
            "access": self.access.status(),
            "outbox": vars(out),
        }

    def _alarm_paths(self) -> dict[str, Any]:
        """With a centre: which of the two alarm paths are up (MQTT to the platform, DC-09
        to the centre), and the centre's receivers."""
        if self.alarm_centre is None:
            return {}
        centre = self.alarm_centre.status()
        return {"alarm_paths": {"mqtt": self.link.connected, "alarm_centre": centre["up"]},
                "alarm_centre": centre}

    def _announce(self) -> list[tuple[str, bytes]]:
        doc = {"gateway": self.topics.gateway, "site": self.topics.site,
               "contract": CONTRACT_VERSION, "devices": inventory(self.site)}
        return [(self.topics.devices, json.dumps(doc).encode())]

    def _emit_from_thread(self, event: Event) -> None:
        """An event the outbox thread raises, emitted on the loop."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.intake.emit, event)

    def _dropped(self, summary: dict[str, Any]) -> None:
        event = Event(EVENTS_DROPPED, self.topics.gateway, EventsDropped(**summary), Severity.MAJOR)
        self._emit_from_thread(event)

    def _set_aside(self, summary: dict[str, Any]) -> None:
        """From the outbox thread: a message could not be published and left its lane."""
        event = Event(MESSAGE_SET_ASIDE, self.topics.gateway, MessageSetAside(**summary),
                      Severity.CRITICAL if summary["life_safety"] else Severity.MAJOR)
        self._emit_from_thread(event)

    def _delivered(self, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.delivered(seconds)

    def _storage_changed(self, ok: bool, reason: str) -> None:
        """From the outbox thread: the disk refuses writes, or takes them again."""
        event = Event(STORAGE_OK if ok else STORAGE_FULL, self.topics.gateway,
                      StorageState(state_dir=str(self.site.gateway.state_dir), reason=reason),
                      Severity.INFO if ok else Severity.MAJOR)
        self.link.storage(reason)
        self._emit_from_thread(event)

    def _status_event(self, event: Event) -> None:
        """The retained status carries the credential version and the gates' modes."""
        if event.type in (CREDENTIALS_SYNCED, GATE_MODE):
            self.link.refresh_status()

    def _snapshot_bytes(self, event: Event) -> None:
        """``media.publish_bytes``: a snapshot's JPEG on its media topic, read off the loop."""
        if event.type is not CAMERA_SNAPSHOT or not isinstance(event.payload, MediaReference):
            return
        reference = event.payload
        item = self.media.get(reference.media_id)
        if item is None:
            return

        async def send() -> None:
            content = await asyncio.to_thread(item.path.read_bytes)
            self.link.publish(self.topics.media(reference.camera, reference.media_id), content,
                              qos=0, retain=False, content_type=reference.content_type,
                              expiry=300)

        task = asyncio.get_running_loop().create_task(send())
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def _request(self, request: Request) -> None:
        self.requests.offer(request)
