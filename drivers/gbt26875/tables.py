"""The code tables of GB/T 26875.3-2011: status bits, operation flags, system and component types.

Kept as data so an operator-facing name never depends on code paths, and so an unknown code
still gets a readable name ("component type 133") instead of an error: devices in the field
use reserved and user-defined codes (128-255) freely.
"""

from __future__ import annotations

from enum import IntFlag


class ComponentBit(IntFlag):
    """Status word of a building fire-facility component (type 2)."""

    NORMAL = 1 << 0  # 1 normal operation, 0 test mode
    FIRE = 1 << 1
    FAULT = 1 << 2
    SHIELDED = 1 << 3
    SUPERVISORY = 1 << 4
    STARTED = 1 << 5
    FEEDBACK = 1 << 6
    DELAY = 1 << 7
    POWER_FAULT = 1 << 8


class SystemBit(IntFlag):
    """Status word of a building fire-facility system such as a fire alarm panel (type 1)."""

    NORMAL = 1 << 0  # 1 normal operation, 0 test mode
    FIRE = 1 << 1
    FAULT = 1 << 2
    SHIELDED = 1 << 3
    SUPERVISORY = 1 << 4
    STARTED = 1 << 5
    FEEDBACK = 1 << 6
    DELAY = 1 << 7
    MAIN_POWER_FAULT = 1 << 8
    BACKUP_POWER_FAULT = 1 << 9
    BUS_FAULT = 1 << 10
    MANUAL_MODE = 1 << 11
    CONFIG_CHANGED = 1 << 12
    RESET = 1 << 13


class TransmitterBit(IntFlag):
    """Status byte of the user information transmission device itself (type 21)."""

    NORMAL = 1 << 0  # 1 normal monitoring, 0 test mode
    FIRE = 1 << 1
    FAULT = 1 << 2
    MAIN_POWER_FAULT = 1 << 3
    BACKUP_POWER_FAULT = 1 << 4
    CHANNEL_FAULT = 1 << 5  # communication channel to the monitoring centre
    LINE_FAULT = 1 << 6  # line to the monitored fire panel


class OperationFlag(IntFlag):
    """Operation byte of a fire-facility operation record (type 4)."""

    RESET = 1 << 0
    SILENCE = 1 << 1
    MANUAL_ALARM = 1 << 2
    ALARM_CLEARED = 1 << 3
    SELF_TEST = 1 << 4
    CONFIRM = 1 << 5
    TEST = 1 << 6


class TransmitterOperationFlag(IntFlag):
    """Operation byte of a transmission-device operation record (type 24)."""

    RESET = 1 << 0
    SILENCE = 1 << 1
    MANUAL_ALARM = 1 << 2
    ALARM_CLEARED = 1 << 3
    SELF_TEST = 1 << 4
    DUTY_ANSWERED = 1 << 5  # the person on duty answered a duty check (查岗应答)
    TEST = 1 << 6


COMPONENT_BIT_NAMES: dict[int, str] = {
    ComponentBit.NORMAL: "normal",
    ComponentBit.FIRE: "fire alarm",
    ComponentBit.FAULT: "fault",
    ComponentBit.SHIELDED: "shielded",
    ComponentBit.SUPERVISORY: "supervisory",
    ComponentBit.STARTED: "started",
    ComponentBit.FEEDBACK: "feedback",
    ComponentBit.DELAY: "delay",
    ComponentBit.POWER_FAULT: "power fault",
}

SYSTEM_BIT_NAMES: dict[int, str] = {
    SystemBit.NORMAL: "normal",
    SystemBit.FIRE: "fire alarm",
    SystemBit.FAULT: "fault",
    SystemBit.SHIELDED: "shielded",
    SystemBit.SUPERVISORY: "supervisory",
    SystemBit.STARTED: "started",
    SystemBit.FEEDBACK: "feedback",
    SystemBit.DELAY: "delay",
    SystemBit.MAIN_POWER_FAULT: "main power fault",
    SystemBit.BACKUP_POWER_FAULT: "backup power fault",
    SystemBit.BUS_FAULT: "bus fault",
    SystemBit.MANUAL_MODE: "manual mode",
    SystemBit.CONFIG_CHANGED: "configuration changed",
    SystemBit.RESET: "reset",
}

