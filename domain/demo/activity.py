"""What the generated members do once they have joined: ask for help and give it, thank
each other in karma, broker intros and set goals.

Each plan draws who and what when it runs, from the state the story has reached by then
(who is connected, who can afford a bounty, who may owe one more IOU), so every command
it issues is one the domain accepts.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from domain.demo import helping
from domain.demo.cast import FIELDS, Ask, Profile
from domain.marketplace.rules import AudienceScope

if TYPE_CHECKING:
    from domain.demo.story import Action, Story

BOUNTIES = (5, 10, 10, 15, 20, 25)
SCOPES = (
    AudienceScope.NETWORK,
    AudienceScope.NETWORK,
    AudienceScope.PUBLIC,
    AudienceScope.CONNECTIONS,
)


def plan_activity(story: Story, generated: list[Profile]) -> None:
    """Plan a year of asks, offers, karma and intros among the generated members."""
    count = len(generated)
    for _ in range(count // 3):
        story.at(story.days_ago(300, 20), _ask(story, generated, "completed"))
    for _ in range(count // 30 + 1):
        story.at(story.days_ago(200, 30), _ask(story, generated, "cancelled"))
    for _ in range(count // 25 + 1):
        story.at(story.days_ago(14, 4), _ask(story, generated, "accepted"))
    for _ in range(count // 6 + 1):
        story.at(story.days_ago(10, 0.5), _ask(story, generated, "offered"))
    for _ in range(count // 5):
        story.at(story.days_ago(300, 1), _gift(story, generated))
    for _ in range(count // 30 + 1):
        story.at(story.days_ago(150, 10), _intro(story, generated))
    for profile in generated:
        if story.rng.random() < 0.25:
            story.at(story.days_ago(40, 1), _goal(story, profile))


def _others(story: Story, member_id: int) -> list[int]:
    """Return a member's connections, leaving out the journey's accounts (their ties and
    karma follow their own plan)."""
    journey = {story.ids[handle] for handle in story.journey if handle in story.ids}
    return sorted(story.ties[member_id] - journey)


def _ask(story: Story, generated: list[Profile], stage: str) -> Action:
    async def ask() -> None:
        rng = story.rng
        author = rng.choice(generated)
        author_id = story.ids[author.handle]
        helpers = _others(story, author_id)
        if stage != "offered" and not helpers:
            return
        if await helping.unfinished(story, author_id) >= story.policies.market.max_open_requests:
            return
        template = rng.choice(_asks_for(author))
        bounty: int | None = rng.choice(BOUNTIES) if rng.random() < 0.4 else None
        if bounty and await helping.available(story, author_id) < bounty:
            bounty = None
        offers_iou = (
            not bounty
            and rng.random() < 0.35
            and await helping.owed(story, author_id) < story.policies.market.ledger.max_ious_owed
        )
        lasts = story.days(rng.randint(21, 60) if stage == "offered" else 30)
        request_id = await helping.post(
            story,
            author_id,
            title=template.title,
            details=template.details,
            kind=template.kind,
            tags=template.tags,
            scope=rng.choice(SCOPES),
            bounty=bounty,
            offers_iou=offers_iou,
            lasts=lasts,
        )
        # Those who have the skill asked for offer first; others chip in.
        wanted = {tag.casefold() for tag in template.tags}
        skilled = [h for h in helpers if wanted & {s.casefold() for s in story.profiles[h].skills}]
        pool = skilled if skilled and rng.random() < 0.8 else helpers
        chosen = rng.sample(pool, rng.randint(0 if stage == "offered" else 1, min(3, len(pool))))
        helping.follow(
            story,
            author_id,
            request_id,
            chosen,
            until="offered" if stage == "cancelled" else stage,
            bounty=bounty,
            offers_iou=offers_iou,
            iou_fates=True,
        )
        if stage == "cancelled":

            async def cancel() -> None:
                await helping.cancel(story, author_id, request_id)

            story.at(story.tx.now + story.days(rng.uniform(3, 6)), cancel)

    return ask


def _asks_for(author: Profile) -> tuple[Ask, ...]:
    """Return what a member might ask: their own field's questions, and those of the
    fields that have what they seek."""
    seeks = {seek.casefold() for seek in author.seeks}
    sought = tuple(
        ask
        for field in FIELDS
        if field is not author.field and seeks & {skill.casefold() for skill in field.skills}
        for ask in field.asks
    )
    return author.field.asks + sought


def _gift(story: Story, generated: list[Profile]) -> Action:
    async def gift() -> None:
        sender_id = story.ids[story.rng.choice(generated).handle]
        friends = _others(story, sender_id)
        amount = story.rng.randint(2, 10)
        if friends and await helping.available(story, sender_id) >= amount:
            await helping.send_karma(story, sender_id, story.rng.choice(friends), amount)

    return gift


def _intro(story: Story, generated: list[Profile]) -> Action:
    async def intro() -> None:
        broker_id = story.ids[story.rng.choice(generated).handle]
        friends = _others(story, broker_id)
        strangers = [
            (first, second)
            for first, second in itertools.combinations(friends, 2)
            if second not in story.ties[first]
            and frozenset((story.profiles[first].handle, story.profiles[second].handle))
            not in story.planned_pairs
        ]
        if not strangers:
            return
        requester_id, target_id = story.rng.choice(strangers)
        story.planned_pairs.add(
            frozenset((story.profiles[requester_id].handle, story.profiles[target_id].handle))
        )
        await helping.introduce(story, requester_id, broker_id, target_id)

    return intro


def _goal(story: Story, profile: Profile) -> Action:
    async def goal() -> None:
        title, kind, tags = story.rng.choice(profile.field.goals)
        await story.add_goal(profile.handle, title, kind, tags)

    return goal
