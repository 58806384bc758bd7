"""The ONVIF driver end to end against the camera simulator over real sockets."""

from __future__ import annotations

import hashlib
import itertools
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import pytest

from drivers.onvif import driver as onvif_driver
from gateway.kernel.events import (
    CAMERA_PTZ,
    CAMERA_SNAPSHOT,
    DEVICE_ONLINE,
    CameraFact,
    MediaReference,
    PtzMove,
)
from gateway.kernel.ports import ActionError
from tests.onvif.support import (
    camera_events,
    facts,
    rig,
    run,
    stanza,
    state,
    statuses,
    subscribed,
    wait_for,
)
from tests.sink import ReportingSink


def active(sink: ReportingSink, kind: str) -> list[CameraFact]:
    return [f for f in facts(sink, kind) if f.active]


def test_each_event_family_arrives_normalised() -> None:
    async def scenario() -> None:
        async with rig(stanza()) as r:
            await subscribed(r.driver)
            # the states every new subscription starts with are quiet: nothing published
            assert camera_events(r.sink) == []
            await r.camera.act("walk", {"seconds": 1.0})
            await wait_for(lambda: any(f.active is False for f in facts(r.sink, "motion")))
            await r.camera.act("cross", {})
            await wait_for(lambda: facts(r.sink, "line_crossed"))
            await r.camera.act("crowd", {"people": 4})
            await wait_for(lambda: active(r.sink, "field"))
            await r.camera.act("input", {"on": True})
            await wait_for(lambda: active(r.sink, "digital_input"))
            await r.camera.act("cover", {})
            await wait_for(lambda: active(r.sink, "tamper") and active(r.sink, "image_too_dark"))
            await r.camera.act("uncover", {})
            await r.camera.act("blind", {})
            await wait_for(lambda: active(r.sink, "image_too_bright"))
            await r.camera.act("uncover", {})
            await r.camera.act("defocus", {})
            await wait_for(lambda: active(r.sink, "image_too_blurry"))
            await r.camera.act("uncover", {})
            await wait_for(lambda: any(f.active is False for f in facts(r.sink, "tamper")))

            motion = facts(r.sink, "motion")
            assert {f.topic for f in motion} == {"tns1:RuleEngine/CellMotionDetector/Motion",
                                                 "tns1:VideoSource/MotionAlarm"}
            cell = next(f for f in motion if "Cell" in f.topic)
            assert cell.source["Rule"] == "MyMotionDetectorRule" and cell.data == {
                "IsMotion": "true"}
            assert cell.camera == "gate-cam" and cell.zone == "gate-house"
            crossed = facts(r.sink, "line_crossed")[0]
            assert crossed.active is None and "ObjectId" in crossed.data
            assert active(r.sink, "digital_input")[0].source == {"InputToken": "DigitalInput_1"}
            tamper = [e for e in camera_events(r.sink, "tamper")]
            assert tamper[0].subject == "VideoSource_1"  # the alarm point: the video source
            assert [e.payload.active for e in tamper if isinstance(e.payload, CameraFact)] \
                == [True, False, True, False]  # cover, uncover, blind, uncover
            # a state is published once per change, never repeated
            cell_states = [f.active for f in motion if "Cell" in f.topic]
            assert all(a != b for a, b in itertools.pairwise(cell_states))

    run(scenario())


def test_a_reboot_drops_the_subscription_and_a_new_one_is_made() -> None:
    async def scenario() -> None:
        async with rig(stanza()) as r:
            await subscribed(r.driver)
            await r.camera.act("reboot", {"seconds": 1.0})
            await wait_for(lambda: state(r.sink) == "unreachable")
            await subscribed(r.driver, 2)
            assert state(r.sink) == "up"
            await r.camera.act("walk", {"seconds": 0.5})
            await wait_for(lambda: active(r.sink, "motion"))
            events = (await r.camera.state())["events"]
            assert len(events["subscriptions"]) == 1  # the new one (the old died with the boot)
            kinds = [(d, online) for d, online, _ in r.sink.availability_reports]
            assert kinds == [("gate-cam", True), ("gate-cam", False), ("gate-cam", True)]

    run(scenario())


