"""The simulated OSDP buses of a site: one line per site-file section, its readers and doors.

Every reader (id = reader id) and every door (id = door id) is a simulated device of its own.
The bus itself (id = the section's id) is one too: ``unplug``/``plug`` take the whole line away
and back, and any reader or door action can be sent to it with ``reader=<id>`` or ``door=<id>``
(for a campus that lists only the site file's device ids).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from drivers.osdp.models import OsdpBusConfig
from simulators.osdp.door import SimulatedDoor
from simulators.osdp.line import Line
from simulators.osdp.reader import SimulatedReader
from simulators.simulator import SimulatedDevice, UnknownAction, UnknownDevice

BUS_ACTIONS = ("unplug", "plug")


class OsdpBusSimulator:
    driver = "osdp"
    actions: Sequence[str] = (*BUS_ACTIONS, "<reader action> reader=<id>",
                              "<door action> door=<id>")

    def __init__(self, config: OsdpBusConfig) -> None:
        self.config = config
        self.device_id = config.id
        self.line = Line(config)
        self.readers = {r.id: SimulatedReader(config, r, self.line) for r in config.readers}
        self.doors = {r.door.id: SimulatedDoor(r.door, self.readers[r.id])
                      for r in config.readers if r.door is not None}
        self.line.stations = list(self.readers.values())

    @property
    def address(self) -> str:
        return self.line.address

    @property
    def online(self) -> bool:
        return self.line.link_up

    def summary(self) -> str:
        return "readers: " + ", ".join(self.readers) + (
            "  doors: " + ", ".join(self.doors) if self.doors else "")

    async def start(self) -> None:
        for reader in self.readers.values():
            reader.setup()  # before the line's thread runs
        await self.line.start()

    async def stop(self) -> None:
        for door in self.doors.values():
            await door.stop()
        for reader in self.readers.values():
            await reader.stop()
        await self.line.stop()

    async def act(self, action: str, args: Mapping[str, Any]) -> None:
        if action == "unplug":
            self.line.unplug()
            return
        if action == "plug":
            self.line.plug()
            return
        rest = {k: v for k, v in args.items() if k not in ("reader", "door")}
        if "reader" in args:
            reader = self.readers.get(str(args["reader"]))
            if reader is None:
                raise UnknownDevice(f"{self.device_id}: no reader {args['reader']!r} "
                                    f"(readers: {', '.join(self.readers)})")
            await reader.act(action, rest)
            return
        if "door" in args:
            door = self.doors.get(str(args["door"]))
            if door is None:
                raise UnknownDevice(f"{self.device_id}: no door {args['door']!r} "
                                    f"(doors: {', '.join(self.doors) or 'none'})")
            await door.act(action, rest)
            return
        raise UnknownAction(f"{self.device_id}: unknown action {action!r} (known: unplug, plug; "
                            "reader and door actions need reader=<id> or door=<id>)")

    async def state(self) -> dict[str, Any]:
        return {"id": self.device_id, "driver": self.driver, "address": self.address,
                "online": self.online, "connections": self.line.connections,
                "readers": list(self.readers), "doors": list(self.doors),
                "actions": list(self.actions)}


class OsdpSimulators:
    """What ``simulators.families`` builds for ``driver: osdp``."""

    def __init__(self, configs: Sequence[OsdpBusConfig]) -> None:
        self.buses = [OsdpBusSimulator(c) for c in configs]
        self._started: list[OsdpBusSimulator] = []

    @property
    def devices(self) -> Sequence[SimulatedDevice]:
        devices: list[SimulatedDevice] = []
        for bus in self.buses:
            devices.append(bus)
            devices.extend(bus.readers.values())
            devices.extend(bus.doors.values())
        return devices

    def device(self, device_id: str) -> SimulatedDevice:
        for device in self.devices:
            if device.device_id == device_id:
                return device
        raise UnknownDevice(f"no OSDP device {device_id!r}")

    def reader(self, reader_id: str) -> SimulatedReader:
        for bus in self.buses:
            if reader_id in bus.readers:
                return bus.readers[reader_id]
        raise UnknownDevice(f"no simulated reader {reader_id!r}")

    def door(self, door_id: str) -> SimulatedDoor:
        for bus in self.buses:
            if door_id in bus.doors:
                return bus.doors[door_id]
        raise UnknownDevice(f"no simulated door {door_id!r}")

    async def start(self) -> None:
        try:
            for bus in self.buses:
                self._started.append(bus)
                await bus.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        while self._started:
            await self._started.pop().stop()


def osdp_family(configs: Sequence[Any]) -> OsdpSimulators:
    return OsdpSimulators(list(configs))
