"""Who is in the demo network: a dozen professional fields, and the people drawn from them.

Pure data and pure functions of a ``random.Random``: the same seed draws the same people.
"""

from __future__ import annotations

import dataclasses
import random
import unicodedata

from domain.marketplace.rules import HelpRequestKind
from domain.members.models import GoalKind

# Generated members' addresses: how the seed tells its members from anyone else's.
DEMO_EMAIL_DOMAIN = "demo.rapport.example"


@dataclasses.dataclass(frozen=True)
class Ask:
    """A help request members of a field post."""

    title: str
    kind: HelpRequestKind
    tags: tuple[str, ...]
    details: str


@dataclasses.dataclass(frozen=True)
class Field:
    """A professional field: what its people do, want, offer and ask."""

    slug: str
    circle: str
    circle_description: str
    roles: tuple[str, ...]
    skills: tuple[str, ...]
    interests: tuple[str, ...]
    # Other fields' skills this field's people look for.
    seeks: tuple[str, ...]
    gives: tuple[str, ...]
    goals: tuple[tuple[str, GoalKind, tuple[str, ...]], ...]
    asks: tuple[Ask, ...]


_A = HelpRequestKind
_G = GoalKind

FIELDS: tuple[Field, ...] = (
    Field(
        "marketing", "SEO & Growth Guild", "Search, content and growth people trading notes.",
        ("SEO Consultant", "Growth Marketer", "Content Strategist", "Head of Marketing"),
        ("SEO", "Content Strategy", "Analytics", "Growth", "Copywriting", "Paid Ads",
         "Email Marketing"),
        ("SaaS", "Brand", "Podcasting", "Community Building"),
        ("UX", "Public Speaking", "Sales", "Python"),
        ("An SEO audit of your site", "A 30-minute review of your content plan",
         "Setting up analytics that answer real questions"),
        (("Grow organic traffic to 100k visits a month", _G.CLIENTS, ("SEO", "Growth")),
         ("Publish a guide to technical SEO", _G.LAUNCH, ("SEO", "Writing"))),
        (Ask("Our blog traffic halved after a site migration", _A.ADVICE, ("SEO",),
             "We moved to a new CMS in spring and lost half our organic visits. Redirects are "
             "in place; what else should we check?"),
         Ask("Feedback on a landing page before launch", _A.FEEDBACK, ("Copywriting", "Growth"),
             "Ten minutes of honest feedback on headline, proof and call to action."),
         Ask("Which analytics tool for a 5-person startup?", _A.ADVICE, ("Analytics",),
             "We outgrew spreadsheets; looking for something simple and privacy-friendly.")),
    ),
    Field(
        "design", "Design Critique Club", "Weekly critique of work in progress, kindly.",
        ("Product Designer", "UX Researcher", "Brand Designer", "Design Lead"),
        ("UX", "Figma", "Design Systems", "User Research", "Branding", "Accessibility",
         "Illustration"),
        ("Typography", "Architecture", "Photography", "Service Design"),
        ("Copywriting", "TypeScript", "Product Management", "Pricing"),
        ("A portfolio review", "An accessibility pass on your app",
         "A usability test with five users"),
        (("Ship a design system for our mobile app", _G.LAUNCH, ("Design Systems", "Figma")),
         ("Move into a design lead role", _G.CAREER, ("Leadership", "UX"))),
        (Ask("Usability testers for a banking app prototype", _A.FEEDBACK, ("UX",),
             "Five people, twenty minutes each, remote. We pay back in karma."),
         Ask("Review of our onboarding flow", _A.FEEDBACK, ("UX", "User Research"),
             "New users drop off at step three of five; fresh eyes welcome."),
         Ask("A freelance illustrator for a children's book", _A.HIRE, ("Illustration",),
             "Twelve spreads, warm and hand-drawn, for a small publisher.")),
    ),
    Field(
        "engineering", "Backend Builders", "Engineers who like boring, reliable systems.",
        ("Software Engineer", "Staff Engineer", "Engineering Manager", "CTO"),
        ("Python", "PostgreSQL", "Kubernetes", "TypeScript", "Security", "AWS", "Go"),
        ("Open Source", "Distributed Systems", "Developer Relations", "Rust"),
        ("Product Management", "Hiring", "Technical Writing", "Fundraising"),
        ("A code review of your API", "Help choosing a database",
         "An hour of pairing on a tricky bug"),
        (("Hire two backend engineers", _G.HIRING, ("Hiring", "Python")),
         ("Give a talk at a Python conference", _G.CAREER, ("Public Speaking", "Python"))),
        (Ask("PostgreSQL query takes 9 seconds on a small table", _A.ADVICE,
             ("PostgreSQL",), "EXPLAIN shows a sequential scan though an index exists."),
         Ask("A security review before our SOC 2 audit", _A.ADVICE, ("Security",),
             "Small SaaS, two services on AWS; we want a second pair of eyes."),
         Ask("Intro to someone who ran Kubernetes at scale", _A.INTRO, ("Kubernetes",),
             "Deciding whether we need it at all; would love a sanity check.")),
    ),
    Field(
        "data", "Data People", "Analysts, scientists and engineers of data.",
        ("Data Scientist", "Data Engineer", "Analytics Lead", "ML Engineer"),
        ("SQL", "Data Science", "Machine Learning", "dbt", "Statistics", "Data Engineering"),
        ("LLMs", "Econometrics", "Visualisation", "Climate Tech"),
        ("Product Management", "Storytelling", "Kubernetes", "Grant Writing"),
        ("A review of your experiment design", "Help with a tricky SQL query",
         "A first look at your churn data"),
        (("Build a churn model for our subscriptions", _G.LAUNCH,
          ("Machine Learning", "Analytics")),
         ("Move from analyst to data scientist", _G.LEARNING, ("Data Science", "Statistics"))),
        (Ask("Is our A/B test result significant?", _A.ADVICE, ("Statistics",),
             "4% uplift on 3,000 visitors per arm. Colleagues disagree."),
         Ask("dbt project structure for a team of three", _A.ADVICE, ("dbt", "Data Engineering"),
             "Our models folder is a swamp; how do others organise it?"),
         Ask("Someone to sanity-check a forecasting model", _A.FEEDBACK, ("Data Science",),
             "Weekly demand forecast for a bakery chain; seasonality is odd.")),
    ),
    Field(
        "sales", "B2B Sales Circle", "Closers, openers and everyone in between.",
        ("Account Executive", "Head of Sales", "Sales Engineer", "Business Developer"),
        ("Sales", "Negotiation", "Business Development", "Partnerships", "Customer Success"),
        ("SaaS", "Go-to-Market", "Pricing", "Public Speaking"),
        ("Copywriting", "Analytics", "Legal", "Recruiting"),
        ("A role-play of your discovery call", "A review of your sales deck",
         "Intros to buyers in retail"),
        (("Land our first ten enterprise customers", _G.CLIENTS, ("Sales", "Go-to-Market")),
         ("Build an outbound team", _G.HIRING, ("Sales", "Hiring"))),
        (Ask("Intro to a buyer at a European retailer", _A.INTRO, ("Business Development",),
             "We sell shelf-analytics; looking for a warm intro to category managers."),
         Ask("Feedback on our pricing page", _A.FEEDBACK, ("Pricing", "Sales"),
             "Three tiers, and everyone picks the cheapest. What are we missing?"),
         Ask("First customers for a B2B invoicing tool", _A.CUSTOMER, ("Sales",),
             "Freelancers and small agencies; happy to give a year free for feedback.")),
    ),
    Field(
        "finance", "Finance for Founders", "CFOs and accountants who explain things plainly.",
        ("CFO", "Financial Analyst", "Accountant", "Controller"),
        ("Finance", "Financial Modeling", "Accounting", "Tax", "Excel"),
        ("Venture Capital", "Payments", "FinTech", "Economics"),
        ("Analytics", "Legal", "Fundraising", "Product Management"),
        ("A look at your financial model", "Help with your first VAT return",
         "A plain-words explanation of your cap table"),
        (("Close the books in five days, not fifteen", _G.OTHER, ("Accounting",)),
         ("Become a fractional CFO for startups", _G.CAREER, ("Finance", "Startups"))),
        (Ask("Sanity check on a three-year financial model", _A.FEEDBACK, ("Financial Modeling",),
             "Pre-seed, SaaS. Are these churn and CAC assumptions believable?"),
         Ask("How to handle VAT for EU digital sales", _A.ADVICE, ("Tax",),
             "We sell a subscription app from Portugal to customers all over the EU."),
         Ask("A part-time bookkeeper for a design studio", _A.HIRE, ("Accounting",),
             "About four hours a month, remote is fine.")),
    ),
    Field(
        "law", "Startup Legal Corner", "Lawyers who answer founders' questions.",
        ("Startup Lawyer", "Legal Counsel", "Privacy Lawyer", "IP Attorney"),
        ("Legal", "Contracts", "Privacy", "Intellectual Property", "Employment Law"),
        ("Policy", "AI Safety", "Startups", "Open Source"),
        ("Finance", "Sales", "Recruiting", "Writing"),
        ("A review of your terms of service", "A GDPR checklist for your app",
         "Help reading a term sheet"),
        (("Open a small practice for startups", _G.CLIENTS, ("Legal", "Startups")),
         ("Write a plain-language GDPR guide", _G.LAUNCH, ("Privacy", "Writing"))),
        (Ask("Is our open-source licence compatible with SaaS use?", _A.ADVICE,
             ("Open Source", "Legal"), "We depend on an AGPL library and host it for clients."),
         Ask("A contractor agreement template that isn't scary", _A.ADVICE, ("Contracts",),
             "First hires are freelancers in three countries."),
         Ask("Someone to read our privacy policy", _A.FEEDBACK, ("Privacy",),
             "Health-adjacent app; we want it right before launch.")),
    ),
    Field(
        "recruiting", "Talent & Hiring", "Recruiters and hiring managers comparing notes.",
        ("Technical Recruiter", "Talent Partner", "Head of People", "Executive Recruiter"),
        ("Recruiting", "Hiring", "Employer Branding", "Interviewing", "Human Resources"),
        ("Remote Work", "Diversity and Inclusion", "Coaching", "Careers"),
        ("Python", "Copywriting", "Legal", "Employment Law"),
        ("A review of your job ad", "A mock interview", "A salary benchmark for your role"),
        (("Fill twenty engineering roles this year", _G.HIRING, ("Recruiting", "Hiring")),
         ("Launch a mentoring programme for career changers", _G.EVENT, ("Coaching",))),
        (Ask("Our job ads get no senior applicants", _A.FEEDBACK, ("Recruiting",),
             "Senior backend role, fully remote, competitive pay. Crickets."),
         Ask("Looking for a product designer, Lisbon or remote", _A.JOB, ("Hiring", "UX"),
             "Series A fintech; small team, big ownership."),
         Ask("How do you run a fair take-home test?", _A.ADVICE, ("Interviewing",),
             "We want to respect candidates' time and still learn something.")),
    ),
    Field(
        "product", "Product Circle", "Product managers talking discovery and delivery.",
        ("Product Manager", "Head of Product", "Product Lead", "Product Owner"),
        ("Product Management", "Roadmapping", "Discovery", "Pricing", "Go-to-Market"),
        ("SaaS", "Marketplaces", "Behavioural Economics", "Mobile"),
        ("SEO", "UX", "Data Science", "Sales"),
        ("A review of your roadmap", "Help framing a discovery interview",
         "A second opinion on pricing"),
        (("Launch our marketplace in two new cities", _G.LAUNCH,
          ("Marketplaces", "Go-to-Market")),
         ("Find a mentor for a first head-of-product role", _G.CAREER,
          ("Product Management", "Leadership"))),
        (Ask("How do you prioritise with no data?", _A.ADVICE, ("Product Management",),
             "Early product, twenty users, too many ideas."),
         Ask("Feedback on a pricing experiment", _A.FEEDBACK, ("Pricing",),
             "Testing usage-based pricing against seats; how would you read the results?"),
         Ask("Five interviews with freelance designers", _A.CUSTOMER, ("Discovery", "UX"),
             "Thirty minutes each, about how you find clients.")),
    ),
    Field(
        "events", "Event Organisers", "People who put on meetups, conferences and retreats.",
        ("Event Producer", "Community Manager", "Conference Organiser", "Event Marketer"),
        ("Event Planning", "Community Building", "Sponsorship", "Facilitation",
         "Public Speaking"),
        ("SaaS", "Travel", "Hospitality", "Podcasting"),
        ("SEO", "Branding", "Sales", "Partnerships"),
        ("A checklist for your first meetup", "Intros to venues in Berlin and Lisbon",
         "Help finding sponsors"),
        (("Organise a SaaS conference, May 2027: speakers, sponsors", _G.EVENT,
          ("Event Planning", "Sponsorship", "SaaS")),
         ("Grow our meetup to 1,000 members", _G.EVENT, ("Community Building",))),
        (Ask("Speakers for a meetup on remote teams", _A.EVENT, ("Public Speaking",),
             "Twenty-minute talks, evening event, travel covered for two speakers."),
         Ask("Sponsors for a 300-person developer conference", _A.INTRO, ("Sponsorship",),
             "Looking for warm intros to developer-tools companies."),
         Ask("A venue for 80 people in Lisbon", _A.ADVICE, ("Event Planning",),
             "One day, in March, with good wifi and daylight.")),
    ),
    Field(
        "writing", "Writers' Room", "Writers, editors and the people who need them.",
        ("Copywriter", "Technical Writer", "Editor", "Journalist"),
        ("Writing", "Editing", "Technical Writing", "Storytelling", "Copywriting"),
        ("Journalism", "Publishing", "Podcasting", "Translation"),
        ("SEO", "Branding", "Growth", "Legal"),
        ("An edit of your essay", "A rewrite of your product's docs home page",
         "Help with a pitch to an editor"),
        (("Publish a nonfiction book", _G.LAUNCH, ("Writing", "Publishing")),
         ("Land three new documentation clients", _G.CLIENTS, ("Technical Writing",))),
        (Ask("An editor for a 4,000-word essay", _A.HIRE, ("Editing",),
             "Long-form piece on remote work; needs structure more than commas."),
         Ask("Feedback on our API docs", _A.FEEDBACK, ("Technical Writing",),
             "Developers say the quickstart is confusing; we can't see why any more."),
         Ask("How to pitch a story to a tech publication", _A.ADVICE, ("Journalism",),
             "First time pitching; I have a story and no contacts.")),
    ),
    Field(
        "fundraising", "Founders & Funders", "Founders raising, and the people who invest.",
        ("Founder", "Angel Investor", "VC Associate", "Fundraising Advisor"),
        ("Fundraising", "Venture Capital", "Pitching", "Angel Investing", "Grant Writing"),
        ("Startups", "Climate Tech", "Impact Investing", "Nonprofits"),
        ("Financial Modeling", "Legal", "Branding", "Sales"),
        ("A review of your pitch deck", "Intros to angels in climate tech",
         "A mock investor meeting"),
        (("Raise a seed round of 1.5M", _G.FUNDRAISING, ("Fundraising", "Venture Capital")),
         ("Win an EU innovation grant", _G.FUNDRAISING, ("Grant Writing",))),
        (Ask("Feedback on a seed pitch deck", _A.FEEDBACK, ("Pitching", "Fundraising"),
             "Twelve slides, climate-tech hardware. Where do you lose interest?"),
         Ask("Intro to angels who invest in edtech", _A.INTRO, ("Angel Investing",),
             "Raising a pre-seed round; two angels in, looking for three more."),
         Ask("Help writing a grant application", _A.ADVICE, ("Grant Writing",),
             "EU innovation grant, deadline in six weeks, first time applying.")),
    ),
)  # fmt: skip

