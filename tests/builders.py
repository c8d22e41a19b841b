"""Small builders for tests that start below the API: rows written straight to the store."""

from __future__ import annotations

from domain.members.models import Member, Visibility
from domain.store import Store


def member_row(handle: str, now, **changes) -> Member:
    """Return a member showing everything to everyone (a test changes what it needs)."""
    fields = {
        "email": f"{handle}@example.com",
        "email_key": f"{handle}@example.com",
        "password_hash": "-",
        "handle": handle,
        "display_name": handle.title(),
        "help_requests_per_week": 3,
        "visibility": Visibility.EVERYONE,
        "location_visibility": Visibility.EVERYONE,
        "seeks_visibility": Visibility.EVERYONE,
        "gives_visibility": Visibility.EVERYONE,
        "goals_visibility": Visibility.EVERYONE,
        "connections_visibility": Visibility.EVERYONE,
        "search_text": handle,
        "created_at": now,
        "updated_at": now,
    }
    return Member(**{**fields, **changes})


async def make_members(store: Store, *handles: str) -> list[int]:
    """Create members with these handles; return their ids in order."""
    async with store.transaction() as tx:
        members = [member_row(handle, tx.now) for handle in handles]
        tx.session.add_all(members)
        await tx.session.flush()
        ids = [member.id for member in members]
        await tx.commit()
    return ids
