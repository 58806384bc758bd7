"""The one contract between the gateway and every driver."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any, Protocol

from gateway.events import Event


class DeviceSink(Protocol):
    """Where a driver hands what it observed. Never blocks; never raises."""

    def emit(self, event: Event) -> None: ...

    def availability(self, device_id: str, online: bool, reason: str) -> None: ...

    def active_conditions(self, device_id: str) -> AbstractSet[str]:
        """``point/condition`` keys the gateway believes active (open alarms), for resync."""
        ...


class ActionError(Exception):
    """A device action that was refused or failed; the message says why, for the operator."""


class Driver(Protocol):
    """One running device. ``run`` returns or raises only when the driver must be restarted."""

    device_id: str

    async def run(self) -> None: ...

    async def execute(self, action: str, args: Mapping[str, Any]) -> dict[str, Any]: ...
