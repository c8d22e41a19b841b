"""How strong a tie is: a pure function of what two members did together, and when.

Being connected is worth a little; each help exchanged and each intro made through the tie
adds with diminishing returns; the result halves for every ``HALF_LIFE`` without contact,
so ties left alone go cold. A tie is *cooling* when it was strong (``peak``) and has faded.
"""

from __future__ import annotations

import datetime as dt
import math

CONNECTED = 0.2
HELP_WEIGHT = 0.5
INTRO_WEIGHT = 0.3
HALF_LIFE = dt.timedelta(days=120)
STRONG = 0.5
COOLED = 0.6  # cooling: at most this share of its peak is left


def peak(*, help_count: int, intro_count: int) -> float:
    """Return the strength of a tie just after its last contact."""
    earned = 1 - math.exp(-(HELP_WEIGHT * help_count + INTRO_WEIGHT * intro_count))
    return CONNECTED + (1 - CONNECTED) * earned


def strength(
    *,
    help_count: int,
    intro_count: int,
    last_contact: dt.datetime,
    now: dt.datetime,
) -> float:
    """Return the strength in [0, 1] of a tie now."""
    quiet = max((now - last_contact).total_seconds(), 0.0)
    decay: float = 0.5 ** (quiet / HALF_LIFE.total_seconds())
    return round(
        min(max(peak(help_count=help_count, intro_count=intro_count) * decay, 0.0), 1.0), 4
    )


def is_cooling(
    *, help_count: int, intro_count: int, last_contact: dt.datetime, now: dt.datetime
) -> bool:
    """Tell whether a once-strong tie has gone quiet enough to deserve a nudge."""
    top = peak(help_count=help_count, intro_count=intro_count)
    current = strength(
        help_count=help_count, intro_count=intro_count, last_contact=last_contact, now=now
    )
    return top >= STRONG and current <= top * COOLED


# For finding cooling ties in SQL before the exact check: a tie whose effort
# (HELP_WEIGHT * helps + INTRO_WEIGHT * intros) is below this never reached STRONG, and one
# heard from within COOLING_AFTER has not faded to COOLED of its peak.
STRONG_EFFORT = -math.log(1 - (STRONG - CONNECTED) / (1 - CONNECTED))
COOLING_AFTER = HALF_LIFE * math.log2(1 / COOLED)
