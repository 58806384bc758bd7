"""Pull-point events through onvif-zeep-async's PullPointManager, one test per behaviour."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import zeep.exceptions

from simulators.onvif import SimulatedCamera
from simulators.onvif.xmltree import etree
from tests.onvif_sim.support import Inbox, client, items, pull, run, simulated, topic_of

MOTION = "tns1:RuleEngine/CellMotionDetector/Motion"
ALARM = "tns1:VideoSource/MotionAlarm"
SCENE = "tns1:VideoSource/GlobalSceneChange/ImagingService"
DARK = "tns1:VideoSource/ImageTooDark/ImagingService"
BRIGHT = "tns1:VideoSource/ImageTooBright/ImagingService"
BLURRY = "tns1:VideoSource/ImageTooBlurry/ImagingService"
LINE = "tns1:RuleEngine/LineDetector/Crossed"
FIELD = "tns1:RuleEngine/FieldDetector/ObjectsInside"
INPUT = "tns1:Device/Trigger/DigitalInput"
PULL_POINT = "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription"
PROPERTIES = {MOTION, ALARM, SCENE, DARK, BRIGHT, BLURRY, FIELD, INPUT}


@contextlib.asynccontextmanager
async def subscribed(**overrides: Any) -> AsyncIterator[tuple[SimulatedCamera, Any, Any]]:
    """A camera, a pull-point manager on it, and its pull service, with the start-up
    ``Initialized`` messages already pulled."""
    async with simulated(**overrides) as camera, client(camera) as onvif:
        manager = await onvif.create_pullpoint_manager(dt.timedelta(minutes=10), lambda: None)
        service = manager.get_service()
        first = await pull(service, seconds=1)
        assert {topic_of(m) for m in first} == PROPERTIES
        assert {m.Message._value_1.PropertyOperation for m in first} == {"Initialized"}
        try:
            yield camera, manager, Inbox(service)
        finally:
            await manager.stop()


def test_each_event_family_arrives() -> None:
    async def scenario() -> None:
        async with subscribed() as (camera, _, inbox):
            await camera.act("motion", {"on": True})
            message, _ = await inbox.until(MOTION, IsMotion="true")
            assert items(message, "Source")["Rule"] == "MyMotionDetectorRule"
            assert message.Message._value_1.PropertyOperation == "Changed"
            await inbox.until(ALARM, State="true")
            await camera.act("motion", {"on": False})
            await inbox.until(MOTION, IsMotion="false")

            await camera.act("cover", {})
            message, _ = await inbox.until(SCENE, State="true")
            assert items(message, "Source") == {"Source": "VideoSource_1"}
            await inbox.until(DARK, State="true")
            await camera.act("uncover", {})
            await inbox.until(SCENE, State="false")
            await camera.act("blind", {})
            await inbox.until(BRIGHT, State="true")
            await camera.act("uncover", {})
            await camera.act("defocus", {})
            await inbox.until(BLURRY, State="true")

            await camera.act("crowd", {"people": 25})
            await inbox.until(FIELD, IsInside="true")
            await camera.act("clear", {})
            await inbox.until(FIELD, IsInside="false")
            await camera.act("cross", {})
            message, _ = await inbox.until(LINE)
            assert message.Message._value_1.PropertyOperation is None
            assert int(items(message)["ObjectId"]) > 0

            await camera.act("input", {"on": True, "input": "DigitalInput_2"})
            message, _ = await inbox.until(INPUT, LogicalState="true")
            assert items(message, "Source") == {"InputToken": "DigitalInput_2"}

            await camera.act("unknown-event", {})
            message, _ = await inbox.until("tnssim:Diagnostics/FanFailure")
            assert items(message) == {"Failed": "true", "Rpm": "0"}
            await camera.act("unknown-event", {"topic": "Vendor/Thing/Odd"})
            await inbox.until("tnssim:Vendor/Thing/Odd")

    run(scenario())


def test_walker_starts_and_ends_motion_from_the_picture() -> None:
    async def scenario() -> None:
        async with subscribed() as (camera, _, inbox):
            await camera.act("walk", {"seconds": 0.6})
            await inbox.until(MOTION, IsMotion="true")
            await inbox.until(MOTION, IsMotion="false")  # the walker has left
            assert (await camera.state())["scene"]["people"] == 0

    run(scenario())


def test_stuck_motion_never_clears() -> None:
    async def scenario() -> None:
        async with subscribed() as (camera, _, inbox):
            await camera.act("motion", {"on": True})
            await camera.act("stuck-motion", {})
            await camera.act("motion", {"on": False})
            _, seen = await inbox.until(ALARM, State="false")
            motion = [items(m)["IsMotion"] for m in seen if topic_of(m) == MOTION]
            assert motion == ["true"]
            assert not [m for m in await inbox.drain(0.5) if topic_of(m) == MOTION]

    run(scenario())


def test_pull_messages_holds_until_an_event_and_honours_the_limit() -> None:
    async def scenario() -> None:
        async with subscribed() as (camera, _, inbox):
            waiting = asyncio.create_task(pull(inbox.service, seconds=20))
            await asyncio.sleep(0.3)
            assert not waiting.done()  # held: nothing has happened yet
            await camera.act("input", {"on": True})
            messages = await waiting
            assert [topic_of(m) for m in messages] == [INPUT]

            for n in range(5):
                await camera.act("input", {"on": n % 2 == 1})
            assert len(await pull(inbox.service, limit=2)) == 2
            assert len(await pull(inbox.service, limit=10)) == 3
            assert await pull(inbox.service, seconds=0.2) == []

    run(scenario())


def test_synchronization_point_resends_states_as_initialized() -> None:
    async def scenario() -> None:
        async with subscribed() as (camera, manager, inbox):
            await camera.act("cover", {})
            await camera.act("input", {"on": True})
            await pull(inbox.service, seconds=0.5)
            await manager.set_synchronization_point()
            messages = await pull(inbox.service, seconds=1)
            assert {topic_of(m) for m in messages} == PROPERTIES
            assert {m.Message._value_1.PropertyOperation for m in messages} == {"Initialized"}
            states = {(topic_of(m), tuple(items(m).values())) for m in messages}
            assert (SCENE, ("true",)) in states and (DARK, ("true",)) in states
            assert (INPUT, ("true",)) in states or (INPUT, ("false",)) in states

    run(scenario())


def test_renew_extends_and_expiry_ends_the_subscription() -> None:
    async def scenario() -> None:
        async with subscribed() as (camera, manager, inbox):
            subscription = manager._subscription  # the client keeps it private
            renewed = await subscription.Renew("PT1H")
            assert 3590 <= (renewed.TerminationTime - renewed.CurrentTime).total_seconds() <= 3600
            address = (await camera.state())["events"]["subscriptions"][0]
            assert address["expires_in"] > 3500
            await camera.act("clock", {"offset": 7200})  # the camera's clock jumps past it
            assert (await camera.state())["events"]["subscriptions"] == []
            try:  # this client's WS-Security times are now two hours off, too
                await pull(inbox.service, seconds=0.2)
            except zeep.exceptions.Fault as fault:
                assert "not authorized" in str(fault.message)
            else:
                raise AssertionError("a request two hours off the camera clock was served")
            async with client(camera) as resynced:  # adjust_time learns the new offset
                resynced.xaddrs[PULL_POINT] = address["address"]
                service = await resynced.create_pullpoint_service()
                try:
                    await pull(service, seconds=0.2)
                except zeep.exceptions.Fault as fault:
                    assert "unknown subscription" in str(fault.message)
                else:
                    raise AssertionError("an expired subscription was still served")

    run(scenario())


def test_unsubscribe_and_topic_filter() -> None:
    async def scenario() -> None:
        async with simulated() as camera, client(camera) as onvif:
            events = await onvif.create_events_service()
            answer = await events.CreatePullPointSubscription({
                "Filter": {"_value_1": _filter("tns1:Device//.")},
                "InitialTerminationTime": "PT60S"})
            address = answer.SubscriptionReference.Address._value_1
            assert address.startswith(f"{camera.base_url}/onvif/subscription/")
            onvif.xaddrs[PULL_POINT] = address
            service = await onvif.create_pullpoint_service()
            first = await pull(service, seconds=0.5)
            assert {topic_of(m) for m in first} == {INPUT}
            await camera.act("cover", {})
            await camera.act("input", {"on": True})
            assert [topic_of(m) for m in await pull(service)] == [INPUT]
            manager = await onvif.create_subscription_service("PullPointSubscription")
            await manager.Unsubscribe()
            assert (await camera.state())["events"]["subscriptions"] == []

    run(scenario())


def _filter(expression: str) -> Any:
    element = etree.Element(
        "{http://docs.oasis-open.org/wsn/b-2}TopicExpression",
        Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet",
        nsmap={"wsnt": "http://docs.oasis-open.org/wsn/b-2",
               "tns1": "http://www.onvif.org/ver10/topics"})
    element.text = expression
    return element
