"""Sign-up rules for handles, passwords and email addresses, as messages a member can act on."""

from __future__ import annotations

import re
import unicodedata

HANDLE_MIN = 3
HANDLE_MAX = 30

# fmt: off
RESERVED_HANDLES: frozenset[str] = frozenset(
    {
        # Words that look official or that staff would be impersonated with
        "admin", "administrator", "root", "system", "sysadmin", "support", "help",
        "helpdesk", "staff", "team", "moderator", "mod", "security", "official",
        "rapport", "owner", "billing", "legal", "privacy", "terms", "abuse",
        "postmaster", "hostmaster", "webmaster", "noreply", "info", "contact",
        # Words the API or the client use as names or paths
        "api", "graphql", "me", "self", "viewer", "null", "undefined", "none", "nil",
        "anonymous", "everyone", "user", "users", "member", "members", "login", "logout",
        "signin", "signout", "signup", "register", "settings", "account", "profile",
        "about", "home", "search", "explore", "notifications", "messages", "inbox",
        "static", "assets", "status", "blog", "jobs", "careers", "www", "mail", "email",
    }
)
# fmt: on

PASSWORD_MIN = 10
# Bytes, not characters: the hash function's cost grows with the encoded length.
PASSWORD_MAX = 256

# Only entries of PASSWORD_MIN characters or more: anything shorter is refused anyway.
# Stored lowercase; the check is case-insensitive because "Password123" is no stronger.
# fmt: off
COMMON_PASSWORDS: frozenset[str] = frozenset(
    {
        # Digit runs
        "0000000000", "1111111111", "2222222222", "5555555555", "6666666666",
        "7777777777", "8888888888", "9999999999", "0123456789", "1234567890",
        "0987654321", "9876543210", "1234567891", "12345678910", "123456789012",
        "1234512345", "1122334455", "1212121212", "1231231231", "123123123123",
        "1234554321", "1029384756", "147258369147", "1478963250",
        # Keyboard walks
        "qwertyuiop", "qwertyuiop123", "qwerty1234", "qwerty12345", "qwerty123456",
        "qwertyqwerty", "qwerty123!", "1q2w3e4r5t", "1q2w3e4r5t6y", "1qaz2wsx3edc",
        "qazwsxedcrfv", "qazwsxedc123", "zaq12wsxcde3", "asdfghjkl1", "asdfghjkl123",
        "asdfasdfasdf", "zxcvbnm123", "zxcvbnmasd", "q1w2e3r4t5", "qweasdzxc123",
        # Letter runs and repeats
        "abcdefghij", "abcdefghijk", "abcdefg123", "abcd123456", "abc1234567",
        "a123456789", "123456789a", "aaaaaaaaaa", "abcabcabcabc", "asdasdasdasd",
        # "password" and friends
        "password12", "password123", "password1234", "password12345", "password!!",
        "password1!", "password01", "password2023", "password2024", "password2025",
        "passw0rd123", "p@ssw0rd123", "p@ssword123", "passwordpassword", "mypassword1",
        "mypassword123", "changeme123", "letmein123", "letmein1234", "welcome123",
        "welcome1234", "welcome2024", "welcome2025", "admin12345", "admin123456",
        "administrator", "adminadmin", "rootroot123", "helloworld", "hello12345",
        "hellohello", "iloveyou12", "iloveyou123", "iloveyou1234", "iloveyou!!",
        "whatever123", "trustno1234",
        # Popular words with digits
        "football123", "baseball123", "basketball", "basketball1", "sunshine123",
        "princess123", "superman123", "starwars123", "pokemon123", "minecraft123",
        "dragon1234", "monkey12345", "charlie123", "liverpool1", "chelsea123",
        "computer123", "internet123", "jordan2323",
        # The service itself, which people reach for when asked for a password here
        "rapport123", "rapport1234", "rapport2024", "rapport2025", "rapportpassword",
    }
)
# fmt: on

# Shorter names and email local parts ("ann", "bob") turn up inside unrelated passwords.
_CONTEXT_MIN = 4
_HANDLE_RE = re.compile(r"[a-z0-9_]+")

EMAIL_MAX = 254
EMAIL_LOCAL_MAX = 64


