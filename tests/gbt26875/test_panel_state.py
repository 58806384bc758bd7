"""Reported status words -> fire events, without sockets: the mapping the receiver applies."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from drivers.gbt26875.codec import (
    ComponentStatus,
    OperationRecord,
    SystemStatus,
    TransmitterOperation,
    TransmitterStatus,
)
from drivers.gbt26875.panel_state import PanelState
from drivers.gbt26875.tables import ComponentBit, OperationFlag, SystemBit, TransmitterBit
from gateway.kernel.events import Event, FireFact, PanelAction, Severity
from tests.gbt26875.support import receiver_config

SHANGHAI = ZoneInfo("Asia/Shanghai")
WHEN = datetime(2026, 11, 5, 14, 3, 22)
NORMAL = ComponentBit.NORMAL
FIRE = ComponentBit.NORMAL | ComponentBit.FIRE


def state(believed: set[str] | None = None) -> PanelState:
    transmitter = receiver_config(9000).transmitters[0]
    return PanelState(transmitter, SHANGHAI, lambda: believed or set())


def detector(status: int, address: int = 258, description: str = "二层东走廊感烟探测器"
             ) -> ComponentStatus:
    return ComponentStatus(1, 1, 40, address, status, description, WHEN)


def names(events: list[Event]) -> list[tuple[str, str | None, str]]:
    return [(e.type.name, e.subject, getattr(e.payload, "condition", "")) for e in events]


def test_fire_then_restore_with_site_details() -> None:
    panel = state()
    (alarm,) = panel.apply([detector(FIRE)])
    assert alarm.type.name == "campus.fire.alarm" and alarm.severity is Severity.CRITICAL
    assert alarm.device_id == "utd-building-b" and alarm.subject == "S1-1/C258"
    fact = alarm.payload
    assert isinstance(fact, FireFact)
    assert (fact.zone, fact.location, fact.description) == (
        "building-b-f2", "2F corridor east", "二层东走廊感烟探测器")
    assert (fact.component_type, fact.component_type_code, fact.status) == (
        "smoke detector", 40, 3)
    assert fact.device_time == WHEN.replace(tzinfo=SHANGHAI)
    assert panel.apply([detector(FIRE)]) == []  # the same word again: nothing new
    (restored,) = panel.apply([detector(NORMAL)])
    assert names([restored]) == [("campus.fire.restored", "S1-1/C258", "fire")]


def test_first_report_normal_is_silent_and_unlisted_components_use_the_default_zone() -> None:
    panel = state()
    assert panel.apply([detector(NORMAL, address=7)]) == []
    (fault,) = panel.apply([detector(NORMAL | ComponentBit.FAULT, address=7)])
    assert isinstance(fault.payload, FireFact) and fault.payload.zone == "building-b"
    assert fault.payload.location == ""


def test_each_condition_bit_has_its_event() -> None:
    panel = state()
    word = (NORMAL | ComponentBit.FIRE | ComponentBit.FAULT | ComponentBit.SHIELDED
            | ComponentBit.SUPERVISORY | ComponentBit.POWER_FAULT | ComponentBit.STARTED)
    events = panel.apply([detector(word)])
    assert [e.type.name for e in events] == [
        "campus.fire.alarm", "campus.fire.fault", "campus.fire.shielded",
        "campus.fire.supervisory", "campus.fire.power_fault",
    ]
    events = panel.apply([detector(NORMAL | ComponentBit.FAULT)])
    assert names(events) == [
        ("campus.fire.restored", "S1-1/C258", "fire"),
        ("campus.fire.restored", "S1-1/C258", "shielded"),
        ("campus.fire.restored", "S1-1/C258", "supervisory"),
        ("campus.fire.restored", "S1-1/C258", "power_fault"),
    ]


def test_a_first_report_is_compared_with_what_the_gateway_believes() -> None:
    panel = state(believed={"S1-1/C258/fire"})
    assert names(panel.apply([detector(NORMAL)])) == [
        ("campus.fire.restored", "S1-1/C258", "fire")
    ]
    panel = state(believed={"S1-1/C258/fire"})
    assert panel.apply([detector(FIRE)]) == []  # still burning: the open alarm stands


def test_system_status_reset_and_power() -> None:
    panel = state()
    panel.apply([detector(FIRE)])
    events = panel.apply([SystemStatus(1, 1, SystemBit.NORMAL | SystemBit.MAIN_POWER_FAULT, WHEN)])
    (power,) = events
    assert names(events) == [("campus.fire.power_fault", "S1-1/system", "power_fault")]
    assert isinstance(power.payload, FireFact) and power.payload.description == "main power fault"
    events = panel.apply([SystemStatus(1, 1, SystemBit.NORMAL | SystemBit.RESET, WHEN)])
    assert names(events)[0] == ("campus.fire.panel_reset", "S1-1/system", "")
    action = events[0].payload
    assert isinstance(action, PanelAction)
    assert (action.action, action.system_address) == ("reset", 1)
    # after the reset the panel starts afresh: a fire still there is a new alarm
    assert names(panel.apply([detector(FIRE)])) == [("campus.fire.alarm", "S1-1/C258", "fire")]


def test_operation_records() -> None:
    panel = state()
    flags = OperationFlag.RESET | OperationFlag.SILENCE
    events = panel.apply([OperationRecord(1, 1, flags, 7, WHEN)])
    assert [e.type.name for e in events] == [
        "campus.fire.operation", "campus.fire.panel_reset", "campus.fire.silenced"
    ]
    operation = events[0].payload
    assert isinstance(operation, PanelAction)
    assert (operation.operator, operation.operation_code, operation.description) == (
        "7", 3, "reset, silence")


def test_transmitter_status_and_duty_answer() -> None:
    panel = state()
    assert panel.apply([TransmitterStatus(TransmitterBit.NORMAL, WHEN)]) == []
    events = panel.apply([TransmitterStatus(TransmitterBit.NORMAL | TransmitterBit.CHANNEL_FAULT,
                                            WHEN)])
    assert names(events) == [("campus.fire.fault", "transmitter", "fault")]
    assert isinstance(events[0].payload, FireFact)
    assert events[0].payload.description == "communication channel fault"
    (answer,) = panel.apply([TransmitterOperation(0x20, 2, WHEN)])
    assert answer.type.name == "campus.fire.operation"
    assert isinstance(answer.payload, PanelAction)
    assert answer.payload.description == "duty check answered"
