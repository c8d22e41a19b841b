"""The demo's people, drawn from a seed: the same seed, the same people."""

from __future__ import annotations

import random

from domain.demo.cast import DEMO_EMAIL_DOMAIN, FIELDS, JOURNEY, draw_profiles
from domain.members import rules


def _draw(seed: int, count: int = 300, taken: frozenset[str] = frozenset()) -> list:
    return draw_profiles(random.Random(seed), count, taken)


def test_the_same_seed_draws_the_same_people() -> None:
    assert _draw(7) == _draw(7)


def test_another_seed_draws_other_people() -> None:
    assert [p.handle for p in _draw(7)] != [p.handle for p in _draw(8)]


def test_every_field_has_people_and_every_person_could_sign_up() -> None:
    people = _draw(1)

    assert {p.field.slug for p in people} == {field.slug for field in FIELDS}
    assert len({p.handle for p in people}) == len(people)
    for person in [*people, *JOURNEY]:
        assert rules.handle_problem(person.handle) is None, person.handle
        assert rules.email_problem(person.email) is None, person.email
        assert person.skills
        assert person.seeks
    assert all(p.email.endswith(f"@{DEMO_EMAIL_DOMAIN}") for p in people)


def test_handles_already_taken_are_left_alone() -> None:
    first = _draw(1, count=5)[0]

    redrawn = _draw(1, count=5, taken=frozenset({first.handle}))[0]

    assert redrawn.handle != first.handle
    assert redrawn.display_name == first.display_name


def test_alice_gives_seo() -> None:
    alice = next(p for p in JOURNEY if p.handle == "alice")
    assert "SEO" in alice.skills
