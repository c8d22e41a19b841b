"""The marketplace's rules on their own: states, audiences, drafts, settlements."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from domain.errors import Code, DomainError
from domain.marketplace.rules import (
    REQUEST_TRANSITIONS,
    Audience,
    AudienceScope,
    HelpRequestDraft,
    HelpRequestKind,
    HelpRequestStatus,
    MarketPolicy,
    OfferStatus,
    Settlement,
    admits,
    check_draft,
    check_offer_transition,
    check_request_transition,
    expiry_of,
    settlement_problem,
)
from domain.members.visibility import Relation

NOW = dt.datetime(2026, 11, 26, 12, tzinfo=dt.UTC)
POLICY = MarketPolicy()


def draft(**changes) -> HelpRequestDraft:
    base = HelpRequestDraft(
        title="Need SEO advice for a launch",
        details="We launch in May.",
        kind=HelpRequestKind.ADVICE,
        tags=["seo"],
        audience=Audience(AudienceScope.NETWORK),
        bounty=None,
        offers_iou=False,
        max_helpers=1,
        expires_at=None,
    )
    return dataclasses.replace(base, **changes)


def codes(checks) -> list[tuple[Code, tuple[str, ...] | None]]:
    return [(error.code, error.field) for error in checks.errors]


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (HelpRequestStatus.OPEN, HelpRequestStatus.IN_PROGRESS),
        (HelpRequestStatus.OPEN, HelpRequestStatus.CANCELLED),
        (HelpRequestStatus.OPEN, HelpRequestStatus.EXPIRED),
        (HelpRequestStatus.IN_PROGRESS, HelpRequestStatus.FULFILLED),
        (HelpRequestStatus.IN_PROGRESS, HelpRequestStatus.CANCELLED),
    ],
)
def test_the_design_s_request_moves_are_allowed(current, target):
    check_request_transition(current, target)


def test_every_other_request_move_is_an_invalid_transition():
    allowed = {(a, b) for a, targets in REQUEST_TRANSITIONS.items() for b in targets}
    refused = [
        (a, b) for a in HelpRequestStatus for b in HelpRequestStatus if (a, b) not in allowed
    ]
    assert (HelpRequestStatus.FULFILLED, HelpRequestStatus.CANCELLED) in refused
    assert (HelpRequestStatus.IN_PROGRESS, HelpRequestStatus.EXPIRED) in refused
    for current, target in refused:
        with pytest.raises(DomainError) as refusal:
            check_request_transition(current, target)
        assert refusal.value.code is Code.INVALID_TRANSITION


def test_offers_complete_only_once_accepted_and_end_for_good():
    check_offer_transition(OfferStatus.PENDING, OfferStatus.ACCEPTED)
    check_offer_transition(OfferStatus.ACCEPTED, OfferStatus.COMPLETED)
    for current, target in (
        (OfferStatus.PENDING, OfferStatus.COMPLETED),
        (OfferStatus.COMPLETED, OfferStatus.COMPLETED),  # a double-clicked completeHelp
        (OfferStatus.ACCEPTED, OfferStatus.ACCEPTED),  # a double-clicked acceptOffer
        (OfferStatus.DECLINED, OfferStatus.ACCEPTED),
        (OfferStatus.WITHDRAWN, OfferStatus.PENDING),
    ):
        with pytest.raises(DomainError) as refusal:
            check_offer_transition(current, target)
        assert refusal.value.code is Code.INVALID_TRANSITION
        assert current.value.lower() in refusal.value.message


@pytest.mark.parametrize(
    ("scope", "relation", "expected"),
    [
        (AudienceScope.PUBLIC, Relation.ANONYMOUS, True),
        (AudienceScope.NETWORK, Relation.NETWORK, True),
        (AudienceScope.NETWORK, Relation.MEMBER, False),
        (AudienceScope.CONNECTIONS, Relation.CONNECTION, True),
        (AudienceScope.CONNECTIONS, Relation.NETWORK, False),  # second degree sees nothing
        (AudienceScope.CONNECTIONS, Relation.SELF, True),
    ],
)
def test_audiences_by_relation(scope, relation, expected):
    viewer = None if relation is Relation.ANONYMOUS else 7
    assert admits(Audience(scope), relation=relation, viewer_id=viewer) is expected


def test_chosen_circles_and_members_see_it_and_no_one_else():
    circles = Audience(AudienceScope.CIRCLES, circle_ids=frozenset({3}))
    assert admits(circles, relation=Relation.MEMBER, viewer_id=7, viewer_circle_ids=frozenset({3}))
    assert not admits(
        circles, relation=Relation.CONNECTION, viewer_id=7, viewer_circle_ids=frozenset({4})
    )
    chosen = Audience(AudienceScope.MEMBERS, member_ids=frozenset({7}))
    assert admits(chosen, relation=Relation.MEMBER, viewer_id=7)
    assert not admits(chosen, relation=Relation.CONNECTION, viewer_id=8)


def test_a_blocked_viewer_sees_only_public_requests():
    chosen = Audience(AudienceScope.MEMBERS, member_ids=frozenset({7}))
    assert not admits(chosen, relation=Relation.ANONYMOUS, viewer_id=7)
    assert admits(Audience(AudienceScope.PUBLIC), relation=Relation.ANONYMOUS, viewer_id=7)


def test_a_good_draft_has_no_problems_and_a_default_expiry():
    assert check_draft(draft(), now=NOW, policy=POLICY).errors == []
    assert expiry_of(draft(), now=NOW, policy=POLICY) == NOW + POLICY.default_expiry


def test_every_problem_of_a_draft_is_reported_with_its_field():
    bad = draft(
        title="Hi",
        bounty=0,
        max_helpers=0,
        expires_at=NOW - dt.timedelta(days=1),
        audience=Audience(AudienceScope.CIRCLES),
        tags=[f"t{n}" for n in range(11)],
    )
    assert codes(check_draft(bad, now=NOW, policy=POLICY)) == [
        (Code.INVALID_INPUT, ("title",)),
        (Code.LIMIT_EXCEEDED, ("tags",)),
        (Code.INVALID_INPUT, ("audience", "circle_ids")),
        (Code.INVALID_INPUT, ("bounty",)),
        (Code.INVALID_INPUT, ("max_helpers",)),
        (Code.INVALID_INPUT, ("expires_at",)),
    ]


def test_a_draft_too_far_ahead_or_with_control_characters_is_refused():
    far = draft(expires_at=NOW + dt.timedelta(days=91), details="a\x00b")
    assert codes(check_draft(far, now=NOW, policy=POLICY)) == [
        (Code.INVALID_INPUT, ("details",)),
        (Code.INVALID_INPUT, ("expires_at",)),
    ]


def test_settlements_need_what_the_request_offered():
    assert settlement_problem(Settlement.BOUNTY, bounty=None, offers_iou=True)
    assert settlement_problem(Settlement.IOU, bounty=10, offers_iou=False)
    assert settlement_problem(Settlement.BOUNTY, bounty=10, offers_iou=False) is None
    assert settlement_problem(Settlement.THANKS, bounty=None, offers_iou=False) is None
