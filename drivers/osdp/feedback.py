"""OSDP command dicts (libosdp's shape) for the feedback, the relay and the idle LED. Pure."""

from __future__ import annotations

from typing import Any

from osdp import Command, CommandLEDColor

from drivers.osdp.models import Buzzer, IdleLed, Led, Relay, ticks

COLORS: dict[str, int] = {
    "black": CommandLEDColor.Black,
    "red": CommandLEDColor.Red,
    "green": CommandLEDColor.Green,
    "amber": CommandLEDColor.Amber,
    "blue": CommandLEDColor.Blue,
    "magenta": CommandLEDColor.Magenta,
    "cyan": CommandLEDColor.Cyan,
    "white": CommandLEDColor.White,
}

# osdp_LED temporary control codes; osdp_OUT control codes; osdp_BUZ tone codes
LED_SET_TEMPORARY = 2
LED_SET_PERMANENT = 1
OUT_PERMANENT_OFF = 1  # abort any timed operation
OUT_PERMANENT_ON = 2
OUT_PULSE_ON = 5  # on for the timer, then back to the permanent state
TONE_DEFAULT = 2
MAX_UNITS = 255  # libosdp 3.2's Python binding keeps only the low byte of these timers


def led_temporary(led: Led, at_least: float = 0.0) -> dict[str, Any]:
    """The LED pattern for a while (``at_least`` seconds if that is longer), then idle again."""
    return {
        "command": Command.LED, "reader": 0, "led_number": 0,
        "control_code": LED_SET_TEMPORARY, "temporary": True,
        "on_color": COLORS[led.color], "off_color": CommandLEDColor.Black,
        "on_count": min(MAX_UNITS, ticks(led.on)), "off_count": min(MAX_UNITS, ticks(led.off)),
        "timer_count": min(MAX_UNITS, ticks(max(led.duration(), at_least))),
    }


def led_permanent(idle: IdleLed) -> dict[str, Any]:
    return {
        "command": Command.LED, "reader": 0, "led_number": 0,
        "control_code": LED_SET_PERMANENT, "temporary": False,
        "on_color": COLORS[idle.color], "off_color": CommandLEDColor.Black,
        "on_count": min(MAX_UNITS, ticks(idle.on)), "off_count": min(MAX_UNITS, ticks(idle.off)),
    }


def buzzer(pattern: Buzzer) -> dict[str, Any]:
    return {
        "command": Command.Buzzer, "reader": 0, "control_code": TONE_DEFAULT,
        "on_count": min(MAX_UNITS, ticks(pattern.on)),
        "off_count": min(MAX_UNITS, ticks(pattern.off)), "rep_count": pattern.count,
    }


def relay_pulse(relay: Relay) -> dict[str, Any]:
    return {"command": Command.Output, "output_no": relay.output, "control_code": OUT_PULSE_ON,
            "timer_count": min(MAX_UNITS, ticks(relay.pulse))}


def relay_hold(relay: Relay, on: bool) -> dict[str, Any]:
    return {"command": Command.Output, "output_no": relay.output,
            "control_code": OUT_PERMANENT_ON if on else OUT_PERMANENT_OFF, "timer_count": 0}
