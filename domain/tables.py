"""Every table the domain owns, imported so ``metadata`` is complete (migrations, tests)."""

from domain import events, idempotency
from domain.ledger import models as ledger
from domain.marketplace import models as marketplace
from domain.members import models as members
from domain.network import models as network
from domain.store import Base

metadata = Base.metadata

__all__ = [
    "events",
    "idempotency",
    "ledger",
    "marketplace",
    "members",
    "metadata",
    "network",
]
