"""The three known accounts, set up for README.md's first ten minutes.

Alice gives SEO help; Bob worked with Alice and met Carol; Carol organises a conference
and needs her website found. Alice and Carol have never met: Alice's warm path to Carol
runs through Bob, whose ties with both are strong and recent (help given both ways), and
no one else knows both of them. Carol ends with karma enough to post a bounty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.demo import helping
from domain.demo.cast import Profile
from domain.marketplace.rules import AudienceScope, HelpRequestKind, Settlement
from domain.members.models import GoalKind

if TYPE_CHECKING:
    from domain.demo.story import Story


def plan_journey(story: Story, generated: list[Profile]) -> None:
    """Plan Alice's, Bob's and Carol's ties, help and karma."""
    story.connect("alice", "bob", "Worked together at Northwind Analytics", story.days_ago(330))
    story.connect("bob", "carol", "Met at SaaStr Europe", story.days_ago(200))
    alices = [p for p in generated if p.field.slug == "marketing"][:5]
    carols = [p for p in generated if p.field.slug == "events"][:5]
    bobs = [p for p in generated if p.field.slug in ("product", "engineering")][:6]
    for index, profile in enumerate(alices):
        story.connect(
            profile.handle, "alice", f"Met at {_event(index)}", story.days_ago(300 - index * 40)
        )
    for index, profile in enumerate(carols):
        story.connect(
            "carol",
            profile.handle,
            "Both organise meetups in Lisbon",
            story.days_ago(280 - index * 40),
        )
    for index, profile in enumerate(bobs):
        story.connect(
            "bob",
            profile.handle,
            "Worked together at Bluefin Labs",
            story.days_ago(310 - index * 35),
        )
    # Someone Alice has not answered yet: her connection requests are not empty.
    designers = [p for p in generated if p.field.slug == "design"]
    if designers:
        story.connect(
            designers[0].handle,
            "alice",
            "Loved your talk on site migrations",
            story.days_ago(2),
            accept=None,
        )
    _helped(
        story,
        author="bob",
        helper="alice",
        days_ago=150,
        title="SEO advice for our pricing pages",
        kind=HelpRequestKind.ADVICE,
        tags=("SEO",),
        details="Our pricing pages never show up in search. What would you fix first?",
        bounty=10,
        settlement=Settlement.BOUNTY,
        tip=2,
    )
    _helped(
        story,
        author="carol",
        helper="bob",
        days_ago=60,
        title="Judges for a startup pitch contest",
        kind=HelpRequestKind.EVENT,
        tags=("Product Management",),
        details="Three judges, one evening, in Lisbon or remote.",
        bounty=None,
        settlement=Settlement.THANKS,
        tip=None,
    )
    _helped(
        story,
        author="alice",
        helper="bob",
        days_ago=45,
        title="Feedback on a talk proposal about SEO for SaaS",
        kind=HelpRequestKind.FEEDBACK,
        tags=("Public Speaking", "SEO"),
        details="A 300-word abstract for a conference CFP.",
        bounty=None,
        settlement=Settlement.IOU,
        tip=None,
        offers_iou=True,
    )
    _helped(
        story,
        author="bob",
        helper="carol",
        days_ago=21,
        title="Speakers for our product meetup in Berlin",
        kind=HelpRequestKind.EVENT,
        tags=("Public Speaking",),
        details="Two twenty-minute talks about discovery.",
        bounty=15,
        settlement=Settlement.BOUNTY,
        tip=None,
    )

    async def thank_carol() -> None:
        await helping.send_karma(story, story.ids["bob"], story.ids["carol"], 10)

    story.at(story.days_ago(10), thank_carol)

    async def carols_goal() -> None:
        await story.add_goal(
            "carol",
            "Organise SaaS Summit Lisbon: speakers, sponsors, a site people find",
            GoalKind.EVENT,
            ("Event Planning", "Sponsorship", "SaaS"),
        )

    story.at(story.days_ago(30), carols_goal)

    async def carols_ask() -> None:
        await helping.post(
            story,
            story.ids["carol"],
            title="Intros to sponsors for SaaS Summit Lisbon",
            details="Developer-tools and SaaS companies that sponsor European events.",
            kind=HelpRequestKind.INTRO,
            tags=("Sponsorship", "SaaS"),
            scope=AudienceScope.NETWORK,
            bounty=None,
            offers_iou=False,
            lasts=story.days(40),
        )

    story.at(story.days_ago(3), carols_ask)


def _helped(
    story: Story,
    *,
    author: str,
    helper: str,
    days_ago: float,
    title: str,
    kind: HelpRequestKind,
    tags: tuple[str, ...],
    details: str,
    bounty: int | None,
    settlement: Settlement,
    tip: int | None,
    offers_iou: bool = False,
) -> None:
    async def post() -> None:
        author_id, helper_id = story.ids[author], story.ids[helper]
        request_id = await helping.post(
            story,
            author_id,
            title=title,
            details=details,
            kind=kind,
            tags=tags,
            scope=AudienceScope.CONNECTIONS,
            bounty=bounty,
            offers_iou=offers_iou,
            lasts=story.days(30),
        )
        helping.follow(
            story,
            author_id,
            request_id,
            [helper_id],
            until="completed",
            bounty=bounty,
            offers_iou=offers_iou,
            settlement=settlement,
            tip=tip,
        )

    story.at(story.days_ago(days_ago), post)


def _event(index: int) -> str:
    return ("MozCon", "a London growth dinner", "Web Summit", "SaaStr Europe", "Config")[index % 5]