def test_a_refused_password_is_reported_and_recovers_when_fixed() -> None:
    async def scenario() -> None:
        async with rig(stanza()) as r:
            await subscribed(r.driver)
            await r.camera.act("password", {"value": "changed-by-someone"})
            await wait_for(lambda: state(r.sink) == "auth_refused")
            refused = statuses(r.sink)[-1]
            assert "credentials refused" in refused.reason
            assert r.sink.availability_reports[-1][1] is False
            assert "auth_refused" in r.sink.availability_reports[-1][2]
            await r.camera.act("password", {"value": "gate-cam-secret"})
            await wait_for(lambda: state(r.sink) == "up")
            await subscribed(r.driver, 2)

    run(scenario())


def test_clock_skew_is_measured_and_event_times_corrected() -> None:
    async def scenario() -> None:
        async with rig(stanza(simulator={"clock_offset": 120})) as r:
            await subscribed(r.driver)
            skew = statuses(r.sink)[-1].clock_skew_s
            assert skew is not None and abs(skew - 120) <= 1.0
            await r.camera.act("walk", {"seconds": 0.5})
            await wait_for(lambda: active(r.sink, "motion"))
            event = next(e for e in camera_events(r.sink, "motion")
                         if isinstance(e.payload, CameraFact) and e.payload.active)
            assert isinstance(event.payload, CameraFact) and event.payload.device_time
            now = datetime.now(UTC)
            assert event.payload.device_time - now > timedelta(seconds=100)  # camera time
            assert event.time <= now and now - event.time < timedelta(seconds=5)  # ours
            # someone sets the camera's clock: measured again, a new subscription
            await r.camera.act("clock", {"offset": -400})
            await wait_for(lambda: (statuses(r.sink)[-1].clock_skew_s or 0) < -390)
            await subscribed(r.driver, 2)
            await r.camera.act("input", {"on": True})
            await wait_for(lambda: active(r.sink, "digital_input"))

    run(scenario())


def test_a_stuck_motion_is_cleared_by_timeout() -> None:
    async def scenario() -> None:
        async with rig(stanza(stuck_after=1.0)) as r:
            await subscribed(r.driver)
            await r.camera.act("stuck-motion", {"on": True})
            await wait_for(lambda: any(f.cleared_by == "timeout" for f in facts(r.sink)))
            cleared = [f for f in facts(r.sink) if f.cleared_by]
            assert len(cleared) == 1
            assert cleared[0].kind == "motion" and cleared[0].active is False
            assert "Cell" in cleared[0].topic
            # the camera still says motion after a resynchronisation: it stays cleared
            await r.camera.act("reboot", {"seconds": 0.5})
            await subscribed(r.driver, 2)
            await r.camera.act("input", {"on": True})
            await wait_for(lambda: active(r.sink, "digital_input"))
            assert len([f for f in facts(r.sink) if f.cleared_by]) == 1

    run(scenario())


def test_an_unknown_topic_is_published_as_other_and_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with rig(stanza()) as r:
            await subscribed(r.driver)
            await r.camera.act("unknown-event", {"on": True})
            await wait_for(lambda: facts(r.sink, "other"))
            await r.camera.act("unknown-event", {"on": False})
            await r.camera.act("unknown-event", {"on": True})
            await wait_for(lambda: len(facts(r.sink, "other")) >= 3)
            other = facts(r.sink, "other")
            assert other[0].topic == "tnssim:Diagnostics/FanFailure"
            assert other[0].data == {"Failed": "true", "Rpm": "0"}
            assert [f.data["Failed"] for f in other] == ["true", "false", "true"]

    with caplog.at_level(logging.INFO, logger="drivers.onvif.driver"):
        run(scenario())
    assert sum("has no parser" in m for m in caplog.messages) == 1