def handle_problem(handle: str) -> str | None:
    """Return why ``handle`` is unacceptable as typed, or None when it is fine."""
    if len(handle) < HANDLE_MIN:
        return f"Handles must be at least {HANDLE_MIN} characters long."
    if len(handle) > HANDLE_MAX:
        return f"Handles must be at most {HANDLE_MAX} characters long."
    if _HANDLE_RE.fullmatch(handle) is None:
        if _HANDLE_RE.fullmatch(handle.lower()) is not None:
            return "Use lowercase letters: only lowercase letters, digits and underscores."
        if any(char.isspace() for char in handle):
            return "Handles cannot contain spaces: use lowercase letters, digits and underscores."
        return "Handles can only contain lowercase letters, digits and underscores."
    if not handle[0].isalpha():
        return "Handles must start with a letter."
    if "__" in handle:
        return "Handles cannot contain two underscores in a row."
    # Underscores are ignored so that "ad_min" or "support_" cannot pass for staff.
    if handle in RESERVED_HANDLES or handle.replace("_", "") in RESERVED_HANDLES:
        return "That handle is reserved; please choose another."
    return None


def _email_local_parts(email: str) -> list[str]:
    local = email.strip().casefold().rpartition("@")[0]
    # "ada+rapport" and its base "ada" both identify the member.
    return [local, local.partition("+")[0]]


def password_problem(
    password: str,
    *,
    email: str,
    handle: str | None = None,
    display_name: str | None = None,
) -> str | None:
    """Return why ``password`` breaks the password policy, or None when it is fine."""
    if len(password) < PASSWORD_MIN:
        return f"Passwords must be at least {PASSWORD_MIN} characters long."
    try:
        size = len(password.encode("utf-8"))
    except UnicodeEncodeError:
        # Lone surrogates cannot be hashed consistently, so no password may contain one.
        return "Passwords cannot contain invalid characters."
    if size > PASSWORD_MAX:
        return (
            f"Passwords must be at most {PASSWORD_MAX} bytes long "
            "(fewer characters if you use accents or emoji)."
        )
    if not password.strip():
        return "Passwords cannot be only spaces."
    if len(set(password)) == 1:
        return "Passwords cannot be a single character repeated."
    folded = password.casefold()
    if folded in COMMON_PASSWORDS:
        return "This password is too common; choose one that is harder to guess."
    address = email.strip().casefold()
    if address and address in folded:
        return "Passwords cannot contain your email address."
    if any(len(part) >= _CONTEXT_MIN and part in folded for part in _email_local_parts(email)):
        return "Passwords cannot contain the name in your email address."
    if handle is not None:
        folded_handle = handle.strip().casefold()
        if len(folded_handle) >= _CONTEXT_MIN and folded_handle in folded:
            return "Passwords cannot contain your handle."
    if display_name is not None:
        # "Ada Lovelace" is as guessable as "adalovelace".
        words = display_name.casefold().split()
        for name in {" ".join(words), "".join(words)}:
            if len(name) >= _CONTEXT_MIN and name in folded:
                return "Passwords cannot contain your name."
    return None


def email_problem(email: str) -> str | None:
    """Return why ``email`` does not look like an email address, or None when it does."""
    # Surrounding whitespace is what autofill and pasting add; email_key drops it too.
    email = email.strip()
    if not email:
        return "Enter your email address."
    if len(email) > EMAIL_MAX or len(email_key(email)) > EMAIL_MAX:
        return f"Email addresses must be at most {EMAIL_MAX} characters long."
    if any(char.isspace() or not char.isprintable() for char in email):
        return "Email addresses cannot contain spaces or invisible characters."
    if email.count("@") != 1:
        return "Email addresses contain exactly one @, as in name@example.com."
    local, _, domain = email.partition("@")
    if not local:
        return "Add the part before the @, as in name@example.com."
    if len(local) > EMAIL_LOCAL_MAX:
        return f"The part before the @ must be at most {EMAIL_LOCAL_MAX} characters long."
    if "." not in domain or not all(domain.split(".")):
        return "Check the part after the @: it should be a domain such as example.com."
    return None


def email_key(email: str) -> str:
    """Return the key under which ``email`` is unique, ignoring case and surrounding spaces."""
    return email.strip().casefold()


def text_problem(text: str) -> str | None:
    """Return what is wrong with free text a member wrote, or None when it may be stored."""
    # PostgreSQL cannot store NUL, and other control characters only hide text from readers.
    if any(unicodedata.category(char) == "Cc" and not char.isspace() for char in text):
        return "remove the control characters (such as NUL) from this text"
    return None


def optional_text(value: str | None, *, limit: int) -> str | None:
    """Return free text trimmed (None when blank); raise ValueError saying what is wrong."""
    value = (value or "").strip() or None
    if value is None:
        return None
    if len(value) > limit:
        raise ValueError(f"at most {limit} characters")
    if problem := text_problem(value):
        raise ValueError(problem)
    return value
