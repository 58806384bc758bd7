"""What one transmitter last reported, and the fire events a new report implies.

A transmission device reports whole status words, not changes, and repeats them (heartbeats,
reconnects, a panel re-sending its list). Events therefore come from comparing each new word
with the last known one per point: a condition bit going 1 emits its raising event, going 0
emits ``fire.restored``. A point seen for the first time is compared with what the gateway
believes (its open alarms), so a fire that cleared while the gateway was down is still restored,
and a component first seen normal emits nothing.

A panel reset forgets every point of that panel: a fire still present after the reset is raised
again on the next report instead of being taken for the same, already closed alarm.

``evaluate`` works out the events of a report without changing what is known; the receiver
commits them only once the gateway has accepted the events (a transmitter over its rate limit
gets no answer and sends the same report again later, which must then give the same events).
Only points with a condition active are remembered: a normal point is what an unknown point
with no open alarm is anyway, so memory does not grow with every address a device makes up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from datetime import datetime, tzinfo
from typing import Literal

from drivers.gbt26875.models import Transmitter
from drivers.gbt26875.tables import (
    OPERATION_FLAG_NAMES,
    SYSTEM_BIT_NAMES,
    TRANSMITTER_BIT_NAMES,
    TRANSMITTER_OPERATION_FLAG_NAMES,
    ComponentBit,
    OperationFlag,
    SystemBit,
    TransmitterBit,
    bit_names,
    component_type_name,
)
from drivers.gbt26875.units import (
    ComponentStatus,
    OperationRecord,
    SystemStatus,
    TransmitterOperation,
    TransmitterStatus,
    Unit,
)
from gateway.kernel.events import (
    FIRE_OPERATION,
    FIRE_PANEL_RESET,
    FIRE_SILENCED,
    Event,
    EventType,
    FireCondition,
    FireFact,
    PanelAction,
    fire_event,
)

Conditions = dict[FireCondition, int]

COMPONENT_CONDITIONS: Conditions = {
    "fire": ComponentBit.FIRE,
    "fault": ComponentBit.FAULT,
    "shielded": ComponentBit.SHIELDED,
    "supervisory": ComponentBit.SUPERVISORY,
    "power_fault": ComponentBit.POWER_FAULT,
}
SYSTEM_CONDITIONS: Conditions = {
    "fire": SystemBit.FIRE,
    "fault": SystemBit.FAULT | SystemBit.BUS_FAULT,
    "shielded": SystemBit.SHIELDED,
    "supervisory": SystemBit.SUPERVISORY,
    "power_fault": SystemBit.MAIN_POWER_FAULT | SystemBit.BACKUP_POWER_FAULT,
}
TRANSMITTER_CONDITIONS: Conditions = {
    "fire": TransmitterBit.FIRE,
    "fault": TransmitterBit.FAULT | TransmitterBit.CHANNEL_FAULT | TransmitterBit.LINE_FAULT,
    "power_fault": TransmitterBit.MAIN_POWER_FAULT | TransmitterBit.BACKUP_POWER_FAULT,
}

TRANSMITTER_POINT = "transmitter"
_NOTHING: frozenset[str] = frozenset()


def panel_point(system_type: int, system_address: int) -> str:
    return f"S{system_type}-{system_address}"


def component_point(system_type: int, system_address: int, component_address: int) -> str:
    return f"{panel_point(system_type, system_address)}/C{component_address}"


def system_point(system_type: int, system_address: int) -> str:
    return f"{panel_point(system_type, system_address)}/system"


class Evaluation:
    """The events of one report, and the status words to remember once they are accepted."""

    def __init__(self, known: dict[str, int]) -> None:
        self.events: list[Event] = []
        self._known = known
        self._masks: dict[str, int] = {}  # point -> the bits that make a condition there
        self._words: dict[str, int] = {}
        self._forgotten: list[str] = []

    def word(self, point: str) -> int | None:
        if point in self._words:
            return self._words[point]
        if any(point.startswith(prefix) for prefix in self._forgotten):
            return None
        return self._known.get(point)

    def remember(self, point: str, status: int, mask: int) -> None:
        self._words[point] = status
        self._masks[point] = mask

    def forget(self, prefix: str) -> None:
        self._words = {p: w for p, w in self._words.items() if not p.startswith(prefix)}
        self._forgotten.append(prefix)

    def commit(self) -> None:
        for prefix in self._forgotten:
            for point in [p for p in self._known if p.startswith(prefix)]:
                del self._known[point]
        for point, status in self._words.items():
            if status & self._masks[point]:
                self._known[point] = status
            else:
                self._known.pop(point, None)


class PanelState:
    """Last known status word per point of one transmitter; turns reports into events."""

    def __init__(self, transmitter: Transmitter, timezone: tzinfo,
                 believed: Callable[[], AbstractSet[str]]) -> None:
        self.transmitter = transmitter
        self._tz = timezone
        self._believed = believed
        self._known: dict[str, int] = {}
        self._pending = Evaluation(self._known)

    def apply(self, units: Iterable[Unit]) -> list[Event]:
        """The events of a report, remembered at once."""
        evaluation = self.evaluate(units)
        evaluation.commit()
        return evaluation.events

    def evaluate(self, units: Iterable[Unit]) -> Evaluation:
        """The events of a report; nothing is remembered until ``commit``."""
        self._pending = Evaluation(self._known)
        events = self._pending.events
        for unit in units:
            if isinstance(unit, ComponentStatus):
                events += self._component(unit)
            elif isinstance(unit, SystemStatus):
                events += self._system(unit)
            elif isinstance(unit, OperationRecord):
                events += self._operation(unit)
            elif isinstance(unit, TransmitterStatus):
                events += self._transmitter(unit)
            elif isinstance(unit, TransmitterOperation):
                events += self._transmitter_operation(unit)
        return self._pending

    # --- reports ------------------------------------------------------------------------------

    def _component(self, unit: ComponentStatus) -> list[Event]:
        t = self.transmitter
        point = component_point(unit.system_type, unit.system_address, unit.component_address)
        site = t.component(unit.system_type, unit.system_address, unit.component_address)
        fact = FireFact(
            condition="fire",
            point=point,
            zone=(site.zone if site and site.zone else t.zone),
            location=site.location if site else "",
            description=unit.description,
            system_type=unit.system_type,
            system_address=unit.system_address,
            component_address=unit.component_address,
            component_type=component_type_name(unit.component_type),
            component_type_code=unit.component_type,
            device_time=self._local(unit.time),
            status=unit.status,
        )
        return self._compare(point, unit.status, COMPONENT_CONDITIONS, fact)

    def _system(self, unit: SystemStatus) -> list[Event]:
        point = system_point(unit.system_type, unit.system_address)
        events: list[Event] = []
        if unit.status & SystemBit.RESET:
            events.append(self._panel_action(FIRE_PANEL_RESET, "reset", unit))
            self._forget_panel(unit.system_type, unit.system_address)
        fact = FireFact(
            condition="fire",
            point=point,
            zone=self.transmitter.zone,
            system_type=unit.system_type,
            system_address=unit.system_address,
            device_time=self._local(unit.time),
            status=unit.status,
        )
        return events + self._compare(point, unit.status, SYSTEM_CONDITIONS, fact,
                                      SYSTEM_BIT_NAMES)

    def _operation(self, unit: OperationRecord) -> list[Event]:
        names = bit_names(unit.flags, OPERATION_FLAG_NAMES)
        events = [self._panel_action(FIRE_OPERATION, "operation", unit, ", ".join(names))]
        if unit.flags & OperationFlag.RESET:
            events.append(self._panel_action(FIRE_PANEL_RESET, "reset", unit))
            self._forget_panel(unit.system_type, unit.system_address)
        if unit.flags & OperationFlag.SILENCE:
            events.append(self._panel_action(FIRE_SILENCED, "silenced", unit))
        return events

    def _transmitter(self, unit: TransmitterStatus) -> list[Event]:
        fact = FireFact(
            condition="fire",
            point=TRANSMITTER_POINT,
            zone=self.transmitter.zone,
            device_time=self._local(unit.time),
            status=unit.status,
        )
        return self._compare(TRANSMITTER_POINT, unit.status, TRANSMITTER_CONDITIONS, fact,
                             TRANSMITTER_BIT_NAMES)

    def _transmitter_operation(self, unit: TransmitterOperation) -> list[Event]:
        names = bit_names(unit.flags, TRANSMITTER_OPERATION_FLAG_NAMES)
        action = PanelAction(
            action="operation",
            point=TRANSMITTER_POINT,
            operator=str(unit.operator),
            operation_code=unit.flags,
            description=", ".join(names),
            device_time=self._local(unit.time),
        )
        return [Event(FIRE_OPERATION, self.transmitter.id, action, subject=TRANSMITTER_POINT)]

    # --- helpers ------------------------------------------------------------------------------

    def _compare(self, point: str, status: int, conditions: Conditions, fact: FireFact,
                 bit_table: dict[int, str] | None = None) -> list[Event]:
        """Events for the conditions that changed; ``bit_table`` names the bits in the text."""
        previous = self._pending.word(point)
        believed = self._believed() if previous is None else _NOTHING
        mask = 0
        for bits in conditions.values():
            mask |= bits
        self._pending.remember(point, status, mask)
        events: list[Event] = []
        for condition, mask in conditions.items():
            active = bool(status & mask)
            key = f"{point}/{condition}"
            was = key in believed if previous is None else bool(previous & mask)
            if active == was:
                continue
            update: dict[str, object] = {"condition": condition}
            if bit_table is not None:
                update["description"] = ", ".join(bit_names(status & mask, bit_table))
            events.append(fire_event(self.transmitter.id, fact.model_copy(update=update), active))
        return events

    def _panel_action(self, kind: EventType, action: Literal["reset", "silenced", "operation"],
                      unit: SystemStatus | OperationRecord, description: str = "") -> Event:
        point = system_point(unit.system_type, unit.system_address)
        payload = PanelAction(
            action=action,
            point=point,
            system_type=unit.system_type,
            system_address=unit.system_address,
            operator=str(unit.operator) if isinstance(unit, OperationRecord) else "",
            operation_code=unit.flags if isinstance(unit, OperationRecord) else None,
            description=description,
            device_time=self._local(unit.time),
        )
        return Event(kind, self.transmitter.id, payload, subject=point)

    def _forget_panel(self, system_type: int, system_address: int) -> None:
        self._pending.forget(panel_point(system_type, system_address) + "/")

    def _local(self, time: datetime | None) -> datetime | None:
        return time.replace(tzinfo=self._tz) if time is not None else None