def test_snapshot_is_stored_and_referenced(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(stanza(), media_dir=tmp_path) as r:
            await subscribed(r.driver)
            answer = await r.driver.execute("snapshot", {"alarm_id": "alm-1",
                                                         "reason": "panic at gate"})
            reference = MediaReference.model_validate(answer)
            assert reference.kind == "snapshot" and reference.alarm_id == "alm-1"
            assert reference.source == "snapshot_uri" and reference.content_type == "image/jpeg"
            stored = r.sink.media.get(reference.media_id)
            assert stored is not None
            data = stored.path.read_bytes()
            assert data[:2] == b"\xff\xd8" and len(data) == reference.size
            assert hashlib.sha256(data).hexdigest() == reference.sha256
            assert reference.url.endswith(f"/media/{reference.media_id}")
            events = [e for e in r.sink.events if e.type is CAMERA_SNAPSHOT]
            assert [e.payload for e in events] == [reference]
            # again: the same client and its digest challenge are reused
            again = MediaReference.model_validate(await r.driver.execute("snapshot", {}))
            assert again.media_id != reference.media_id
            assert (await r.camera.state())["requests"]["snapshots"] == 2

    run(scenario())


def test_a_live_picture_comes_from_the_snapshot_uri_and_is_not_stored(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(stanza(), media_dir=tmp_path) as r:
            await subscribed(r.driver)
            first = await r.driver.live_jpeg()
            second = await r.driver.live_jpeg()
            assert first[:2] == b"\xff\xd8" and second[:2] == b"\xff\xd8"
            assert (await r.camera.state())["requests"]["snapshots"] == 2
            # a live view is not evidence: nothing stored, nothing reported
            assert r.sink.media.items() == []
            assert not [e for e in r.sink.events if e.type is CAMERA_SNAPSHOT]
            await r.camera.go_offline("refuse")
            with pytest.raises(ActionError, match="gate-cam: no live picture: snapshot URI"):
                await r.driver.live_jpeg()

    run(scenario())


def test_snapshot_from_the_stream_when_asked(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(stanza(snapshot={"source": "stream"}), media_dir=tmp_path) as r:
            await subscribed(r.driver)
            reference = MediaReference.model_validate(await r.driver.execute("snapshot", {}))
            assert reference.source == "stream"
            stored = r.sink.media.get(reference.media_id)
            assert stored is not None
            image = cv2.imread(str(stored.path))
            assert image is not None and image.shape[:2] == (480, 640)

    run(scenario())


def test_ptz_preset_moves_the_camera() -> None:
    async def scenario() -> None:
        async with rig(stanza()) as r:
            await subscribed(r.driver)
            move = PtzMove.model_validate(await r.driver.execute(
                "ptz_preset", {"preset": "street", "reason": "alarm alm-2"}))
            assert move.ok and move.preset == "street" and move.reason == "alarm alm-2"
            await wait_for(lambda: r.camera.head.preset is not None
                           and r.camera.head.preset.name == "street")
            assert [e.payload for e in r.sink.events if e.type is CAMERA_PTZ] == [move]
            with pytest.raises(ActionError, match="no preset 'roof'"):
                await r.driver.execute("ptz_preset", {"preset": "roof"})
            with pytest.raises(ActionError, match="unknown action"):
                await r.driver.execute("zoom", {})

    run(scenario())


def test_clip_from_the_ring(tmp_path: Path) -> None:
    async def scenario() -> None:
        section = stanza(ring={"seconds": 3, "fps": 5}, clip={"pre": 1, "post": 1})
        async with rig(section, media_dir=tmp_path) as r:
            await subscribed(r.driver)
            await wait_for(lambda: r.driver.status()["stream"]
                           and r.driver.status()["stream"]["frames"] > 10)
            reference = MediaReference.model_validate(await r.driver.execute(
                "clip", {"alarm_id": "alm-3", "pre": 1, "post": 1}))
            # WebM by default: the console's browser plays it beside the alarm
            assert reference.kind == "clip" and reference.content_type == "video/webm"
            assert reference.alarm_id == "alm-3" and reference.seconds
            stored = r.sink.media.get(reference.media_id)
            assert stored is not None and stored.path.suffix == ".webm"
            capture = cv2.VideoCapture(str(stored.path))
            frames = 0
            while capture.read()[0]:
                frames += 1
            capture.release()
            assert frames >= 5
            with pytest.raises(ActionError, match="at most 3 s"):
                await r.driver.execute("clip", {"pre": 10})

    run(scenario())


def test_one_dead_camera_does_not_delay_the_live_one() -> None:
    async def scenario() -> None:
        async with rig(stanza("dead-cam"), stanza("live-cam")) as r:
            dead, live = r.drivers
            dead_sink, live_sink = r.sinks
            await subscribed(dead)
            await subscribed(live)
            await r.cameras[0].act("offline", {"mode": "silent"})  # takes requests, never answers
            await r.cameras[1].act("walk", {"seconds": 0.5})
            await wait_for(lambda: active(live_sink, "motion"))
            assert state(dead_sink) == "up"  # its hung request has not even timed out yet
            with pytest.raises(ActionError, match="no snapshot"):
                await dead.execute("snapshot", {})
            await wait_for(lambda: state(dead_sink) == "unreachable")
            await r.cameras[1].act("input", {"on": True})
            await wait_for(lambda: active(live_sink, "digital_input"))
            await r.cameras[0].act("online", {})
            await wait_for(lambda: state(dead_sink) == "up")
            assert [e.type for e in live_sink.events].count(DEVICE_ONLINE) == 0  # sink's own

    run(scenario())


ANALYTICS = {
    "rate": 5, "background": 5,
    # the camera's OSD (name, clock) keeps a covered picture's contrast near 7: raise under 9
    "tamper": {"min_duration": 1, "clear_after": 1, "learn": 1, "covered_contrast": 9,
               "covered_clear": 14},
    "crowding": [{"id": "gate-square", "points": [[0.15, 0.45], [0.85, 0.45], [0.85, 1.0],
                                                  [0.15, 1.0]],
                  "occupancy": 0.15, "raise_after": 1, "clear_after": 2}],
    "intrusion": [{"id": "barrier", "points": [[0.5, 0.4], [0.95, 0.4], [0.95, 1.0],
                                               [0.5, 1.0]],
                   "min_area": 80, "min_duration": 0.2, "clear_after": 2}],
}


def test_analytics_raise_tamper_crowding_and_intrusion(tmp_path: Path) -> None:
    from gateway.kernel.events import VIDEO_RAISED, AnalyticFact, Severity

    def raised(sink: ReportingSink) -> dict[str, tuple[AnalyticFact, Severity, str | None]]:
        return {e.payload.condition: (e.payload, e.severity, e.subject)
                for e in sink.events
                if e.type is VIDEO_RAISED and isinstance(e.payload, AnalyticFact)}

    async def scenario() -> None:
        async with rig(stanza(analytics=ANALYTICS, events=False, snapshot_on_raise=True),
                       media_dir=tmp_path) as r:
            await wait_for(lambda: (r.driver.status()["analytics"] or {}).get("analysed", 0)
                           > 15)
            await r.camera.act("cross", {"seconds": 3})
            await wait_for(lambda: "intrusion" in raised(r.sink))
            fact, severity, subject = raised(r.sink)["intrusion"]
            assert (fact.analytic, fact.area, severity, subject) == (
                "intrusion", "barrier", Severity.MAJOR, "barrier")
            await r.camera.act("crowd", {"people": 25})
            await wait_for(lambda: "crowding" in raised(r.sink))
            fact, severity, subject = raised(r.sink)["crowding"]
            assert (fact.area, severity, subject) == ("gate-square", Severity.CRITICAL,
                                                      "gate-square")
            assert fact.zone == "gate-house" and fact.camera == "gate-cam"
            await r.camera.act("clear", {})
            await r.camera.act("cover", {})
            await wait_for(lambda: "covered" in raised(r.sink), timeout=20)
            fact, severity, subject = raised(r.sink)["covered"]
            assert (fact.analytic, severity, subject) == ("tamper", Severity.MAJOR,
                                                          "tamper/covered")
            # a snapshot for each raise (snapshot_on_raise; the gateway takes one per alarm)
            await wait_for(lambda: len([e for e in r.sink.events if e.type is CAMERA_SNAPSHOT])
                           >= len(raised(r.sink)))

    run(scenario())


def test_the_subscription_is_renewed_before_it_ends_never_unsubscribed() -> None:
    async def scenario() -> None:
        async with rig(stanza(subscription={"duration": 60, "renew_after": 10})) as r:
            await subscribed(r.driver)
            await wait_for(lambda: r.driver.renewals >= 1, timeout=20)
            subscription = (await r.camera.state())["events"]["subscriptions"][0]
            assert subscription["expires_in"] > 55  # renewed for another minute
            assert r.driver.subscriptions == 1
            await r.camera.act("input", {"on": True})
            await wait_for(lambda: active(r.sink, "digital_input"))

    run(scenario())


def test_presets_a_camera_cannot_tell_cost_its_ptz_only_never_the_camera() -> None:
    """A camera whose GetPresets answer uses prefixes it never declared (simulator dialect
    ``presets_undeclared``): the camera is up, follows its events, and its status says PTZ is
    what it lost and why."""
    async def scenario() -> None:
        sim = stanza(simulator={"presets_undeclared": True})
        async with rig(stanza(presets=[]), sim_sections=[sim]) as r:
            await subscribed(r.driver)
            assert [s.state for s in statuses(r.sink)] == ["up"]
            assert "ptz unavailable: GetPresets" in statuses(r.sink)[-1].reason
            assert [online for _, online, _ in r.sink.availability_reports] == [True]
            status = r.driver.status()
            assert status["state"] == "up" and status["presets"] == []
            assert "GetPresets" in status["unavailable"]["ptz"]
            with pytest.raises(ActionError, match="no preset 'gate'"):
                await r.driver.execute("ptz_preset", {"preset": "gate"})
            await r.camera.act("walk", {"seconds": 0.5})
            await wait_for(lambda: active(r.sink, "motion"))

    run(scenario())


def test_a_snapshot_uri_behind_basic_is_answered_with_basic(tmp_path: Path) -> None:
    """A camera whose snapshot URI challenges with HTTP Basic only (simulator dialect
    ``snapshot_auth: basic``): the snapshot comes from that URI, not from the stream, and the
    status says Basic was used; a Digest camera's says digest."""
    async def scenario() -> None:
        basic = stanza(simulator={"snapshot_auth": "basic"})
        async with rig(stanza(), media_dir=tmp_path, sim_sections=[basic]) as r:
            await subscribed(r.driver)
            assert r.driver.status()["snapshot_auth"] is None  # not asked yet
            for _ in range(2):
                reference = MediaReference.model_validate(await r.driver.execute(
                    "snapshot", {"reason": "panic at gate"}))
                assert reference.source == "snapshot_uri"
            assert r.driver.status()["snapshot_auth"] == "basic"
            camera = await r.camera.state()
            assert camera["requests"]["snapshots"] == 2 and camera["requests"]["refused"] == 0
        async with rig(stanza(), media_dir=tmp_path / "digest") as r:
            await subscribed(r.driver)
            reference = MediaReference.model_validate(await r.driver.execute("snapshot", {}))
            assert reference.source == "snapshot_uri"
            assert r.driver.status()["snapshot_auth"] == "digest"

    run(scenario())


def test_a_camera_that_tells_its_clock_only_with_credentials_stays_connected(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A camera that refuses GetSystemDateAndTime without credentials (simulator dialect
    ``clock_needs_auth``) and whose events are not followed: its keep-alive (the clock read)
    is asked with credentials, so it is never reconnected; the status names the keep-alive."""
    monkeypatch.setattr(onvif_driver, "CLOCK_CHECK", 0.05)  # the 30 s interval, shortened

    async def scenario() -> None:
        sim = stanza(simulator={"clock_needs_auth": True})
        async with rig(stanza(events=False), sim_sections=[sim]) as r:
            await wait_for(lambda: state(r.sink) == "up")
            before = (await r.camera.state())["requests"]["requests"]
            await wait_for(lambda: r.driver.keepalives >= 5)
            assert (await r.camera.state())["requests"]["requests"] > before
            assert [s.state for s in statuses(r.sink)] == ["up"]
            assert [online for _, online, _ in r.sink.availability_reports] == [True]
            assert r.driver.status()["keepalive"] == "GetSystemDateAndTime with credentials"

    run(scenario())


def test_a_camera_without_events_is_warned_of_and_the_inventory_says_so(
        caplog: pytest.LogCaptureFixture) -> None:
    """A camera whose GetServices lists no events service (simulator dialect ``events_service:
    false``) while the site file follows its events: a warning names it, the camera is up with
    ``events unavailable`` in its reason and status, and the inventory says no events."""
    async def scenario() -> None:
        sim = stanza(simulator={"events_service": False})
        async with rig(stanza(), sim_sections=[sim]) as r:
            assert r.driver.config.inventory()[0]["events"] is True  # not known yet
            await wait_for(lambda: state(r.sink) == "up")
            assert "events unavailable" in statuses(r.sink)[-1].reason
            assert "events service" in r.driver.status()["unavailable"]["events"]
            assert r.driver.config.inventory()[0]["events"] is False
            warned = [m for m in caplog.messages if "gate-cam" in m and "events" in m]
            assert warned and "no events service" in warned[0]

    with caplog.at_level(logging.WARNING, logger="drivers.onvif"):
        run(scenario())
