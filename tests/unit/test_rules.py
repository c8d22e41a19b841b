"""What a member is told when their handle, password or email address is refused."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.members.rules import (
    COMMON_PASSWORDS,
    HANDLE_MAX,
    HANDLE_MIN,
    PASSWORD_MAX,
    PASSWORD_MIN,
    RESERVED_HANDLES,
    email_key,
    email_problem,
    handle_problem,
    password_problem,
)

EMAIL = "ada.lovelace@example.com"

# Handles


@pytest.mark.parametrize("handle", ["ada", "ada_lovelace", "a1b2c3", "x" * HANDLE_MAX, "team42"])
def test_given_a_well_formed_handle_when_checked_then_it_is_accepted(handle: str) -> None:
    assert handle_problem(handle) is None


@pytest.mark.parametrize(
    ("handle", "message"),
    [
        ("", "at least 3"),
        ("ab", "at least 3"),
        ("x" * (HANDLE_MAX + 1), "at most 30"),
        ("AdaLovelace", "Use lowercase letters"),
        ("ada lovelace", "cannot contain spaces"),
        ("ada-lovelace", "lowercase letters, digits and underscores"),
        ("ada.l", "lowercase letters, digits and underscores"),
        ("adá", "lowercase letters, digits and underscores"),
        ("ada\n", "lowercase letters, digits and underscores"),
        ("1ada", "start with a letter"),
        ("_ada", "start with a letter"),
        ("ada__l", "two underscores"),
        ("admin", "reserved"),
        ("graphql", "reserved"),
        ("ad_min", "reserved"),
        ("support_", "reserved"),
    ],
)
def test_given_a_bad_handle_when_checked_then_the_member_is_told_what_to_change(
    handle: str, message: str
) -> None:
    problem = handle_problem(handle)

    assert problem is not None
    assert message in problem


def test_given_the_reserved_handles_then_they_cover_staff_and_api_words() -> None:
    assert {"admin", "root", "support", "rapport", "me", "viewer", "graphql"} <= RESERVED_HANDLES
    assert len(RESERVED_HANDLES) >= 40
    assert all(handle == handle.lower() for handle in RESERVED_HANDLES)


@given(st.text(max_size=40))
def test_property_accepted_handles_are_lowercase_words_of_the_right_length(handle: str) -> None:
    if handle_problem(handle) is None:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", handle)
        assert HANDLE_MIN <= len(handle) <= HANDLE_MAX
        assert "__" not in handle


# Passwords


def test_given_a_strong_password_when_checked_then_it_is_accepted() -> None:
    assert password_problem("correct horse battery", email=EMAIL, handle="ada") is None


def test_given_a_password_one_short_of_the_minimum_when_checked_then_it_is_too_short() -> None:
    assert password_problem("x7#kQ9!mz", email=EMAIL) == (
        "Passwords must be at least 10 characters long."
    )
    assert password_problem("x7#kQ9!mzR", email=EMAIL) is None


def test_given_a_password_at_the_byte_limit_when_checked_then_it_is_accepted() -> None:
    assert password_problem("ab" * (PASSWORD_MAX // 2), email=EMAIL) is None


def test_given_a_password_over_the_byte_limit_when_checked_then_it_is_too_long() -> None:
    problem = password_problem("ab" * (PASSWORD_MAX // 2) + "c", email=EMAIL)

    assert problem is not None
    assert "at most 256 bytes" in problem


def test_given_accented_characters_when_checked_then_the_limit_counts_bytes() -> None:
    # 129 characters but 258 bytes of UTF-8.
    problem = password_problem("é" * 129, email=EMAIL)

    assert problem is not None
    assert "at most 256 bytes" in problem


def test_given_a_lone_surrogate_when_checked_then_it_is_refused_not_crashed() -> None:
    assert password_problem("abcdefghi\ud800", email=EMAIL) is not None


@pytest.mark.parametrize("password", ["1234567890", "Password123", "QWERTYUIOP", "iloveyou12"])
def test_given_a_common_password_in_any_case_when_checked_then_it_is_too_common(
    password: str,
) -> None:
    problem = password_problem(password, email=EMAIL)

    assert problem is not None
    assert "too common" in problem


def test_given_the_common_list_then_it_only_holds_passwords_the_length_rule_lets_through() -> None:
    assert len(COMMON_PASSWORDS) >= 80
    assert all(len(password) >= PASSWORD_MIN for password in COMMON_PASSWORDS)
    assert all(password == password.casefold() for password in COMMON_PASSWORDS)


@pytest.mark.parametrize(
    ("password", "message"),
    [(" " * 12, "only spaces"), ("\t \n" * 4, "only spaces"), ("z" * 12, "single character")],
)
def test_given_a_degenerate_password_when_checked_then_it_is_refused(
    password: str, message: str
) -> None:
    problem = password_problem(password, email=EMAIL)

    assert problem is not None
    assert message in problem


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Ada.Lovelace@Example.com", "email address"),
        ("my ada.lovelace@example.com!", "email address"),
        ("ada.lovelace-2024", "name in your email"),
    ],
)
def test_given_a_password_made_from_the_email_when_checked_then_it_is_refused(
    password: str, message: str
) -> None:
    problem = password_problem(password, email=EMAIL)

    assert problem is not None
    assert message in problem


def test_given_a_plus_address_when_checked_then_its_base_name_is_refused_too() -> None:
    problem = password_problem("gracehopper99!", email="gracehopper+rapport@example.com")

    assert problem is not None
    assert "name in your email" in problem


def test_given_a_short_email_name_when_checked_then_passwords_merely_containing_it_pass() -> None:
    assert password_problem("bobsleigh-champion", email="bob@example.com") is None


def test_given_a_password_containing_the_handle_when_checked_then_it_is_refused() -> None:
    problem = password_problem("Countess_ada1815", email=EMAIL, handle="countess_ada")

    assert problem == "Passwords cannot contain your handle."


def test_given_a_password_containing_the_display_name_when_checked_then_it_is_refused() -> None:
    for password in ["AdaLovelace1815", "ada lovelace 1815"]:
        problem = password_problem(
            password, email="countess@example.com", display_name="Ada Lovelace"
        )

        assert problem == "Passwords cannot contain your name."


# Email addresses


@pytest.mark.parametrize(
    "email",
    [
        "ada@example.com",
        "ada.lovelace+rapport@mail.example.co.uk",
        "  ada@example.com  ",
        "Ada@Exämple.de",
    ],
)
def test_given_a_plausible_email_when_checked_then_it_is_accepted(email: str) -> None:
    assert email_problem(email) is None


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("", "Enter your email"),
        ("   ", "Enter your email"),
        ("ada", "exactly one @"),
        ("ada@@example.com", "exactly one @"),
        ("a@b@example.com", "exactly one @"),
        ("@example.com", "before the @"),
        ("ada@", "after the @"),
        ("ada@localhost", "after the @"),
        ("ada@example.", "after the @"),
        ("ada@.example.com", "after the @"),
        ("ada@example..com", "after the @"),
        ("ada lovelace@example.com", "spaces"),
        ("ada@exam\x00ple.com", "invisible"),
        ("a" * 65 + "@example.com", "at most 64"),
        ("ada@" + "a" * 250 + ".com", "at most 254"),
    ],
)
def test_given_a_malformed_email_when_checked_then_the_member_is_told_what_is_wrong(
    email: str, message: str
) -> None:
    problem = email_problem(email)

    assert problem is not None
    assert message in problem


def test_given_two_spellings_of_one_address_when_keyed_then_they_collide() -> None:
    assert email_key(" Ada.Lovelace@Example.COM ") == email_key("ada.lovelace@example.com")


def test_given_an_email_whose_key_outgrows_the_column_when_checked_then_it_is_refused() -> None:
    email = "ß" * 60 + "@" + "ß" * 90 + ".de"  # casefolds to twice its length

    assert email_problem(email) is not None


@given(st.text())
def test_property_email_key_is_idempotent(email: str) -> None:
    assert email_key(email_key(email)) == email_key(email)
