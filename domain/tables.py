"""Every table the domain owns, imported so ``metadata`` is complete (migrations, tests)."""

from domain import consumers, events, idempotency
from domain.ledger import models as ledger
from domain.marketplace import models as marketplace
from domain.matching import models as matching
from domain.members import models as members
from domain.network import cooling
from domain.network import models as network
from domain.partners import models as partners
from domain.store import Base

metadata = Base.metadata

__all__ = [
    "consumers",
    "cooling",
    "events",
    "idempotency",
    "ledger",
    "marketplace",
    "matching",
    "members",
    "metadata",
    "network",
    "partners",
]
