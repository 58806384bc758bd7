"""A fire-panel profile laid out on the Modbus tables: what to read, and what the values mean.

Everything here is pure: ``RegisterMap`` turns a ``FireProfile`` into one probe per point and
condition, plans the fewest reads that cover them, decodes the blocks read into the set of
active conditions, and encodes a set of conditions back into table values (for the simulator).
The driver owns the sockets; this module owns the meaning, so it is tested from hand-built
register blocks without any I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from drivers.modbus_fire.profile import (
    BIT_TABLES,
    STANDARD_PANEL_POINTS,
    BitBlock,
    BitmapLayout,
    FireProfile,
    Flag,
    PointDetail,
    PointRange,
    ResetCoil,
    StatusWordLayout,
)
from gateway.kernel.events import FireCondition

# The most one Modbus request may ask for (function codes 1/2 and 3/4).
MAX_BITS_PER_READ = 2000
MAX_REGISTERS_PER_READ = 125

ActiveCondition = tuple[str, FireCondition]
"""(point id, condition): one condition of one point that is active."""

Cell = tuple[str, int]
"""(table, address): one coil, discrete input or register."""


class MapError(ValueError):
    """A profile whose points do not fit the tables or overlap; the message names the path."""


class DecodeError(ValueError):
    """The blocks read do not cover an address the profile needs (a planning bug)."""


class EncodeError(ValueError):
    """Conditions that the profile cannot show at once (two codes in one status field)."""


@dataclass(frozen=True)
class Probe:
    """Where one yes/no fact is read: ``((value & mask) == match) != active_low``."""

    table: str
    address: int
    mask: int
    match: int
    active_low: bool = False

    def test(self, raw: int) -> bool:
        return ((raw & self.mask) == self.match) != self.active_low

    def apply(self, raw: int, active: bool) -> int:
        """``raw`` changed as little as possible so that ``test`` gives ``active``."""
        if active != self.active_low:
            return (raw & ~self.mask) | self.match
        if self.match:
            return raw & ~self.mask
        return raw | self.mask


@dataclass(frozen=True)
class FirePoint:
    """A point as events name it: a loop point, or a condition source of the whole panel."""

    id: str
    loop: int | None = None
    number: int | None = None
    zone: int | None = None
    component_type: str = ""
    description: str = ""
    status_word: Cell | None = None


@dataclass(frozen=True)
class Signal:
    """One condition of one point and a probe that reads it (a condition may have several)."""

    point: str
    condition: FireCondition
    probe: Probe


@dataclass(frozen=True)
class Read:
    """One Modbus read request: ``count`` coils, inputs or registers from ``address``."""

    table: str
    address: int
    count: int


@dataclass(frozen=True)
class Block:
    """Values read from one table, starting at ``address`` (bits as 0/1 or bool)."""

    table: str
    address: int
    values: Sequence[int]


@dataclass(frozen=True)
class PanelReading:
    """What one poll says: the active conditions, the panel flags and the raw status words."""

    active: frozenset[ActiveCondition]
    reset: bool = False
    silenced: bool = False
    status: Mapping[str, int] | None = None

    def status_of(self, point: str) -> int | None:
        return None if self.status is None else self.status.get(point)


def loop_point_id(loop: int, number: int) -> str:
    return f"L{loop}-P{number}"


class RegisterMap:
    """A profile compiled to probes and reads; built once per panel, used on every poll."""

    def __init__(self, profile: FireProfile, name: str = "") -> None:
        self.profile = profile
        self.name = name
        self.points: dict[str, FirePoint] = {}
        self.signals: list[Signal] = []
        self.flags: dict[str, Probe] = {}
        self._claims: dict[tuple[str, int, int], tuple[str, str, Probe]] = {}
        self._lay_out_points()
        self._lay_out_panel()
        self.reads: list[Read] = plan_reads(self._read_cells(), profile.read_gap)

    # --- layout -----------------------------------------------------------------------------

    @property
    def reset_coil(self) -> ResetCoil | None:
        return self.profile.panel.reset_coil

    @property
    def loop_points(self) -> list[FirePoint]:
        return [p for p in self.points.values() if p.loop is not None]

    def _lay_out_points(self) -> None:
        profile = self.profile
        details = {(d.loop, d.point): d for d in profile.details}
        layout = profile.layout
        for index, (start, block) in enumerate(zip(profile.slots(), profile.points, strict=True)):
            for offset in range(block.count):
                number = block.first + offset
                slot = start + offset
                where = f"points[{index}]"
                point = _point(block, number, details.get((block.loop, number)))
                if isinstance(layout, StatusWordLayout):
                    address = layout.address + slot * layout.stride
                    if address > 65535:
                        raise MapError(
                            f"{where}: the status word of {point.id} would be at register"
                            f" {address}, past 65535"
                        )
                    point = _with_status_word(point, (layout.table, address))
                    for condition, rules in layout.conditions.items():
                        for word in rules if isinstance(rules, list) else [rules]:
                            mask, match = word.mask_value()
                            probe = Probe(layout.table, address, mask, match, word.active_low)
                            self._add(point.id, condition, probe,
                                      f"layout.conditions.{condition}", owner=point.id)
                else:
                    assert isinstance(layout, BitmapLayout)
                    for condition, bits in layout.conditions.items():
                        path = f"layout.conditions.{condition}"
                        probe = _bit_probe(bits, slot, f"{path} ({where}, {point.id})")
                        self._add(point.id, condition, probe, path,
                                  owner=f"{point.id} {condition}")
                self.points[point.id] = point

    def _lay_out_panel(self) -> None:
        panel = self.profile.panel
        for name, point_id in STANDARD_PANEL_POINTS.items():
            flag = cast(Flag | None, getattr(panel, name))
            if flag is None:
                continue
            which = "Main" if name.startswith("main") else "Backup"
            self.points[point_id] = FirePoint(
                point_id, component_type="power supply", description=f"{which} power supply"
            )
            self._add(point_id, "power_fault", _flag_probe(flag), f"panel.{name}", owner=point_id)
        for index, extra in enumerate(panel.conditions):
            self.points[extra.point] = FirePoint(
                extra.point, component_type=extra.component_type, description=extra.description
            )
            self._add(extra.point, extra.condition, _flag_probe(extra),
                      f"panel.conditions[{index}]", owner=extra.point)
        for name in ("reset", "silenced"):
            flag = cast(Flag | None, getattr(panel, name))
            if flag is not None:
                probe = _flag_probe(flag)
                self._claim(probe, f"panel.{name}", owner=f"panel {name}")
                self.flags[name] = probe
        if panel.reset_coil is not None:
            coil = Probe("coils", panel.reset_coil.address, 1, 1)
            self._claim(coil, "panel.reset_coil", owner="panel reset_coil")

    def _add(self, point: str, condition: FireCondition, probe: Probe, where: str,
             owner: str) -> None:
        self._claim(probe, where, owner)
        self.signals.append(Signal(point, condition, probe))

    def _claim(self, probe: Probe, where: str, owner: str) -> None:
        """Two owners may not read the same bit, except as different codes of one field."""
        for bit in range(1 if probe.table in BIT_TABLES else 16):
            if probe.table not in BIT_TABLES and not probe.mask & (1 << bit):
                continue
            key = (probe.table, probe.address, bit)
            other = self._claims.get(key)
            if other is not None and other[0] != owner:
                shared_field = other[2].mask == probe.mask and other[2].match != probe.match
                if not (shared_field and probe.mask != probe.match):
                    place = f"{probe.table} {probe.address}"
                    if probe.table not in BIT_TABLES:
                        place += f" bit {bit}"
                    raise MapError(f"{where}: {owner} at {place} overlaps {other[1]} ({other[0]})")
            self._claims.setdefault(key, (owner, where, probe))

    def _read_cells(self) -> list[Cell]:
        probes = [s.probe for s in self.signals] + list(self.flags.values())
        return sorted({(p.table, p.address) for p in probes})

    # --- decoding ---------------------------------------------------------------------------

    def decode(self, blocks: Iterable[Block]) -> PanelReading:
        """The panel state the blocks show; ``blocks`` must cover ``reads``."""
        values: dict[Cell, int] = {}
        for block in blocks:
            for offset, value in enumerate(block.values):
                values[block.table, block.address + offset] = int(value)

        def raw(probe: Probe) -> int:
            try:
                return values[probe.table, probe.address]
            except KeyError:
                raise DecodeError(
                    f"profile {self.name or '?'} needs {probe.table} {probe.address},"
                    " which the blocks read do not contain"
                ) from None

        active = frozenset(
            (s.point, s.condition) for s in self.signals if s.probe.test(raw(s.probe))
        )
        status = {
            p.id: values[p.status_word] for p in self.points.values()
            if p.status_word is not None and p.status_word in values
        }
        reset, silenced = (self.flags.get(n) for n in ("reset", "silenced"))
        return PanelReading(
            active=active,
            reset=reset is not None and reset.test(raw(reset)),
            silenced=silenced is not None and silenced.test(raw(silenced)),
            status=status or None,
        )

    # --- encoding (what a panel puts on the wire) ---------------------------------------------

    def encode(
        self, active: Collection[ActiveCondition], flags: Collection[str] = ()
    ) -> dict[Cell, int]:
        """Table values that show exactly ``active`` and the named flags (reset, silenced)."""
        unknown = {point for point, _ in active} - set(self.points)
        if unknown:
            raise EncodeError(f"no point {', '.join(sorted(unknown))} in profile {self.name}")
        values: dict[Cell, int] = dict.fromkeys(
            ((r.table, r.address + i) for r in self.reads for i in range(r.count)), 0
        )
        wanted: list[tuple[Probe, bool]] = []
        shown: set[ActiveCondition] = set()
        for signal in self.signals:  # a condition with several rules is shown by its first
            key = (signal.point, signal.condition)
            wanted.append((signal.probe, key in active and key not in shown))
            shown.add(key)
        wanted += [(probe, name in flags) for name, probe in self.flags.items()]
        for want_active in (False, True):  # idle states first, so active ones win a shared field
            for probe, on in wanted:
                if on == want_active:
                    cell = (probe.table, probe.address)
                    values[cell] = probe.apply(values[cell], on)
        reading = self.decode(Block(t, a, [v]) for (t, a), v in values.items())
        if reading.active != frozenset(active):
            clash = sorted(f"{p}/{c}" for p, c in reading.active.symmetric_difference(active))
            raise EncodeError(
                f"profile {self.name} cannot show these conditions at once: {', '.join(clash)}"
            )
        return values


def plan_reads(cells: Iterable[Cell], gap: int = 0) -> list[Read]:
    """The fewest reads covering ``cells``: runs of addresses at most ``gap`` apart, per table."""
    reads: list[Read] = []
    by_table: dict[str, list[int]] = {}
    for table, address in cells:
        by_table.setdefault(table, []).append(address)
    for table in sorted(by_table):
        limit = MAX_BITS_PER_READ if table in BIT_TABLES else MAX_REGISTERS_PER_READ
        start = end = -1
        for address in sorted(set(by_table[table])):
            if start >= 0 and address - end - 1 <= gap and address - start < limit:
                end = address
                continue
            if start >= 0:
                reads.append(Read(table, start, end - start + 1))
            start = end = address
        if start >= 0:
            reads.append(Read(table, start, end - start + 1))
    return reads


def _point(block: PointRange, number: int, detail: PointDetail | None) -> FirePoint:
    zone = block.zone
    component_type = block.component_type
    description = block.description.format(loop=block.loop, point=number)
    if detail is not None:
        zone = detail.zone if detail.zone is not None else zone
        component_type = detail.component_type or component_type
        description = detail.description if detail.description is not None else description
    return FirePoint(
        loop_point_id(block.loop, number), block.loop, number, zone, component_type, description
    )


def _with_status_word(point: FirePoint, cell: Cell) -> FirePoint:
    return FirePoint(point.id, point.loop, point.number, point.zone, point.component_type,
                     point.description, cell)


def _bit_probe(bits: BitBlock, slot: int, where: str) -> Probe:
    if bits.table in BIT_TABLES:
        address, mask = bits.address + slot, 1
    else:
        address = bits.address + slot // 16
        bit = slot % 16 if bits.bit_order == "lsb_first" else 15 - slot % 16
        mask = 1 << bit
    if address > 65535:
        raise MapError(f"{where}: would be at {bits.table} {address}, past 65535")
    return Probe(bits.table, address, mask, mask, bits.active_low)


def _flag_probe(flag: Flag) -> Probe:
    mask, match = flag.mask_value()
    return Probe(flag.table, flag.address, mask, match, flag.active_low)