FIRST_NAMES = (
    "Ada", "Amara", "Ana", "Arjun", "Aylin", "Bruno", "Chen", "Chiara", "Dana", "Diego",
    "Elif", "Emma", "Farah", "Felix", "Hana", "Hugo", "Ines", "Ivan", "Jonas", "Kemi",
    "Kenji", "Lena", "Leo", "Lucia", "Maya", "Mateo", "Mei", "Nadia", "Noah", "Omar",
    "Priya", "Rafael", "Rosa", "Sami", "Sara", "Tariq", "Tomas", "Vera", "Yusuf", "Zoe",
    "Anouk", "Bilal", "Camille", "Dmitri", "Esther", "Femi", "Greta", "Hiro", "Isla", "Jamal",
)  # fmt: skip
LAST_NAMES = (
    "Adeyemi", "Almeida", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia",
    "Haddad", "Ito", "Jensen", "Kaur", "Kowalski", "Laurent", "Martin", "Moreau", "Nakamura",
    "Novak", "Okafor", "Olsen", "Park", "Petrov", "Quinn", "Rossi", "Santos", "Schmidt",
    "Silva", "Singh", "Tanaka", "Usman", "Varga", "Wang", "Weber", "Yilmaz", "Zhang",
    "Brennan", "Castillo", "Dahl", "Ekström", "Ferreira",
)  # fmt: skip
CITIES = (
    ("Paris", "Europe/Paris"), ("Berlin", "Europe/Berlin"), ("London", "Europe/London"),
    ("Lisbon", "Europe/Lisbon"), ("Warsaw", "Europe/Warsaw"), ("New York", "America/New_York"),
    ("Toronto", "America/Toronto"), ("Mexico City", "America/Mexico_City"),
    ("São Paulo", "America/Sao_Paulo"), ("Lagos", "Africa/Lagos"), ("Nairobi", "Africa/Nairobi"),
    ("Bangalore", "Asia/Kolkata"), ("Singapore", "Asia/Singapore"), ("Tokyo", "Asia/Tokyo"),
    ("Sydney", "Australia/Sydney"), ("Amsterdam", "Europe/Amsterdam"),
)  # fmt: skip
COMPANIES = (
    "Northwind Analytics", "Bluefin Labs", "Kettle & Co", "Parcel Post", "Orbital Health",
    "Lumen Bank", "Tidewater Studio", "Granite Cloud", "Moss Robotics", "Fjord Travel",
    "Brightline Media", "Copperleaf Foods", "Quayside Legal", "Hatch Ventures", "Pebble Pay",
    "Saffron Retail", "Atlas Learning", "Beacon Energy",
)  # fmt: skip
EVENTS = (
    "SaaStr Europe", "Web Summit", "PyCon", "a Lisbon founders' breakfast", "Config",
    "MozCon", "a Berlin product meetup", "Slush", "a London growth dinner", "DevOpsDays",
    "a remote-work retreat", "an accelerator demo day",
)  # fmt: skip
BIO_OPENINGS = (
    "I help small teams get {a} right.",
    "Ten years of {a}, mostly in early-stage companies.",
    "Former agency lead, now independent: {a} and {b}.",
    "I do {a} for a living and teach {b} on weekends.",
    "{role} with a soft spot for {b}.",
)
BIO_CLOSINGS = (
    " Currently learning {c}.",
    " Ask me about {b} or {c}.",
    " Happy to swap {a} advice for help with {c}.",
    "",
)


