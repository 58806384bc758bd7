"""The alarm sound: a two-tone (hi-lo) signal like a European emergency siren, made once at start.

Synthesised rather than shipped, so no sound file (and no licence for one) is needed. Two tones,
960 Hz and 770 Hz, 0.4 s each, with short fades so the loop does not click.
"""

from __future__ import annotations

import io
import math
import wave
from array import array

RATE = 16_000
TONES = (960.0, 770.0)
EACH = 0.4
FADE = 0.01
LEVEL = 0.6


def alarm_wav() -> bytes:
    samples = array("h")
    per_tone = int(RATE * EACH)
    fade = int(RATE * FADE)
    for frequency in TONES:
        for n in range(per_tone):
            envelope = min(1.0, n / fade, (per_tone - n) / fade)
            value = LEVEL * envelope * math.sin(2 * math.pi * frequency * n / RATE)
            samples.append(int(value * 32767))
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(RATE)
        file.writeframes(samples.tobytes())
    return out.getvalue()
