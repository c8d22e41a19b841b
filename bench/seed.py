"""Fill a migrated database with members quickly and deterministically.

Rows go in through the domain's tables in bulk (one executemany per table) rather than
through ``sign_up``: argon2 alone would take minutes for a few thousand members. What
sign-up and the profile commands would store is reproduced, ``search_text`` included, so
full-text search finds these members (on SQLite the FTS5 triggers index each insert).
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import itertools
import random
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Table, insert, select

from domain.members import rules
from domain.members import tags as tag_rules
from domain.members.models import Give, Member, MemberTag, Tag, TagKind, TagRole, Visibility
from domain.members.service import DEFAULT_HELP_REQUESTS_PER_WEEK, _search_text
from domain.store import Base, Store

# Most common first: draws are Zipf-weighted by position, so the first few are on many profiles.
TAG_LABELS: tuple[str, ...] = (
    "Python", "Product Management", "JavaScript", "Marketing", "SQL", "UX", "Sales",
    "Fundraising", "Machine Learning", "Data Science", "TypeScript", "Leadership", "SEO",
    "Go", "React", "Public Speaking", "Mentoring", "Hiring", "Kubernetes", "AWS", "Design",
    "Copywriting", "Growth", "Analytics", "Strategy", "Finance", "Rust", "Java", "Node.js",
    "PostgreSQL", "DevOps", "Docker", "Security", "Accessibility", "Content Strategy",
    "Recruiting", "Human Resources", "Accounting", "Legal", "Venture Capital",
    "Angel Investing", "Business Development", "Partnerships", "Go-to-Market", "Pricing",
    "Excel", "Statistics", "Research", "User Research", "Design Systems", "Figma",
    "Branding", "Photography", "Video Editing", "Kotlin", "Swift", "GCP", "Azure",
    "Terraform", "Linux", "Cryptography", "Tax", "Contracts", "Tableau", "Power BI",
    "Econometrics", "Illustration", "Animation", "Game Design", "Unity", "C++", "C#",
    ".NET", "PHP", "Laravel", "Ruby", "Rails", "Django", "Flask", "FastAPI", "GraphQL",
    "REST APIs", "gRPC", "Microservices", "Distributed Systems", "Databases", "MongoDB",
    "Redis", "Kafka", "Elasticsearch", "Spark", "Airflow", "dbt", "Data Engineering",
    "ETL", "MLOps", "Computer Vision", "NLP", "LLMs", "Prompt Engineering", "Robotics",
    "Embedded Systems", "IoT", "Hardware", "PCB Design", "Electronics",
    "Mechanical Engineering", "CAD", "3D Printing", "Manufacturing", "Supply Chain",
    "Logistics", "Operations", "Project Management", "Agile", "Scrum", "Lean",
    "Quality Assurance", "Test Automation", "Mobile Development", "iOS", "Android",
    "Flutter", "React Native", "Web Performance", "Frontend", "Backend", "Full Stack",
    "Cloud Architecture", "Site Reliability", "Observability", "Incident Response",
    "Networking", "Blockchain", "Smart Contracts", "FinTech", "Payments", "Banking",
    "Insurance", "HealthTech", "Biotech", "Clinical Research", "Bioinformatics",
    "Climate Tech", "Renewable Energy", "Sustainability", "Urban Planning", "Architecture",
    "Real Estate", "Construction", "Retail", "E-commerce", "Marketplaces", "SaaS",
    "Customer Success", "Customer Support", "Community Building", "Social Media",
    "Email Marketing", "Paid Ads", "Performance Marketing", "PR", "Journalism", "Writing",
    "Editing", "Translation", "Localization", "Teaching", "Curriculum Design", "EdTech",
    "Coaching", "Career Coaching", "Negotiation", "Consulting", "Mergers and Acquisitions",
    "Financial Modeling", "Private Equity", "Nonprofits", "Grant Writing", "Policy",
    "Open Source", "Technical Writing", "Developer Relations", "Product Design",
    "Interaction Design", "Service Design", "Facilitation", "Event Planning", "Podcasting",
    "Music Production", "Sound Design", "Film", "Startups", "Entrepreneurship",
    "Bootstrapping", "Remote Work", "Diversity and Inclusion", "AI Safety", "Elixir",
    "Haskell", "Scala", "Julia", "WebAssembly", "Vue.js", "Svelte", "Angular",
)  # fmt: skip

FIRST_NAMES = (
    "Ada", "Amara", "Ana", "Arjun", "Aylin", "Bruno", "Chen", "Chiara", "Dana", "Diego",
    "Elif", "Emma", "Farah", "Felix", "Hana", "Hugo", "Ines", "Ivan", "Jonas", "Kemi",
    "Kenji", "Lena", "Leo", "Lucia", "Maya", "Mateo", "Mei", "Nadia", "Noah", "Omar",
    "Priya", "Rafael", "Rosa", "Sami", "Sara", "Tariq", "Tomas", "Vera", "Yusuf", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Adeyemi", "Almeida", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia",
    "Haddad", "Ito", "Jensen", "Kaur", "Kowalski", "Laurent", "Martin", "Moreau", "Nakamura",
    "Novak", "Okafor", "Olsen", "Park", "Petrov", "Quinn", "Rossi", "Santos", "Schmidt",
    "Silva", "Singh", "Tanaka", "Usman", "Varga", "Wang", "Weber", "Yilmaz", "Zhang",
)  # fmt: skip
CITIES = (
    ("Paris", "Europe/Paris"), ("Berlin", "Europe/Berlin"), ("London", "Europe/London"),
    ("Lisbon", "Europe/Lisbon"), ("Warsaw", "Europe/Warsaw"), ("New York", "America/New_York"),
    ("Toronto", "America/Toronto"), ("Mexico City", "America/Mexico_City"),
    ("São Paulo", "America/Sao_Paulo"), ("Lagos", "Africa/Lagos"), ("Nairobi", "Africa/Nairobi"),
    ("Bangalore", "Asia/Kolkata"), ("Singapore", "Asia/Singapore"), ("Tokyo", "Asia/Tokyo"),
    ("Sydney", "Australia/Sydney"),
)  # fmt: skip
ROLES = (
    "Software Engineer", "Staff Engineer", "Product Manager", "Designer", "Founder",
    "Data Scientist", "Consultant", "Marketer", "Researcher", "Engineering Manager",
    "Freelancer", "Investor", "Recruiter", "Writer", "Analyst",
)  # fmt: skip
BIO_OPENINGS = (
    "I help small teams get {a} right.",
    "Ten years of {a}, mostly in early-stage companies.",
    "Former agency lead, now independent: {a} and {b}.",
    "I build things with {a} and teach {b} on weekends.",
)
BIO_CLOSINGS = (
    " Currently learning {c}.",
    " Ask me about {b} or {c}.",
    " Open to swapping {a} advice for help with {c}.",
    "",
)
GIVE_DESCRIPTIONS = (
    None,
    "Happy to review your {label} work",
    "A 30-minute call on {label}",
    "Pairing sessions on {label}",
)

BASE_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ZIPF_EXPONENT = 0.75
CHUNK = 5000


@dataclasses.dataclass(frozen=True)
class Seeded:
    """What was loaded, and the tag a search page will ask for."""

    members: int
    tags: int
    member_tags: int
    gives: int
    common_tag: str
    common_tag_matches: int
    seconds: float


@dataclasses.dataclass(frozen=True)
class _TagRow:
    id: int
    slug: str
    label: str


class _Draw:
    """Distinct tags drawn with Zipf weights: the first tags of the pool are common."""

    def __init__(self, rng: random.Random, pool: Sequence[_TagRow]) -> None:
        self._rng = rng
        self._pool = pool
        weights = [1 / (rank + 1) ** ZIPF_EXPONENT for rank in range(len(pool))]
        self._cumulative = list(itertools.accumulate(weights))

    def distinct(self, count: int, exclude: set[int]) -> list[_TagRow]:
        chosen: list[_TagRow] = []
        seen = set(exclude)
        while len(chosen) < count:
            point = self._rng.random() * self._cumulative[-1]
            tag = self._pool[bisect.bisect(self._cumulative, point)]
            if tag.id not in seen:
                seen.add(tag.id)
                chosen.append(tag)
        return chosen


async def populate(store: Store, *, members: int, seed: int) -> Seeded:
    """Load ``members`` members with tags, gives, headlines and bios into a migrated store."""
    started = time.perf_counter()
    rng = random.Random(seed)
    # One cheap hash for everyone: nobody signs in as a seeded member.
    password_hash = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(
        "bench members never sign in"
    )
    async with store.transaction() as tx:
        session = tx.session
        labels = {tag_rules.normalise(label): label for label in reversed(TAG_LABELS)}
        slugs = list(dict.fromkeys(map(tag_rules.normalise, TAG_LABELS)))
        await session.execute(
            insert(_table(Tag)),
            [
                {
                    "slug": slug,
                    "label": labels[slug],
                    "kind": TagKind.SKILL if position % 4 else TagKind.TOPIC,
                    "created_at": BASE_TIME,
                }
                for position, slug in enumerate(slugs)
            ],
        )
        by_slug = {
            row.slug: _TagRow(row.id, row.slug, row.label)
            for row in await session.execute(select(Tag.id, Tag.slug, Tag.label))
        }
        pool = [by_slug[slug] for slug in slugs]
        draw = _Draw(rng, pool)

        profiles = [_profile(rng, draw, index, password_hash) for index in range(members)]
        for chunk in _chunks([profile.row for profile in profiles]):
            await session.execute(insert(_table(Member)), chunk)
        ids = dict((await session.execute(select(Member.handle, Member.id))).tuples().all())

        member_tags: list[dict[str, Any]] = []
        gives: list[dict[str, Any]] = []
        matches: Counter[str] = Counter()
        for profile in profiles:
            member_id = ids[profile.row["handle"]]
            for role, drawn in profile.tags.items():
                member_tags.extend(
                    {"member_id": member_id, "role": role, "tag_id": tag.id, "position": position}
                    for position, tag in enumerate(drawn)
                )
            gives.extend({**give, "member_id": member_id} for give in profile.gives)
            if profile.row["visibility"] is Visibility.EVERYONE:
                matches.update(profile.searchable)
        for chunk in _chunks(member_tags):
            await session.execute(insert(_table(MemberTag)), chunk)
        for chunk in _chunks(gives):
            await session.execute(insert(_table(Give)), chunk)
        await tx.commit()
    common_tag, common_matches = matches.most_common(1)[0] if matches else (pool[0].slug, 0)
    return Seeded(
        members=members,
        tags=len(pool),
        member_tags=len(member_tags),
        gives=len(gives),
        common_tag=common_tag,
        common_tag_matches=common_matches,
        seconds=time.perf_counter() - started,
    )


@dataclasses.dataclass(frozen=True)
class _Profile:
    row: dict[str, Any]
    tags: dict[TagRole, list[_TagRow]]
    gives: list[dict[str, Any]]
    searchable: set[str]


def _profile(rng: random.Random, draw: _Draw, index: int, password_hash: str) -> _Profile:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    handle = f"{first}_{last}_{index}".lower()
    email = f"{handle}@example.com"
    skills = draw.distinct(rng.randint(2, 6), set())
    interests = draw.distinct(rng.randint(1, 4), {tag.id for tag in skills})
    seeks = draw.distinct(rng.randint(0, 2), {tag.id for tag in skills + interests})
    # Gives are mostly among the skills; 1 to 3 of them, each tag once.
    give_tags = rng.sample(skills, min(len(skills), rng.randint(1, 3)))
    gives_at = BASE_TIME - dt.timedelta(minutes=rng.randrange(1, 500_000))
    gives = [
        {
            "tag_id": tag.id,
            "description": (
                template.format(label=tag.label)
                if (template := rng.choice(GIVE_DESCRIPTIONS))
                else None
            ),
            "monthly_capacity": rng.choice((None, 1, 2, 4, 8)),
            "created_at": gives_at,
        }
        for tag in give_tags
    ]
    headline = f"{rng.choice(ROLES)} · {skills[0].label}, {skills[1].label}"
    words = {"a": skills[0].label, "b": skills[-1].label, "c": interests[0].label}
    bio = rng.choice(BIO_OPENINGS).format(**words) + rng.choice(BIO_CLOSINGS).format(**words)
    display_name = f"{first} {last}"
    # What search indexes: skills, interests and gives, never seeks (see the service).
    searchable = {tag.slug: tag for tag in skills + interests + give_tags}
    city, timezone = rng.choice(CITIES)
    joined = BASE_TIME - dt.timedelta(minutes=rng.randrange(500_000, 1_000_000))
    row = {
        "email": email,
        "email_key": rules.email_key(email),
        "password_hash": password_hash,
        "handle": handle,
        "display_name": display_name,
        "headline": headline,
        "bio": bio,
        "location": city,
        "timezone": timezone,
        "help_requests_per_week": DEFAULT_HELP_REQUESTS_PER_WEEK,
        "quiet_hours_start": None,
        "quiet_hours_end": None,
        # One in twenty shows the profile to their network only: anonymous search skips them.
        "visibility": Visibility.NETWORK if rng.random() < 0.05 else Visibility.EVERYONE,
        "location_visibility": Visibility.EVERYONE,
        "seeks_visibility": Visibility.NETWORK,
        "gives_visibility": Visibility.EVERYONE,
        "goals_visibility": Visibility.NETWORK,
        "connections_visibility": Visibility.CONNECTIONS,
        "search_text": _search_text(
            handle=handle,
            display_name=display_name,
            headline=headline,
            bio=bio,
            tags=[f"{tag.label} {tag.slug.replace('-', ' ')}" for tag in searchable.values()],
        ),
        "created_at": joined,
        "updated_at": gives_at,
    }
    return _Profile(
        row=row,
        tags={TagRole.SKILL: skills, TagRole.INTEREST: interests, TagRole.SEEK: seeks},
        gives=gives,
        searchable=set(searchable),
    )


def _table(model: type[Base]) -> Table:
    return Base.metadata.tables[model.__tablename__]


def _chunks(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [rows[start : start + CHUNK] for start in range(0, len(rows), CHUNK)]
