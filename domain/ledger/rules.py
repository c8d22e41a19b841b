"""The ledger's knobs, and the reciprocity band: pure functions over counts."""

from __future__ import annotations

import dataclasses
import enum


@dataclasses.dataclass(frozen=True)
class LedgerPolicy:
    """How much karma flows where, and the caps on credit (all configurable, see README)."""

    welcome_karma: int = 50  # granted by the issuer on sign-up
    iou_value: int = 10  # what settling an IOU in karma costs
    max_ious_owed: int = 5  # outstanding IOUs a member may owe before asking on one is refused
    broker_share: int = 5  # karma the issuer credits a broker per accepted intro
    broker_weekly_cap: int = 25  # at most this much brokering karma per broker per 7 days
    max_gift: int = 1_000  # the most one sendKarma may move


class Band(enum.Enum):
    GIVER = "GIVER"
    MATCHER = "MATCHER"
    TAKER = "TAKER"
    NEW = "NEW"


# Below this many completed helps (given + received), a member's band is NEW.
MIN_HISTORY = 3
# Pseudo-counts added to both sides (Laplace smoothing): with little history the ratio
# stays near 1, so one help more or less cannot flip a band.
PRIOR = 2.0
# A ratio of given to received at or above GIVER_AT is a giver, at or below 1 / GIVER_AT a
# taker, and a matcher between.
GIVER_AT = 1.5


def band(*, help_given: int, help_received: int) -> Band:
    """Return the reciprocity band of a member from their completed help.

    ratio = (given + PRIOR) / (received + PRIOR). Given 3 and received 0 is 2.5: a giver;
    given 2 and received 1 is 1.33: a matcher; given 0 and received 3 is 0.4: a taker. The
    count of help is the journal's truth: karma and IOUs only move with it.
    """
    if help_given + help_received < MIN_HISTORY:
        return Band.NEW
    ratio = (help_given + PRIOR) / (help_received + PRIOR)
    if ratio >= GIVER_AT:
        return Band.GIVER
    if ratio <= 1 / GIVER_AT:
        return Band.TAKER
    return Band.MATCHER