TRANSMITTER_BIT_NAMES: dict[int, str] = {
    TransmitterBit.NORMAL: "normal monitoring",
    TransmitterBit.FIRE: "fire alarm",
    TransmitterBit.FAULT: "fault",
    TransmitterBit.MAIN_POWER_FAULT: "main power fault",
    TransmitterBit.BACKUP_POWER_FAULT: "backup power fault",
    TransmitterBit.CHANNEL_FAULT: "communication channel fault",
    TransmitterBit.LINE_FAULT: "monitoring line fault",
}

OPERATION_FLAG_NAMES: dict[int, str] = {
    OperationFlag.RESET: "reset",
    OperationFlag.SILENCE: "silence",
    OperationFlag.MANUAL_ALARM: "manual alarm",
    OperationFlag.ALARM_CLEARED: "alarm cleared",
    OperationFlag.SELF_TEST: "self test",
    OperationFlag.CONFIRM: "confirm",
    OperationFlag.TEST: "test",
}

TRANSMITTER_OPERATION_FLAG_NAMES: dict[int, str] = {
    **OPERATION_FLAG_NAMES,
    TransmitterOperationFlag.DUTY_ANSWERED: "duty check answered",
}

SYSTEM_TYPES: dict[int, str] = {
    0: "generic",
    1: "fire alarm system",
    10: "fire linkage controller",
    11: "fire hydrant system",
    12: "automatic sprinkler system",
    13: "gas extinguishing system",
    14: "water spray system (pump start)",
    15: "water spray system (pressure vessel start)",
    16: "foam extinguishing system",
    17: "dry powder extinguishing system",
    18: "smoke control system",
    19: "fire door and shutter system",
    20: "fire elevator",
    21: "emergency broadcast",
    22: "emergency lighting and evacuation signs",
    23: "fire power supply",
    24: "fire telephone",
}

COMPONENT_TYPES: dict[int, str] = {
    0: "generic",
    1: "fire alarm control panel",
    10: "combustible gas detector",
    11: "point combustible gas detector",
    12: "stand-alone combustible gas detector",
    13: "line combustible gas detector",
    16: "electrical fire monitoring unit",
    17: "residual current electrical fire detector",
    18: "temperature electrical fire detector",
    21: "detection loop",
    22: "fire display panel",
    23: "manual call point",
    24: "hydrant button",
    25: "fire detector",
    30: "heat detector",
    31: "point heat detector",
    32: "point heat detector (S)",
    33: "point heat detector (R)",
    34: "line heat detector",
    35: "line heat detector (S)",
    36: "line heat detector (R)",
    37: "fibre-optic heat detector",
    40: "smoke detector",
    41: "point ionisation smoke detector",
    42: "point photoelectric smoke detector",
    43: "beam smoke detector",
    44: "aspirating smoke detector",
    50: "multi-sensor detector",
    51: "smoke and heat detector",
    52: "flame and heat detector",
    53: "flame and smoke detector",
    61: "ultraviolet flame detector",
    62: "infrared flame detector",
    69: "flame detector",
    74: "gas detector",
    78: "video fire detector",
    79: "acoustic fire detector",
    81: "gas extinguishing controller",
    82: "fire electrical control unit",
    83: "fire control room display",
    84: "module",
    85: "input module",
    86: "output module",
    87: "input/output module",
    88: "relay module",
    91: "fire pump",
    92: "fire water tank",
    95: "sprinkler pump",
    96: "water flow indicator",
    97: "signal valve",
    98: "alarm valve",
    99: "pressure switch",
    101: "valve actuator",
    102: "fire door",
    103: "fire damper",
    104: "ventilation and air conditioning",
    105: "foam pump",
    106: "pipe network solenoid valve",
    111: "smoke control fan",
    113: "smoke exhaust fire damper",
    114: "normally closed air inlet",
    115: "smoke exhaust outlet",
    116: "smoke curtain",
    117: "fire shutter controller",
    118: "fire door monitor",
    121: "alarm sounder",
}


def bit_names(value: int, names: dict[int, str]) -> list[str]:
    """Names of the bits set in ``value``, lowest bit first; unnamed bits as ``bit N``."""
    out: list[str] = []
    for bit in range(value.bit_length()):
        mask = 1 << bit
        if value & mask:
            out.append(names.get(mask, f"bit {bit}"))
    return out


def component_type_name(code: int) -> str:
    if code in COMPONENT_TYPES:
        return COMPONENT_TYPES[code]
    if code >= 128:
        return f"user-defined component type {code}"
    return f"component type {code}"


def system_type_name(code: int) -> str:
    if code in SYSTEM_TYPES:
        return SYSTEM_TYPES[code]
    if code >= 128:
        return f"user-defined system type {code}"
    return f"system type {code}"
