"""One ONVIF camera: its health, its own events (PullPoint), snapshots, PTZ presets, clips, and
the gateway's analytics on its stream.

Life of a connection: connect (clock skew measured, WS-Security sent on the camera's clock),
read what the camera is, subscribe to a pull point, SetSynchronizationPoint (every property's
state again), then long-poll PullMessages, renewing well before the subscription ends. Never an
explicit Unsubscribe: some cameras answer one by dropping every subscription they hold, and an
unrenewed subscription ends by itself. Any failed request ends the connection; the next one
starts afresh (clock measured again, a new subscription), at once after a connection that
worked, with jittered backoff after one that did not. So a reboot, a camera whose clock was set
(its ``CurrentTime`` in a PullMessages answer jumps), a pull that is never answered or a renew
that fails all end in a new subscription. Health changes when connecting fails or works, and
when ``UNREADABLE_AFTER`` connections in a row had every event answer refused
(``events_unreadable``: the camera answers, but its events are lost) or one is used again.

Properties are tracked per topic and source: a repeated state (the ``Initialized`` messages
after a new subscription) is not published again, and a state of ``stuck_kinds`` the camera
never ends is cleared after ``stuck_after`` (``cleared_by: timeout``). Each camera runs its own
tasks with bounded requests: a dead camera delays nobody.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from drivers.onvif.link import CameraFacts, CameraLink, CameraProblem, Health, with_credentials
from drivers.onvif.media import SnapshotClient, SnapshotFailed, StreamFeed, grab_once
from drivers.onvif.models import OnvifCameraConfig
from drivers.onvif.parsers import Items, Notification, Reading, notification_of, parse, state
from drivers.video import ClipConfig, ClipError, StreamHealth, record_clip, redact
from drivers.video.frames import AnalyticChange
from gateway.kernel.boundary import device_text
from gateway.kernel.events import (
    CAMERA_CLIP,
    CAMERA_EVENT,
    CAMERA_PTZ,
    CAMERA_SNAPSHOT,
    CAMERA_STATUS,
    VIDEO_CLEARED,
    VIDEO_RAISED,
    AnalyticFact,
    CameraEventKind,
    CameraFact,
    CameraStatus,
    Event,
    MediaReference,
    PtzMove,
    Severity,
)
from gateway.kernel.fields import ConfigError
from gateway.kernel.logs import LogLimiter
from gateway.kernel.ports import ActionError, DeviceSink, DeviceUnavailable

log = logging.getLogger(__name__)

ACTIONS = ("snapshot", "ptz_preset", "clip", "status")
CLOCK_CHECK = 30.0  # seconds between clock reads of a camera whose events are not followed
SKEW_REPORTED = 2.0  # a measured skew this far from the reported one is reported again
RETRY_REFUSED = 1.0
STEADY = 30.0  # a connection that worked this long is followed by a new one at once
FLOOD_PAUSE = 1.0  # seconds between pulls of a camera that sends past MessageLimit
CLIP_TYPES = {"webm": "video/webm", "avi": "video/x-msvideo", "mp4": "video/mp4"}
# connections in a row whose event answers could not be used (refused over answer_limit, not
# SOAP) before the camera's events are reported lost; one bad answer is only a reconnection
UNREADABLE_AFTER = 3


class SessionEnded(Exception):
    """The connection works but must be made again (the camera's clock was set)."""


@dataclass
class PropertyState:
    """What the gateway believes of one property (topic + source) of the camera."""

    kind: CameraEventKind
    active: bool | None
    data: Items
    topic: str
    source: Items
    point: str
    timed_out: bool = False
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class OnvifCameraDriver:
    def __init__(self, config: OnvifCameraConfig, sink: DeviceSink) -> None:
        self.config = config
        self.device_id = config.id
        self._sink = sink
        self._link: CameraLink | None = None
        self.facts: CameraFacts | None = None  # of the last connection that worked
        self.health: tuple[Health, str] | None = None
        self._reported_skew: float | None = None
        self._password = ""
        self._states: dict[tuple[str, Items], PropertyState] = {}
        self._unknown: set[str] = set()
        self._warnings = LogLimiter(log)
        self._snapshots = SnapshotClient(config.id, config.username, config.snapshot.timeout,
                                         config.snapshot.max_bytes)
        self._feed: StreamFeed | None = None
        self._resync = False
        self._answered = False
        self._unreadable = 0  # connections in a row whose event answers were all refused
        self._background: set[asyncio.Task[Any]] = set()
        self.subscriptions = 0  # pull points made (for status and tests)
        self.keepalives = 0  # clock reads answered while events are not followed
        self._keepalive: str | None = None  # the request they were
        self.pulls = 0  # answered on the current one
        self.renewals = 0
        self.excess = 0  # notifications the camera sent past MessageLimit (not used)
        self.last_problem = ""  # why the last connection ended (a refused answer, a timeout)

    # --- life -------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._keep_connected()
        finally:
            for known in self._states.values():
                known.cancel()
            for task in list(self._background):
                task.cancel()
            await self._stop_feed()
            await self._snapshots.close()

    async def _keep_connected(self) -> None:
        settings = self.config.subscription
        backoff = settings.backoff_initial
        loop = asyncio.get_running_loop()
        while True:
            try:
                self._password = self.config.password.read()  # read again: it may be fixed
            except ConfigError as exc:
                self._set_health("auth_refused", f"the password cannot be read: {exc}")
                raise DeviceUnavailable(f"{self.device_id}: {exc}") from None
            await self._snapshots.credentials(self._password)
            link = CameraLink(self.config, self._password)
            self._answered = False
            started, again, opened = loop.time(), False, False
            try:
                try:
                    facts = await link.open()
                except CameraProblem as problem:
                    self._set_health(problem.state, problem.reason)
                    raise
                self._link, self.facts, opened = link, facts, True
                self.config.found("events", facts.events)
                if not self._events_unreadable():  # up again once an event answer is used
                    self._set_health("up", self._up_reason(facts), facts)
                await self._start_feed(facts)
                await self._session(link, facts)
            except CameraProblem as problem:
                self.last_problem = problem.reason
                if opened and problem.state == "not_onvif" and not self._answered:
                    self._refused_session(problem)
                elif self.health is not None and self.health[0] == "up":
                    log.info("%s: %s; connecting again", self.device_id, problem.reason)
            except SessionEnded as ended:
                log.info("%s: %s; connecting again", self.device_id, ended)
                again = True
            finally:
                self._link = None
                await link.close()
            if again or (self._answered and loop.time() - started >= STEADY):
                backoff = settings.backoff_initial  # it worked: connect and subscribe at once
                continue
            await asyncio.sleep(backoff * random.uniform(0.75, 1.0))
            backoff = min(settings.backoff_max, backoff * 2)

    async def _session(self, link: CameraLink, facts: CameraFacts) -> None:
        """Follow the camera until a request fails (``_answered``: it answered once)."""
        if self.config.events and facts.events:
            await self._follow_events(link, facts)
        while True:  # no events to follow: read its clock now and then, to know it is there
            await asyncio.sleep(CLOCK_CHECK)
            self._check_clock(await link.clock(), facts)
            self._answered = True
            self.keepalives += 1
            self._keepalive = link.keepalive

    def _events_unreadable(self) -> bool:
        return self.health is not None and self.health[0] == "events_unreadable"

    def _refused_session(self, problem: CameraProblem) -> None:
        """The camera connected but none of its event answers could be used: a few such
        connections in a row and its events are reported lost (they are, until one fits)."""
        self._unreadable += 1
        if self._unreadable < UNREADABLE_AFTER:
            log.info("%s: %s; connecting again", self.device_id, problem.reason)
        elif not self._events_unreadable():
            self._set_health("events_unreadable", f"its events cannot be read: "
                             f"{self._unreadable} connections in a row had every event answer "
                             f"refused; the last: {problem.reason}")

    def _events_answered(self, facts: CameraFacts) -> None:
        """An event answer was used: the camera's events come again."""
        self._answered = True
        if self._unreadable:
            self._unreadable = 0
            if self._events_unreadable():
                self._set_health("up", self._up_reason(facts), facts)

    def _up_reason(self, facts: CameraFacts) -> str:
        what = " ".join(p for p in (facts.manufacturer, facts.model) if p) or "camera"
        lost = "".join(f"; {name} unavailable: {why}"
                       for name, why in sorted(facts.unavailable.items()))
        return (f"{what} {facts.firmware}".strip()
                + f"; {len(facts.profiles)} profiles; clock skew {facts.skew:+.0f} s{lost}")

    # --- health -------------------------------------------------------------------------------

    def _set_health(self, state_: Health, reason: str, facts: CameraFacts | None = None) -> None:
        skew = facts.skew if facts is not None else None
        changed = self.health is None or self.health[0] != state_ or (
            state_ != "up" and self.health[1] != reason)
        skew_moved = skew is not None and (self._reported_skew is None
                                           or abs(skew - self._reported_skew) >= SKEW_REPORTED)
        if not changed and not skew_moved:
            return
        self.health = (state_, reason)
        self._reported_skew = skew if skew is not None else self._reported_skew
        if state_ == "up":
            log.info("%s: up: %s", self.device_id, reason)
        else:
            log.warning("%s: %s: %s", self.device_id, state_, reason)
        self._sink.availability(self.device_id, state_ == "up", reason if state_ == "up"
                                else f"{state_}: {reason}")
        status = CameraStatus(
            camera=self.device_id, state=state_, reason=reason, clock_skew_s=skew,
            manufacturer=facts.manufacturer if facts else "",
            model=facts.model if facts else "", firmware=facts.firmware if facts else "",
            profiles=[device_text(p.token, 64) for p in facts.profiles] if facts else [])
        severity = Severity.INFO if state_ == "up" else Severity.MAJOR
        if not self._sink.report([Event(CAMERA_STATUS, self.device_id, status, severity)]):
            self._warnings.warning(("status-refused",), "%s: its status event was not taken "
                                   "(flooding)", self.device_id)

    def _check_clock(self, camera_now: datetime | None, facts: CameraFacts) -> None:
        """A camera clock far from what the measured skew predicts was set: measure again."""
        if camera_now is None:
            return
        expected = datetime.now(UTC) + timedelta(seconds=facts.skew)
        jump = (camera_now - expected).total_seconds()
        if abs(jump) > self.config.subscription.clock_jump:
            raise SessionEnded(f"the camera's clock moved by {jump:+.0f} s")

    # --- events ------------------------------------------------------------------------------

    async def _follow_events(self, link: CameraLink, facts: CameraFacts) -> None:
        settings = self.config.subscription
        loop = asyncio.get_running_loop()
        point = await link.subscribe(settings.duration)
        self.subscriptions += 1
        self.pulls = 0
        await point.synchronise()  # after subscribing: every property's state, once more
        renew_at = loop.time() + settings.renew_after
        while True:
            if loop.time() >= renew_at:
                await point.renew(settings.duration)
                self.renewals += 1
                renew_at = loop.time() + settings.renew_after
            wait = max(1.0, min(settings.pull_timeout, renew_at - loop.time()))
            answer = await point.pull(wait, settings.message_limit)
            camera_now = answer.current_time
            self.pulls += 1
            self._events_answered(facts)
            self._check_clock(camera_now, facts)
            if camera_now is not None and point.termination is not None:
                left = (point.termination - camera_now).total_seconds()
                renew_at = min(renew_at, loop.time() + 0.8 * left)  # a camera that shortens it
            if answer.excess:
                self.excess += answer.excess
                self._warnings.warning(("excess",), "%s: the camera sent %d notifications past "
                                       "the MessageLimit of %d; they are not used and count "
                                       "against its flood budget", self.device_id,
                                       answer.excess, settings.message_limit)
            if answer.messages or answer.excess:
                self._take(answer.messages, facts, answer.excess)
            if answer.excess:
                # its next answer would be as large: parsing them back to back costs the
                # gateway CPU that every other device's polls need
                await asyncio.sleep(FLOOD_PAUSE)
            if self._resync:
                self._resync = False
                await point.synchronise()

    def _take(self, messages: Sequence[Any], facts: CameraFacts, excess: int = 0) -> None:
        """One pull's messages: reported whole, states committed only once taken; ``excess``
        (notifications the camera sent past MessageLimit) costs the reading's budget too."""
        events: list[Event] = []
        changes: list[tuple[tuple[str, Items], PropertyState]] = []
        pending: dict[tuple[str, Items], PropertyState] = {}
        for raw in messages:
            notification = notification_of(raw)
            if notification is None:
                self._warnings.warning(("malformed",), "%s: a notification without topic or "
                                       "message; ignored", self.device_id)
                continue
            reading = parse(notification)
            if reading is None:
                reading = Reading("other", state(notification))
                if notification.path not in self._unknown:
                    self._unknown.add(notification.path)
                    log.info("%s: topic %s has no parser; published as kind other (logged "
                             "once)", self.device_id, notification.topic[:256])
            key = notification.key
            known = pending.get(key) or self._states.get(key)
            if notification.operation is not None and not self._publishes(notification,
                                                                          reading, known):
                if known is None:  # first sight of a quiet property: remember it
                    changes.append((key, self._state_of(notification, reading)))
                continue
            fact = self._fact(notification, reading)
            events.append(Event(CAMERA_EVENT, self.device_id, fact,
                                Severity.MAJOR if reading.kind == "tamper" and reading.active
                                else Severity.INFO, notification.point,
                                self._event_time(notification, facts)))
            if notification.operation is not None:
                new = self._state_of(notification, reading)
                pending[key] = new
                changes.append((key, new))
        if (events or excess) and not self._sink.report(events, excess=excess,
                                                        device=self.device_id):
            self._warnings.warning(("refused",), "%s: %d camera events not taken (flooding); "
                                   "asking the camera for its states again", self.device_id,
                                   len(events))
            self._resync = True
            return
        for key, new in changes:
            self._commit(key, new)

    def _publishes(self, notification: Notification, reading: Reading,
                   known: PropertyState | None) -> bool:
        if known is None:
            if notification.operation != "Initialized" or reading.active:
                return True
            # a quiet state at subscription time: news only if the gateway thinks otherwise
            if reading.kind == "tamper":
                return f"{notification.point}/camera_tamper" in self._sink.active_conditions(
                    self.device_id)
            return False
        if known.timed_out and reading.active and notification.operation == "Initialized":
            return False  # still stuck: the camera repeats the state it never ended
        if reading.kind == "other":
            return known.data != notification.data
        return known.active != reading.active

    def _state_of(self, notification: Notification, reading: Reading) -> PropertyState:
        return PropertyState(reading.kind, reading.active, notification.data,
                             notification.topic, notification.source, notification.point)

    def _commit(self, key: tuple[str, Items], new: PropertyState) -> None:
        old = self._states.get(key)
        if old is not None:
            old.cancel()
        self._states[key] = new
        after = self.config.stuck_after
        if new.active and after is not None and new.kind in self.config.stuck_kinds:
            new.timer = asyncio.get_running_loop().call_later(after, self._stuck, key)

    def _stuck(self, key: tuple[str, Items]) -> None:
        known = self._states.get(key)
        if known is None or not known.active:
            return
        known.timer = None
        fact = CameraFact(camera=self.device_id, zone=self.config.zone or "",
                          kind=known.kind,
                          topic=known.topic, active=False, source=dict(known.source),
                          data=dict(known.data), cleared_by="timeout")
        if not self._sink.report([Event(CAMERA_EVENT, self.device_id, fact, Severity.INFO,
                                        known.point)]):
            known.timer = asyncio.get_running_loop().call_later(RETRY_REFUSED, self._stuck,
                                                                key)
            return
        log.info("%s: %s at %s active for %.0f s without an end; cleared", self.device_id,
                 known.kind, known.point, self.config.stuck_after or 0)
        known.active = False
        known.timed_out = True

    def _fact(self, notification: Notification, reading: Reading) -> CameraFact:
        return CameraFact(camera=self.device_id, zone=self.config.zone or "", kind=reading.kind,
                          topic=notification.topic, active=reading.active,
                          source=dict(notification.source), data=dict(notification.data),
                          device_time=notification.utc_time)

    def _event_time(self, notification: Notification, facts: CameraFacts) -> datetime:
        """The camera's time of the event on our clock (never in the future)."""
        now = datetime.now(UTC)
        if notification.utc_time is None:
            return now
        return min(now, notification.utc_time - timedelta(seconds=facts.skew))

    # --- stream and analytics ------------------------------------------------------------------

    def _stream_url(self, facts: CameraFacts) -> str | None:
        if facts.stream_uri is None:
            return None
        return with_credentials(facts.stream_uri, self.config.username, self._password)

    async def _start_feed(self, facts: CameraFacts) -> None:
        if not self.config.needs_stream:
            return
        url = self._stream_url(facts)
        if url is None:
            self._warnings.warning(("no-stream",), "%s: the camera gives no stream URI; no "
                                   "analytics or clips", self.device_id)
            return
        if self._feed is not None and self._feed.url == url:
            return
        await self._stop_feed()
        feed = StreamFeed(self.device_id, url, self.config.grabber, self.config.ring,
                          self.config.analytics, self._analytic_change, self._stream_health,
                          self._sink.schedule_allows)
        feed.start()
        self._feed = feed
        log.info("%s: grabbing %s", self.device_id, redact(url))

    async def _stop_feed(self) -> None:
        feed, self._feed = self._feed, None
        if feed is not None:
            await asyncio.to_thread(feed.stop)

    def _stream_health(self, health: StreamHealth) -> None:
        if health.state in ("reconnecting", "never_opened") and health.reason != "opening":
            self._warnings.warning(("stream", health.state), "%s: stream %s: %s",
                                   self.device_id, health.state, health.reason)

    def _analytic_change(self, change: AnalyticChange) -> None:
        condition = "line_crossed" if change.condition == "line_crossing" else change.condition
        area = change.zone or ""
        fact = AnalyticFact(camera=self.device_id, zone=self.config.zone or "",
                            analytic=change.analytic,
                            condition=condition,
                            score=change.score, reason=change.reason, area=area)
        if change.raised:
            severity = Severity.CRITICAL if change.analytic == "crowding" else Severity.MAJOR
        else:
            severity = Severity.INFO
        event = Event(VIDEO_RAISED if change.raised else VIDEO_CLEARED, self.device_id, fact,
                      severity, area or change.key, datetime.fromtimestamp(change.at, UTC))
        if not self._sink.report([event]):
            # the analyser will not say it again: try once more shortly
            self._warnings.warning(("analytic-refused",), "%s: analytics event not taken "
                                   "(flooding); trying again", self.device_id)
            asyncio.get_running_loop().call_later(RETRY_REFUSED, self._analytic_change, change)
            return
        if change.raised and self.config.snapshot_on_raise:
            self._spawn(self._snapshot_quietly(f"analytics {change.key}"))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _snapshot_quietly(self, reason: str) -> None:
        try:
            await self.snapshot(None, reason)
        except ActionError as exc:
            self._warnings.warning(("raise-snapshot",), "%s", exc)

    # --- actions -----------------------------------------------------------------------------

    async def execute(self, action: str, args: Mapping[str, Any]) -> dict[str, Any]:
        reason = str(args.get("reason") or "")
        if action == "snapshot":
            reference = await self.snapshot(_alarm_id(args), reason)
            return reference.model_dump(mode="json")
        if action == "ptz_preset":
            preset = args.get("preset")
            if not isinstance(preset, str) or not preset:
                raise ActionError(f"{self.device_id}: ptz_preset needs preset (a name or "
                                  "token)")
            return (await self.goto_preset(preset, reason)).model_dump(mode="json")
        if action == "clip":
            reference = await self.clip(_alarm_id(args), _seconds(args, "pre"),
                                        _seconds(args, "post"))
            return reference.model_dump(mode="json")
        if action == "status":
            return self.status()
        raise ActionError(f"{self.device_id}: unknown action {action!r} (known: "
                          f"{', '.join(ACTIONS)})")

    async def snapshot(self, alarm_id: str | None, reason: str) -> MediaReference:
        """A JPEG now: the snapshot URI, else (``auto``) a frame of the stream; stored, and its
        reference event reported."""
        choice = self.config.snapshot.source
        facts = self.facts
        problems: list[str] = []
        jpeg: bytes | None = None
        origin = ""
        if choice != "stream":
            if facts is not None and facts.snapshot_uri:
                try:
                    jpeg, origin = await self._snapshots.fetch(facts.snapshot_uri), \
                        "snapshot_uri"
                except SnapshotFailed as exc:
                    problems.append(str(exc))
            else:
                problems.append("no snapshot URI" if facts else "the camera was never reached")
        if jpeg is None and choice != "snapshot_uri":
            if problems and facts is not None and facts.snapshot_uri:
                log.warning("%s: snapshot from the stream: %s", self.device_id, problems[-1])
            try:
                jpeg, origin = await self._stream_jpeg(facts), "stream"
            except SnapshotFailed as exc:
                problems.append(str(exc))
        if jpeg is None:
            raise ActionError(f"{self.device_id}: no snapshot: {'; '.join(problems)}")
        captured = datetime.now(UTC)
        reference = await self._keep("snapshot", jpeg, "image/jpeg", alarm_id, captured,
                                     source=origin)
        self._report_media(CAMERA_SNAPSHOT, reference)
        if reason:
            log.info("%s: snapshot %s (%s)", self.device_id, reference.media_id, reason)
        return reference

    async def live_jpeg(self) -> bytes:
        """A picture for the console's live view, not stored: a frame of the stream the driver
        grabs, else the snapshot URI (its client keeps the connection and the Digest
        challenge, so one round trip). Never opens the stream for it: that is seconds of
        FFmpeg per picture."""
        facts = self.facts
        try:
            if self._feed is not None:
                return await self._feed.frame_jpeg(self.config.snapshot.timeout)
            if facts is not None and facts.snapshot_uri:
                return await self._snapshots.fetch(facts.snapshot_uri)
        except SnapshotFailed as exc:
            raise ActionError(f"{self.device_id}: no live picture: {exc}") from None
        raise ActionError(f"{self.device_id}: no live picture: " + (
            "the camera was never reached" if facts is None else
            "it has no snapshot URI and its stream is not grabbed (no ring or analytics)"))

    async def _stream_jpeg(self, facts: CameraFacts | None) -> bytes:
        timeout = self.config.snapshot.timeout
        if self._feed is not None:
            return await self._feed.frame_jpeg(timeout)
        url = self._stream_url(facts) if facts is not None else None
        if url is None:
            raise SnapshotFailed("no stream URI")
        grabber = self.config.grabber.model_copy(update={
            "open_timeout": max(timeout, 3.0), "read_timeout": max(timeout, 3.0)})
        return await asyncio.to_thread(grab_once, url, grabber)

    async def _keep(self, kind: Literal["snapshot", "clip"], content: bytes | Path,
                    content_type: str, alarm_id: str | None, captured: datetime,
                    **extra: Any) -> MediaReference:
        try:
            return await self._sink.keep_media(
                self.device_id, kind,
                content, content_type, alarm_id=alarm_id, captured_at=captured, **extra)
        except ActionError:
            raise
        except Exception as exc:  # refused by the store (too large, disk full)
            raise ActionError(f"{self.device_id}: the {kind} was not stored: {exc}") from None

    def _report_media(self, kind: Any, reference: MediaReference) -> None:
        if not self._sink.report([Event(kind, self.device_id, reference, Severity.INFO,
                                        None, reference.captured_at)]):
            self._warnings.warning(("media-refused",), "%s: media event not taken (flooding);"
                                   " the media is stored as %s", self.device_id,
                                   reference.media_id)

    async def goto_preset(self, preset: str, reason: str) -> PtzMove:
        facts = self.facts
        presets = facts.presets if facts is not None else {}
        name, token = preset, presets.get(preset)
        if token is None:
            by_token = {t: n for n, t in presets.items()}
            if preset in by_token:
                name, token = by_token[preset], preset
        known = sorted(set(self.config.presets) | set(presets))
        if facts is not None and token is None:
            raise ActionError(f"{self.device_id}: no preset {preset!r} (presets: "
                              f"{', '.join(known) or 'none'})")
        if facts is None and preset not in self.config.presets:
            raise ActionError(f"{self.device_id}: no preset {preset!r} (presets: "
                              f"{', '.join(known) or 'none'})")
        link = self._link
        error = ""
        if link is None or token is None:
            error = f"the camera is not connected ({self.health[1] if self.health else '?'})"
        else:
            try:
                await link.goto_preset(token)
            except CameraProblem as problem:
                error = problem.reason
        move = PtzMove(camera=self.device_id, preset=name, ok=not error, reason=reason,
                       error=error)
        if not self._sink.report([Event(CAMERA_PTZ, self.device_id, move,
                                        Severity.INFO if move.ok else Severity.MINOR)]):
            self._warnings.warning(("ptz-refused",), "%s: PTZ event not taken (flooding)",
                                   self.device_id)
        return move

    async def clip(self, alarm_id: str | None, pre: float | None,
                   post: float | None) -> MediaReference:
        feed = self._feed
        ring = self.config.ring
        if ring is None:
            raise ActionError(f"{self.device_id}: no clips: the stanza has no ring")
        if feed is None or feed.ring is None:
            raise ActionError(f"{self.device_id}: no clips now: the stream is not open")
        config = ClipConfig(pre=self.config.clip.pre if pre is None else pre,
                            post=self.config.clip.post if post is None else post,
                            format=self.config.clip.format)
        if max(config.pre, config.post) > ring.seconds:
            raise ActionError(f"{self.device_id}: pre and post must be at most "
                              f"{ring.seconds:g} s (the ring)")
        at = time.time()
        folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="campus-clip-"))
        try:
            try:
                info = await record_clip(feed.ring, at, folder / self.device_id, config)
            except ClipError as exc:
                raise ActionError(f"{self.device_id}: no clip: {exc}") from None
            reference = await self._keep(
                "clip", info.path, CLIP_TYPES[config.format], alarm_id,
                datetime.fromtimestamp(info.start, UTC), seconds=round(info.frames / info.fps, 2),
                pre_seconds=round(max(0.0, at - info.start), 2), source="stream")
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)
        self._report_media(CAMERA_CLIP, reference)
        return reference

    def status(self) -> dict[str, Any]:
        facts = self.facts
        feed = self._feed
        return {
            "camera": self.device_id,
            "state": self.health[0] if self.health else "connecting",
            "reason": self.health[1] if self.health else "",
            "clock_skew_s": facts.skew if facts else None,
            "model": facts.model if facts else "",
            "stream_profile": facts.stream_profile if facts else None,
            "snapshot_uri": bool(facts and facts.snapshot_uri),
            "snapshot_auth": self._snapshots.scheme,
            "presets": sorted(facts.presets) if facts else list(self.config.presets),
            "unavailable": dict(facts.unavailable) if facts else {},
            "subscriptions": self.subscriptions,
            "keepalive": self._keepalive,
            "pulls": self.pulls,
            "renewals": self.renewals,
            "excess_notifications": self.excess,
            "last_problem": self.last_problem,
            "active": sorted(f"{s.kind}@{s.point}" for s in self._states.values() if s.active),
            "unknown_topics": sorted(self._unknown),
            "stream": ({"state": feed.grabber.health.state, "reason": feed.grabber.health.reason,
                        "frames": feed.grabber.health.frames} if feed else None),
            "analytics": (dataclasses.asdict(feed.analyser.stats())
                          if feed and feed.analyser else None),
        }


def _alarm_id(args: Mapping[str, Any]) -> str | None:
    value = args.get("alarm_id")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 128:
        raise ActionError("alarm_id must be a string (at most 128 characters)")
    return value


def _seconds(args: Mapping[str, Any], name: str) -> float | None:
    value = args.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 300:
        raise ActionError(f"{name} must be a number of seconds, 0-300")
    return float(value)