@dataclasses.dataclass(frozen=True)
class Profile:
    """One demo member as they present themselves."""

    handle: str
    email: str
    display_name: str
    field: Field
    headline: str
    bio: str
    location: str
    timezone: str
    company: str
    skills: tuple[str, ...]
    interests: tuple[str, ...]
    seeks: tuple[str, ...]
    gives: tuple[tuple[str, str, int], ...]  # tag, description, monthly capacity


def field_named(slug: str) -> Field:
    """Return the field with this slug."""
    return next(field for field in FIELDS if field.slug == slug)


# The journey of README.md: Alice (SEO) knows Bob, Bob knows Carol, Alice does not know Carol.
JOURNEY: tuple[Profile, ...] = (
    Profile(
        "alice", "alice@example.com", "Alice Martin", field_named("marketing"),
        "SEO consultant for SaaS companies", "I help SaaS teams get found: technical SEO, "
        "content that ranks, and analytics that answer real questions. Ask me about site "
        "migrations.", "Lisbon", "Europe/Lisbon", "Northwind Analytics",
        ("SEO", "Content Strategy", "Analytics"), ("SaaS", "Community Building"),
        ("Public Speaking",), (("SEO", "An SEO audit of your site", 3),),
    ),
    Profile(
        "bob", "bob@example.com", "Bob Okafor", field_named("product"),
        "Head of Product at Bluefin Labs", "Product person who used to be an engineer. I "
        "connect people who should know each other.", "Berlin", "Europe/Berlin", "Bluefin Labs",
        ("Product Management", "Pricing", "Discovery"), ("SaaS", "Marketplaces"),
        ("SEO", "Event Planning"), (("Product Management", "A review of your roadmap", 2),),
    ),
    Profile(
        "carol", "carol@example.com", "Carol Nakamura", field_named("events"),
        "Conference organiser: SaaS Summit Lisbon", "I put on conferences for SaaS founders. "
        "Organising one for May 2027 and looking for speakers, sponsors and a website that "
        "people can find.", "Lisbon", "Europe/Lisbon", "Fjord Travel",
        ("Event Planning", "Sponsorship", "Community Building"), ("SaaS", "Travel"),
        ("SEO", "Branding"), (("Event Planning", "A checklist for your first meetup", 2),),
    ),
)  # fmt: skip
JOURNEY_HANDLES = frozenset(profile.handle for profile in JOURNEY)
JOURNEY_EMAILS = frozenset(profile.email for profile in JOURNEY)


