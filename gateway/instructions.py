"""The ``instructions:`` section of the site file: what the guard does for each alarm condition
(who to call, where to go), shown on the alarm's card and detail page.

```yaml
instructions:
  panic: {text: Go to the button with the duty radio., call: [Duty head 138 0000 0000, "110"],
          go_to: the alarm's location}
  fire: {text: Check the panel, then start the evacuation roll call., call: ["119"],
         go_to: Assembly point - sports ground}
```
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from gateway.kernel.fields import Strict

Line = Annotated[str, Field(min_length=1, max_length=200)]


class Instruction(Strict):
    text: str = Field(min_length=1, max_length=1000, description="what to do, in a few lines")
    call: list[Line] = Field(default=[], max_length=10,
                             description="who to call, in order (name and number)")
    go_to: str = Field(default="", max_length=200, description="where to go")


def instruction_problems(instructions: dict[str, Instruction]) -> list[str]:
    """Conditions named in ``instructions`` that no alarm has (a typo would show nothing)."""
    from gateway.alarms import CONDITION_NAMES  # alarms reads config: imported when checked

    return [f"instructions.{name}: no alarm condition {name!r} (known: "
            f"{', '.join(sorted(CONDITION_NAMES))})"
            for name in instructions if name not in CONDITION_NAMES]
