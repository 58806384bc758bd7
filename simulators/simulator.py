"""The one contract between the simulated campus and every simulated device family.

A family (``simulators.SIMULATORS[driver]``) turns the site-file sections of its driver into a
``SimulatorGroup``: the devices plus whatever they share on the wire (a Modbus TCP port or an RS-485
line can carry several units), so the group, not the device, owns listening sockets and serial
links. Errors carry an HTTP status so the control API can answer them without a lookup table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError


class SimulatorError(Exception):
    """A request the simulator cannot carry out; the message says why, for the person testing."""

    status: ClassVar[int] = 409


class UnknownDevice(SimulatorError):
    status = 404


class UnknownAction(SimulatorError):
    status = 404


class InvalidArguments(SimulatorError):
    """Arguments that do not fit the action: a missing key, a wrong type, an unknown point."""

    status = 422


class UnknownPoint(InvalidArguments):
    pass


class StartError(SimulatorError):
    """A device that cannot be put on the wire (port in use, serial link path not usable)."""

    status = 500


class SimulatedDevice(Protocol):
    """One simulated device as the campus, the control API and the CLI see it."""

    device_id: str
    driver: str
    actions: Sequence[str]

    @property
    def address(self) -> str:
        """Where the gateway reaches it, in the words of the site file's ``endpoints()``."""
        ...

    @property
    def online(self) -> bool: ...

    def summary(self) -> str:
        """One line for the ``campus-sim serve`` banner, after the device id and address."""
        ...

    async def act(self, action: str, args: Mapping[str, Any]) -> None:
        """Carry out one named action (``press``, ``offline`` ...) with JSON-like arguments."""
        ...

    async def state(self) -> dict[str, Any]:
        """Everything a tester wants to see, JSON-ready, read back from the wire-side data."""
        ...


class SimulatorGroup(Protocol):
    """The simulated devices of one family and the links they share."""

    @property
    def devices(self) -> Sequence[SimulatedDevice]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


SimulatorFamily = Callable[[Sequence[Any]], SimulatorGroup]
"""What ``SIMULATORS`` maps a driver name to: builds a group from that driver's site sections."""


Args = TypeVar("Args", bound=BaseModel)


def parse_arguments(model: type[Args], what: str, args: Mapping[str, Any]) -> Args:
    """An action's arguments, or InvalidArguments naming the action and each bad argument."""
    try:
        return model.model_validate(dict(args))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'arguments'}: "
            + ("unknown argument" if e["type"] == "extra_forbidden" else e["msg"])
            for e in exc.errors()
        )
        raise InvalidArguments(f"{what}: {problems}") from None


class NoArgs(BaseModel):
    """An action that takes no arguments (online, state, reset, ...)."""

    model_config = ConfigDict(extra="forbid")


OfflineMode = Literal["refuse", "silent"]


class OfflineArgs(BaseModel):
    """``offline``: refuse connections, or keep them and never answer (a cut line)."""

    model_config = ConfigDict(extra="forbid")
    mode: OfflineMode = "refuse"
