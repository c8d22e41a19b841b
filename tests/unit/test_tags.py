"""What a member sees when the tags they type are turned into shared tags."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.members.tags import ALIASES, label_for, normalise, normalise_all, slugify

SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def _fullwidth(text: str) -> str:
    # Phone keyboards in East Asian input modes produce these forms.
    return "".join(chr(ord(char) + 0xFEE0) for char in text)


@pytest.mark.parametrize(
    ("typed", "slug"),
    [
        ("Product Design", "product-design"),
        ("  Machine   Learning  ", "machine-learning"),
        ("CI/CD", "ci-cd"),
        ("Café Société", "cafe-societe"),
        ("Ørsted", "orsted"),
        ("straße", "strasse"),
        (_fullwidth("Python"), "python"),
        ("--hello--world--", "hello-world"),
    ],
)
def test_given_free_text_when_slugified_then_words_become_lowercase_ascii_joined_by_dashes(
    typed: str, slug: str
) -> None:
    assert slugify(typed) == slug


@pytest.mark.parametrize(
    ("typed", "slug"),
    [
        ("C++", "cpp"),
        ("c++17", "cpp-17"),
        ("C#", "csharp"),
        ("F#", "fsharp"),
        (".NET", "dotnet"),
        ("Node.js", "nodejs"),
        ("NodeJS", "nodejs"),
        ("Vue.js", "vuejs"),
        ("Next.js", "nextjs"),
        ("R&D", "research-and-development"),
        ("Senior C++ developer", "senior-cpp-developer"),
        ("Sales & Marketing", "sales-and-marketing"),
        (_fullwidth("C++"), "cpp"),
    ],
)
def test_given_a_name_whose_punctuation_matters_when_slugified_then_it_keeps_its_meaning(
    typed: str, slug: str
) -> None:
    assert slugify(typed) == slug


def test_given_c_cpp_and_csharp_when_slugified_then_they_stay_three_different_tags() -> None:
    assert len({slugify("C"), slugify("C++"), slugify("C#")}) == 3


def test_given_a_special_form_inside_a_word_when_slugified_then_it_is_not_rewritten() -> None:
    assert slugify("ASP.NET") == "asp-net"


@pytest.mark.parametrize("typed", ["", "   ", "---", "!!!", "我们", "🙂"])
def test_given_nothing_usable_when_slugified_then_the_slug_is_empty(typed: str) -> None:
    assert slugify(typed) == ""


def test_given_a_long_phrase_when_slugified_then_it_is_cut_between_words() -> None:
    typed = "strategic partnerships for enterprise software companies in europe"

    slug = slugify(typed)

    assert slug == "strategic-partnerships-for-enterprise"
    assert len(slug) <= 40


def test_given_one_long_word_when_slugified_then_it_is_cut_at_forty_characters() -> None:
    assert slugify("a" * 100) == "a" * 40


def test_given_a_short_first_word_and_a_long_second_when_slugified_then_the_second_is_cut() -> None:
    assert slugify("a " + "b" * 100) == "a-" + "b" * 38


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("Search Engine Optimization", "seo"),
        ("search-engine-optimisation", "seo"),
        ("JS", "javascript"),
        ("TS", "typescript"),
        ("ML", "machine-learning"),
        ("AI", "artificial-intelligence"),
        ("UX Design", "ux"),
        ("User Experience", "ux"),
        ("UI design", "ui"),
        ("PM", "product-management"),
        ("Product Manager", "product-management"),
        ("Golang", "go"),
        ("k8s", "kubernetes"),
        ("Postgres", "postgresql"),
        ("Fund-raising", "fundraising"),
        ("fundraise", "fundraising"),
        ("Fundraising", "fundraising"),
        ("Speaking", "public-speaking"),
        ("Public Speaking", "public-speaking"),
        ("B2B SaaS", "saas"),
        ("M&A", "mergers-and-acquisitions"),
        ("ASP.NET", "aspnet"),
    ],
)
def test_given_a_synonym_when_normalised_then_it_becomes_the_canonical_tag(
    typed: str, canonical: str
) -> None:
    assert normalise(typed) == canonical


def test_given_the_alias_table_then_no_canonical_tag_is_itself_an_alias() -> None:
    aliased_canonicals = {canonical for canonical in ALIASES.values() if canonical in ALIASES}

    assert aliased_canonicals == set()


def test_given_the_alias_table_then_every_entry_is_already_a_slug() -> None:
    for alias, canonical in ALIASES.items():
        assert slugify(alias) == alias
        assert slugify(canonical) == canonical


def test_given_the_alias_table_then_it_cannot_be_changed_at_runtime() -> None:
    with pytest.raises(TypeError):
        ALIASES["js"] = "java"  # type: ignore[index]


def test_given_a_list_with_repeats_and_blanks_when_normalised_then_first_seen_order_is_kept() -> (
    None
):
    typed = ["Python", "  ", "JS", "python", "JavaScript", "Go", "golang", "!!!"]

    assert normalise_all(typed, limit=10) == ["python", "javascript", "go"]


def test_given_exactly_the_limit_of_distinct_tags_when_normalised_then_all_are_kept() -> None:
    assert normalise_all(["a", "b", "c", "A"], limit=3) == ["a", "b", "c"]


def test_given_more_distinct_tags_than_the_limit_when_normalised_then_the_member_is_told() -> None:
    with pytest.raises(ValueError, match=r"at most 2 allowed, 3 given"):
        normalise_all(["sales", "marketing", "finance"], limit=2)


def test_given_a_single_string_instead_of_a_list_when_normalised_then_it_is_refused() -> None:
    with pytest.raises(TypeError):
        normalise_all("python", limit=10)


def test_given_a_generator_when_normalised_then_it_is_consumed_once() -> None:
    assert normalise_all((t for t in ["Go", "Rust"]), limit=5) == ["go", "rust"]


@pytest.mark.parametrize(
    ("typed", "label"),
    [
        ("  Machine   Learning  ", "Machine Learning"),
        ("C++", "C++"),
        ("Product\tDesign\n", "Product Design"),
        ("Go\x00lang", "Golang"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_given_free_text_when_labelled_then_it_is_shown_tidied_but_as_typed(
    typed: str, label: str
) -> None:
    assert label_for(typed) == label


def test_given_a_long_label_when_labelled_then_it_is_cut_to_sixty_without_a_trailing_space() -> (
    None
):
    typed = "x" * 59 + " and more"

    assert label_for(typed) == "x" * 59


@given(st.text())
def test_property_slugs_only_contain_lowercase_ascii_words_joined_by_single_dashes(
    text: str,
) -> None:
    slug = slugify(text)

    assert slug == "" or SLUG_RE.fullmatch(slug)
    assert len(slug) <= 40


@given(st.text())
def test_property_slugify_is_idempotent(text: str) -> None:
    assert slugify(slugify(text)) == slugify(text)


@given(st.text() | st.sampled_from(sorted(ALIASES)))
def test_property_normalise_is_idempotent(text: str) -> None:
    assert normalise(normalise(text)) == normalise(text)


@given(st.lists(st.text(), max_size=20))
def test_property_normalise_all_returns_distinct_non_empty_slugs(texts: list[str]) -> None:
    slugs = normalise_all(texts, limit=20)

    assert len(slugs) == len(set(slugs))
    assert all(slugs)


@given(st.text())
def test_property_labels_are_short_trimmed_and_single_spaced(text: str) -> None:
    label = label_for(text)

    assert len(label) <= 60
    assert label == label.strip()
    assert "  " not in label
