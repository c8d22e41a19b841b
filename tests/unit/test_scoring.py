"""Matching's scoring and caps on hand-made cases: who ranks first, and why."""

from __future__ import annotations

import datetime as dt
from typing import Any

from domain.matching.scoring import (
    Candidate,
    Caps,
    Member,
    ReasonCode,
    Role,
    Scored,
    TagMatch,
    Verdict,
    Via,
    closeness_of,
    fresh_of,
    match_of,
    rank,
    score,
    verdict,
)

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
SEO = TagMatch("SEO", Role.SKILL, holders=10)


def scored(candidate: Candidate) -> Scored:
    found = score(candidate)
    assert found is not None
    return found


def test_a_rare_skill_outranks_a_common_one():
    rare = Candidate(member_id=1, tags=[TagMatch("Rust", Role.SKILL, 2)], members=1000)
    common = Candidate(member_id=2, tags=[TagMatch("Excel", Role.SKILL, 600)], members=1000)
    assert [s.member_id for s in rank([common, rare], limit=2)] == [1, 2]


def test_a_give_outweighs_a_skill_and_closeness_multiplies():
    give = Candidate(member_id=1, tags=[TagMatch("SEO", Role.GIVES, 10)], members=100)
    skill = Candidate(member_id=2, tags=[SEO], members=100)
    assert scored(give).score > scored(skill).score
    friend = Candidate(member_id=3, tags=[SEO], members=100, tie_strength=0.8)
    via = Candidate(member_id=4, tags=[SEO], members=100, via=Via(9, "bob", 0.8))
    stranger = Candidate(member_id=5, tags=[SEO], members=100)
    order = [s.member_id for s in rank([stranger, via, friend], limit=3)]
    assert order == [3, 4, 5]
    reasons = scored(via).reasons
    assert [(r.code, r.label, r.subject_id) for r in reasons] == [
        (ReasonCode.SKILL_MATCH, "SEO", None),
        (ReasonCode.VIA, "bob", 9),
    ]
    assert ReasonCode.STRONG_TIE in [r.code for r in scored(friend).reasons]


def test_nothing_in_common_is_no_opportunity_but_an_iou_called_in_comes_first():
    assert score(Candidate(member_id=1)) is None
    owed = scored(Candidate(member_id=1, owes="carol"))
    assert owed.reasons[0].code is ReasonCode.YOU_OWE
    # even with no tie, what is owed outranks three rare skills from a close friend
    best_match = scored(Candidate(member_id=2, tags=[SEO] * 3, members=100, tie_strength=1.0))
    assert owed.score > best_match.score


def test_reciprocity_responsiveness_freshness_and_the_requesters_welcome_each_count():
    base: dict[str, Any] = {"member_id": 1, "tags": [SEO], "members": 100}
    plain = scored(Candidate(**base)).score
    assert scored(Candidate(**base, help_given=6, help_received=0)).score > plain
    assert scored(Candidate(**base, acted=5, ignored=0)).score > plain
    assert scored(Candidate(**base, acted=0, ignored=9)).score < plain
    assert scored(Candidate(**base, age=dt.timedelta(days=3))).score == round(plain / 2, 4)
    assert scored(Candidate(**base, declined_by_requester=2)).score < plain


def _member(**changes: Any) -> Member:
    fields: dict[str, Any] = {"budget": 3, "asked_this_week": 0, "pushed_today": 0} | changes
    return Member(**fields)


def test_the_weekly_help_budget_drops_asks_beyond_it_but_not_other_signals():
    spent = _member(asked_this_week=3)
    assert verdict(spent, NOW, asks=True) is Verdict.DROP
    assert verdict(spent, NOW, asks=False) is Verdict.PUSH
    assert verdict(_member(budget=0), NOW, asks=True) is Verdict.DROP
    assert verdict(_member(asked_this_week=2), NOW, asks=True) is Verdict.PUSH


def test_the_daily_push_limit_keeps_but_does_not_push():
    assert verdict(_member(pushed_today=10), NOW, asks=False) is Verdict.KEEP
    assert verdict(_member(pushed_today=1), NOW, asks=False, caps=Caps(1)) is Verdict.KEEP


def test_old_news_is_offered_but_not_pushed():
    fresh = NOW - dt.timedelta(minutes=59)
    stale = NOW - dt.timedelta(hours=2)
    assert verdict(_member(), NOW, asks=False, signalled_at=fresh) is Verdict.PUSH
    assert verdict(_member(), NOW, asks=False, signalled_at=stale) is Verdict.KEEP
    # Still dropped when the budget is spent, whatever its age.
    assert verdict(_member(budget=0), NOW, asks=True, signalled_at=stale) is Verdict.DROP
    assert (
        verdict(
            _member(),
            NOW,
            asks=False,
            caps=Caps(push_within=dt.timedelta(hours=3)),
            signalled_at=stale,
        )
        is Verdict.PUSH
    )


def test_quiet_hours_are_the_members_own_in_their_time_zone():
    night = {"quiet_start": dt.time(22), "quiet_end": dt.time(7)}
    # 12:00 UTC is 21:00 in Tokyo (awake) and 07:00 in Los Angeles… 04:00 (asleep)
    assert verdict(_member(timezone="Asia/Tokyo", **night), NOW, asks=False) is Verdict.PUSH
    la = _member(timezone="America/Los_Angeles", **night)
    assert verdict(la, NOW, asks=False) is Verdict.KEEP
    lunch = _member(quiet_start=dt.time(11), quiet_end=dt.time(13))  # UTC: no zone given
    assert verdict(lunch, NOW, asks=False) is Verdict.KEEP


def test_dismissals_feed_back():
    assert verdict(_member(not_relevant_from_source=2), NOW, asks=True) is Verdict.DROP
    assert verdict(_member(not_relevant_from_source=1), NOW, asks=True) is Verdict.PUSH
    assert verdict(_member(no_time_lately=True), NOW, asks=True) is Verdict.DROP


def test_before_the_shortlist_a_score_is_match_times_closeness_times_freshness():
    # Matching's preshortlist bounds scores from these three alone (nothing else read yet).
    tags = [TagMatch("SEO", Role.GIVES, 10), TagMatch("Copy", Role.SKILL, 700)]
    age = dt.timedelta(hours=5)
    for tie, via in ((0.8123, None), (None, 0.4567), (None, None)):
        candidate = Candidate(
            member_id=1,
            tags=tags,
            members=1000,
            tie_strength=tie,
            via=None if via is None else Via(2, "bob", via),
            age=age,
        )
        expected = match_of(tags, 1000) * closeness_of(tie, via) * fresh_of(age)
        assert scored(candidate).score == round(expected, 4)
