"""Tag slugs and labels: turn what a member typed into one shared, canonical tag."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from types import MappingProxyType

SLUG_MAX = 40
LABEL_MAX = 60

# Punctuation carries the meaning in these names; without this table "C++", "C#" and "C"
# would all collapse to "c".
_SPECIAL_FORMS: Mapping[str, str] = MappingProxyType(
    {
        "c++": "cpp",
        "c#": "csharp",
        "f#": "fsharp",
        ".net": "dotnet",
        "node.js": "nodejs",
        "nodejs": "nodejs",
        "vue.js": "vuejs",
        "next.js": "nextjs",
        "r&d": "research-and-development",
    }
)

# Forms are matched as whole words (not inside "asp.net" or "abc++"), longest first so
# that "r&d" wins over the bare "&" rule applied afterwards. A digit may follow, since
# that is a version ("c++17", ".net8").
_SPECIAL_RE = re.compile(
    r"(?<![^\W_])(?:"
    + "|".join(re.escape(form) for form in sorted(_SPECIAL_FORMS, key=len, reverse=True))
    + r")(?![^\W\d_])"
)
_NON_SLUG_RE = re.compile(r"[^a-z0-9]+")

# Letters that Unicode does not decompose into a base letter plus accent; without this
# "Ørsted" would lose its first letter. \u0131 is the dotless i.
_UNDECOMPOSABLE = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d", "ł": "l", "þ": "th", "\u0131": "i"}
)

ALIASES: Mapping[str, str] = MappingProxyType(
    {
        # Marketing and growth
        "search-engine-optimization": "seo",
        "search-engine-optimisation": "seo",
        "social-media-marketing": "smm",
        "gtm": "go-to-market",
        "e-commerce": "ecommerce",
        "copy-writing": "copywriting",
        # Product and design
        "pm": "product-management",
        "product-manager": "product-management",
        "ux-design": "ux",
        "user-experience": "ux",
        "user-experience-design": "ux",
        "ui-design": "ui",
        "user-interface-design": "ui",
        "a11y": "accessibility",
        # Business
        "fundraise": "fundraising",
        "fund-raising": "fundraising",
        "speaking": "public-speaking",
        "b2b-saas": "saas",
        "software-as-a-service": "saas",
        "bizdev": "business-development",
        "biz-dev": "business-development",
        "hr": "human-resources",
        "vc": "venture-capital",
        "m-and-a": "mergers-and-acquisitions",
        "r-and-d": "research-and-development",
        "project-manager": "project-management",
        # Data and AI
        "ml": "machine-learning",
        "ai": "artificial-intelligence",
        "nlp": "natural-language-processing",
        "datascience": "data-science",
        # Languages and frameworks
        "js": "javascript",
        "ecmascript": "javascript",
        "ts": "typescript",
        "golang": "go",
        "py": "python",
        "python3": "python",
        "c-plus-plus": "cpp",
        "c-sharp": "csharp",
        "dot-net": "dotnet",
        "asp-net": "aspnet",
        "node-js": "nodejs",
        "vue-js": "vuejs",
        "next-js": "nextjs",
        "reactjs": "react",
        "react-js": "react",
        "objc": "objective-c",
        # Infrastructure
        "k8s": "kubernetes",
        "postgres": "postgresql",
        "mongo": "mongodb",
        "amazon-web-services": "aws",
        "google-cloud-platform": "gcp",
        "dev-ops": "devops",
        "cicd": "ci-cd",
    }
)


def _replace_special(match: re.Match[str]) -> str:
    return f" {_SPECIAL_FORMS[match.group(0)]} "


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSABLE))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _truncate(slug: str) -> str:
    if len(slug) <= SLUG_MAX:
        return slug
    # A dash within the first SLUG_MAX + 1 characters means the cut lands between words;
    # it is only worth taking when it keeps most of the slug, or a short first word
    # ("a-…") would leave nearly nothing.
    boundary = slug.rfind("-", 0, SLUG_MAX + 1)
    if boundary >= SLUG_MAX // 2:
        return slug[:boundary]
    return slug[:SLUG_MAX].rstrip("-")


def slugify(text: str) -> str:
    """Turn free text into a tag slug of lowercase ASCII words joined by dashes."""
    text = unicodedata.normalize("NFKC", text).casefold().strip()
    text = _SPECIAL_RE.sub(_replace_special, text)
    text = text.replace("&", " and ")
    text = _strip_accents(text)
    slug = _NON_SLUG_RE.sub("-", text).strip("-")
    return _truncate(slug)


def normalise(text: str) -> str:
    """Turn free text into the canonical slug of the tag it names."""
    slug = slugify(text)
    return ALIASES.get(slug, slug)


def normalise_all(texts: Iterable[str], *, limit: int) -> list[str]:
    """Normalise tags, dropping blanks and duplicates, and refuse more than ``limit``."""
    if isinstance(texts, str):
        # A bare string is an Iterable[str] too, and would silently become one tag per letter.
        raise TypeError("normalise_all() takes a collection of tags, not a single string")
    slugs = list(dict.fromkeys(slug for slug in map(normalise, texts) if slug))
    if len(slugs) > limit:
        raise ValueError(f"Too many tags: at most {limit} allowed, {len(slugs)} given.")
    return slugs


def label_for(text: str) -> str:
    """Turn what a member typed into the display label of a new tag."""
    # NFC keeps an accent and its letter together, so the cut cannot separate them.
    text = unicodedata.normalize("NFC", text)
    # Control characters are invisible in a label and only make look-alike labels.
    text = "".join(char for char in text if char.isspace() or unicodedata.category(char) != "Cc")
    return " ".join(text.split())[:LABEL_MAX].rstrip()
