"""The register-map profile of a fire panel model, as data (``config/profiles/fire/NAME.yaml``).

A profile says where a panel model puts things in its Modbus tables: which loops and points
exist, where each condition of each point is read (one bit per point per condition, or one
status word per point), and where the panel-level flags live (power faults, reset, silenced).
The driver, the decoder and the simulator are generic, so a new panel model is a new file
rather than new code. The models only check each section's own shape and the cross-references
between sections; ``register_map`` lays the points out on the tables and finds overlaps.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Discriminator, Field, Tag, model_validator

from gateway.kernel.events import FireCondition
from gateway.kernel.fields import Identifier, Seconds, Strict

Table = Literal["coils", "discrete_inputs", "holding_registers", "input_registers"]
RegisterTable = Literal["holding_registers", "input_registers"]
BIT_TABLES: frozenset[str] = frozenset({"coils", "discrete_inputs"})
FIRE_CONDITIONS: tuple[str, ...] = get_args(FireCondition)

Address = Annotated[int, Field(ge=0, le=65535)]
BitNumber = Annotated[int, Field(ge=0, le=15, description="0 is the least significant bit")]
Word = Annotated[int, Field(ge=0, le=0xFFFF)]


class WordMatch(Strict):
    """How one condition shows in a 16-bit word: a single bit, or a field holding a code.

    ``bit: 3`` is active when bit 3 is set; ``mask: 0x00F0, value: 0x0020`` is active when those
    four bits hold 2 (panels that report one state code per point). ``active_low`` inverts the
    result, for panels that set a bit while the point is *normal*.
    """

    bit: BitNumber | None = None
    mask: Word | None = None
    value: Word | None = None
    active_low: bool = False

    @model_validator(mode="after")
    def _one_way(self) -> WordMatch:
        _check_word_match(self, required=True)
        return self

    def mask_value(self) -> tuple[int, int]:
        """The test as ``(word & mask) == value``."""
        if self.bit is not None:
            return 1 << self.bit, 1 << self.bit
        assert self.mask is not None and self.value is not None
        return self.mask, self.value


def _rule_kind(value: Any) -> str:
    return "rules" if isinstance(value, list) else "rule"


# One rule, or a list of rules any of which makes the condition active. The tags only steer
# validation (so an error names the one shape that was meant); the catalog leaves them out.
WordRules = Annotated[
    Annotated[WordMatch, Tag("rule")]
    | Annotated[list[WordMatch], Tag("rules"), Field(min_length=1)],
    Discriminator(_rule_kind),
]


class Flag(Strict):
    """One panel-level flag: a coil or discrete input, or a bit (or field) of a register."""

    table: Table
    address: Address
    bit: BitNumber | None = Field(default=None, description="register tables only")
    mask: Word | None = Field(default=None, description="register tables only, with value")
    value: Word | None = None
    active_low: bool = False

    @model_validator(mode="after")
    def _fits_table(self) -> Flag:
        if self.table in BIT_TABLES:
            if self.bit is not None or self.mask is not None or self.value is not None:
                raise ValueError(f"{self.table} hold single bits: give no bit, mask or value")
        else:
            _check_word_match(self, required=True)
        return self

    def mask_value(self) -> tuple[int, int]:
        if self.table in BIT_TABLES:
            return 1, 1
        if self.bit is not None:
            return 1 << self.bit, 1 << self.bit
        assert self.mask is not None and self.value is not None
        return self.mask, self.value


def _check_word_match(match: WordMatch | Flag, required: bool) -> None:
    if match.bit is not None and match.mask is not None:
        raise ValueError("give bit or mask, not both")
    if match.mask is None and match.value is not None:
        raise ValueError("value needs a mask")
    if match.mask is not None:
        if match.value is None:
            raise ValueError("mask needs a value (the code the masked bits hold)")
        if match.mask == 0:
            raise ValueError("mask must select at least one bit")
        if match.value & ~match.mask:
            raise ValueError(f"value {match.value:#06x} has bits outside mask {match.mask:#06x}")
    elif match.bit is None and required:
        raise ValueError("give bit (0-15) or mask and value")


class PanelCondition(Flag):
    """A condition of the whole panel beyond the standard flags (earth fault, loop open...)."""

    point: Identifier = Field(description="stable id used as the event's point, e.g. earth")
    condition: FireCondition
    description: str = ""
    component_type: str = ""


class ResetCoil(Strict):
    """The coil a gateway writes ON to reset the panel (optional; vendor-specific)."""

    address: Address
    release_after: Seconds | None = Field(
        default=None,
        description="write the coil OFF again after this long; leave out when the panel clears"
        " it itself",
    )


class PanelStatus(Strict):
    main_power_fault: Flag | None = None
    backup_power_fault: Flag | None = None
    reset: Flag | None = Field(default=None, description="set while (or just after) a reset")
    silenced: Flag | None = Field(default=None, description="sounders silenced")
    conditions: list[PanelCondition] = []
    reset_coil: ResetCoil | None = None

    @model_validator(mode="after")
    def _unique_points(self) -> PanelStatus:
        seen: set[str] = set(STANDARD_PANEL_POINTS.values())
        for index, extra in enumerate(self.conditions):
            if extra.point in seen:
                raise ValueError(f"conditions[{index}].point: {extra.point!r} is used twice")
            if _looks_like_loop_point(extra.point):
                raise ValueError(
                    f"conditions[{index}].point: {extra.point!r} looks like a loop point id"
                )
            seen.add(extra.point)
        return self


# Point ids of the standard panel-level power flags, as events name them.
STANDARD_PANEL_POINTS = {
    "main_power_fault": "system-main-power",
    "backup_power_fault": "system-backup-power",
}


def _looks_like_loop_point(point: str) -> bool:
    head, _, tail = point.partition("-")
    return head[:1] == "L" and head[1:].isdigit() and tail[:1] == "P" and tail[1:].isdigit()


class BitBlock(Strict):
    """Where one condition's bits start: bit ``slot`` of the block belongs to point ``slot``.

    In a coil or discrete-input block the slot is the address offset. In a register block 16
    slots share a register: slot ``n`` is register ``address + n // 16``, bit ``n % 16``
    counted from the least significant bit (``lsb_first``) or from the most (``msb_first``).
    """

    table: Table
    address: Address
    bit_order: Literal["lsb_first", "msb_first"] = "lsb_first"
    active_low: bool = False


class BitmapLayout(Strict):
    """One bit per point per condition: a block of bits for fire, another for fault..."""

    kind: Literal["bitmap"]
    conditions: dict[FireCondition, BitBlock] = Field(min_length=1)


class StatusWordLayout(Strict):
    """One register per point whose bits (or fields) are the point's conditions.

    A condition may list several rules; it is active when any of them is (a device that shows
    a fault both as a state code and as an isolator bit).
    """

    kind: Literal["status_word"]
    table: RegisterTable
    address: Address = Field(description="status word of the point in slot 0")
    stride: int = Field(default=1, ge=1, le=125, description="registers from one point to next")
    conditions: dict[FireCondition, WordRules] = Field(min_length=1)


Layout = Annotated[BitmapLayout | StatusWordLayout, Field(discriminator="kind")]


class PointRange(Strict):
    """Consecutive points of one loop: numbers ``first`` .. ``first + count - 1``."""

    loop: int = Field(ge=0, le=255)
    first: int = Field(default=1, ge=0, le=65535)
    count: int = Field(ge=1, le=4096)
    slot: int | None = Field(
        default=None, ge=0, le=65535,
        description="slot of the first point in every block; default: after the previous range",
    )
    zone: int | None = Field(default=None, ge=0, description="panel zone number of the points")
    component_type: str = ""
    description: str = Field(default="", description="may use {loop} and {point}")

    @model_validator(mode="after")
    def _template(self) -> PointRange:
        check_template(self.description)
        return self


class PointDetail(Strict):
    """What differs for one point from its range: its type, description or zone number."""

    loop: int = Field(ge=0, le=255)
    point: int = Field(ge=0, le=65535)
    zone: int | None = Field(default=None, ge=0)
    component_type: str | None = None
    description: str | None = None


class ProfileDefaults(Strict):
    """Site-file keys a panel section may leave out, as this panel model wants them."""

    unit: int | None = Field(default=None, ge=0, le=247)
    poll_interval: Seconds | None = None
    timeout: Seconds | None = None
    offline_after: int | None = Field(default=None, ge=1, le=10)


class FireProfile(Strict):
    description: str = ""
    defaults: ProfileDefaults = ProfileDefaults()
    read_gap: int = Field(
        default=0, ge=0, le=64,
        description="unused addresses one read may span to join two ranges (only for panels"
        " that answer reads there)",
    )
    points: list[PointRange] = Field(min_length=1)
    details: list[PointDetail] = []
    layout: Layout
    panel: PanelStatus = PanelStatus()

    @model_validator(mode="after")
    def _cross_references(self) -> FireProfile:
        owner: dict[tuple[int, int], int] = {}
        for index, block in enumerate(self.points):
            for number in range(block.first, block.first + block.count):
                if (block.loop, number) in owner:
                    raise ValueError(
                        f"points[{index}]: L{block.loop}-P{number} is also in"
                        f" points[{owner[block.loop, number]}]"
                    )
                owner[block.loop, number] = index
            if block.first + block.count - 1 > 65535:
                raise ValueError(f"points[{index}]: point numbers go past 65535")
        slots = self.slots()
        for index, (start, block) in enumerate(zip(slots, self.points, strict=True)):
            for other_index in range(index):
                other_start = slots[other_index]
                other_end = other_start + self.points[other_index].count
                if start < other_end and other_start < start + block.count:
                    raise ValueError(
                        f"points[{index}]: slots {start}-{start + block.count - 1} overlap"
                        f" points[{other_index}] (slots {other_start}-{other_end - 1})"
                    )
        seen: set[tuple[int, int]] = set()
        for index, detail in enumerate(self.details):
            key = (detail.loop, detail.point)
            if key not in owner:
                raise ValueError(
                    f"details[{index}]: no point L{detail.loop}-P{detail.point} in points"
                )
            if key in seen:
                raise ValueError(f"details[{index}]: L{detail.loop}-P{detail.point} given twice")
            seen.add(key)
        return self

    def slots(self) -> list[int]:
        """The first slot of each point range, filling in the ones the file leaves out."""
        starts: list[int] = []
        following = 0
        for block in self.points:
            start = following if block.slot is None else block.slot
            starts.append(start)
            following = start + block.count
        return starts


def check_template(text: str) -> None:
    """A description template may name only ``{loop}`` and ``{point}``."""
    try:
        text.format(loop=1, point=1)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"description {text!r}: {exc!s} is not a placeholder here; use {{loop}} and"
            " {point}, and {{ }} for literal braces"
        ) from None