def draw_profiles(rng: random.Random, count: int, taken: frozenset[str]) -> list[Profile]:
    """Draw ``count`` distinct people, spread over the fields, avoiding ``taken`` handles."""
    names = [(first, last) for first in FIRST_NAMES for last in LAST_NAMES]
    rng.shuffle(names)
    profiles: list[Profile] = []
    used = set(taken)
    for index in range(count):
        first, last = names[index % len(names)]
        handle = _free_handle(f"{first}_{last}", used)
        used.add(handle)
        field = FIELDS[index % len(FIELDS)] if index < len(FIELDS) else rng.choice(FIELDS)
        profiles.append(_profile(rng, handle, f"{first} {last}", field))
    return profiles


def _profile(rng: random.Random, handle: str, name: str, field: Field) -> Profile:
    role = rng.choice(field.roles)
    company = rng.choice(COMPANIES)
    city, timezone = rng.choice(CITIES)
    skills = rng.sample(field.skills, rng.randint(3, 5))
    if rng.random() < 0.3:
        # Some people carry a skill from a neighbouring field.
        other = rng.choice(FIELDS)
        extra = rng.choice(other.skills)
        if extra not in skills:
            skills.append(extra)
    interests = rng.sample(field.interests, rng.randint(1, 3))
    seeks = rng.sample(field.seeks, rng.randint(1, 2))
    a, b = skills[0], skills[1]
    c = seeks[0]
    headline = f"{role} at {company}" if rng.random() < 0.6 else f"{role} · {a} and {b} · {city}"
    bio = rng.choice(BIO_OPENINGS).format(a=a, b=b, role=role) + rng.choice(BIO_CLOSINGS).format(
        a=a, b=b, c=c
    )
    gives = tuple(
        (skill, rng.choice(field.gives), rng.randint(1, 5)) for skill in skills[: rng.randint(0, 2)]
    )
    return Profile(
        handle=handle,
        email=f"{handle}@{DEMO_EMAIL_DOMAIN}",
        display_name=name,
        field=field,
        headline=headline,
        bio=bio,
        location=city,
        timezone=timezone,
        company=company,
        skills=tuple(skills),
        interests=tuple(interests),
        seeks=tuple(seeks),
        gives=gives,
    )


def _free_handle(name: str, used: set[str]) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = ascii_name.lower()[:27]
    handle, number = base, 2
    while handle in used:
        handle, number = f"{base}{number}", number + 1
    return handle
