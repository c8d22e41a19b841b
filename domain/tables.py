"""Every table the domain owns, imported so ``metadata`` is complete (migrations, tests)."""

from domain import events
from domain.marketplace import models as marketplace
from domain.members import models as members
from domain.network import models as network
from domain.store import Base

metadata = Base.metadata

__all__ = ["events", "marketplace", "members", "metadata", "network"]
