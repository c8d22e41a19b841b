"""The ledger against a model: Hypothesis drives the real commands and a small pure-Python
model of the same flows side by side, and after every step checks that the database says
what the model says, and that every invariant of ``domain.ledger.audit`` holds.

Flows: welcome grants, bounty escrow on posting (and its refusal), awards, tips and IOUs on
completion, refunds on cancel and on fulfilment, gifts with reused keys (same body: the
first outcome, refusals included; another body: CONFLICT), overdraft attempts, and IOUs
settled in karma, forgiven, called in and settled by helping back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from domain.errors import Code, DomainError
from domain.ledger import audit, flows, ious
from domain.ledger.core import Posting, karma_account, transfer
from domain.ledger.models import Account, Iou, IouStatus, TransferReason
from domain.ledger.rules import LedgerPolicy
from domain.marketplace import offers, requests
from domain.marketplace.rules import (
    Audience,
    AudienceScope,
    HelpRequestDraft,
    HelpRequestKind,
    MarketPolicy,
    Settlement,
)
from domain.store import Store
from tests.builders import member_row

WELCOME = 30
LEDGER = LedgerPolicy(welcome_karma=WELCOME, iou_value=7, max_ious_owed=2)
POLICY = MarketPolicy(max_open_requests=1000, ledger=LEDGER)
_handles = itertools.count()


@dataclasses.dataclass
class Request:
    id: int
    author: int
    bounty: int
    offers_iou: bool
    open: bool = True


@dataclasses.dataclass
class Model:
    available: dict[int, int] = dataclasses.field(default_factory=dict)
    escrow: dict[int, int] = dataclasses.field(default_factory=dict)
    # iou id → [debtor, creditor, status, called-in request id]
    ious: dict[int, list[Any]] = dataclasses.field(default_factory=dict)
    # gift key → (body, outcome: transfer id or refusal code)
    gifts: dict[str, tuple[tuple[int, int, int], int | Code]] = dataclasses.field(
        default_factory=dict
    )

    def owed(self, member: int) -> int:
        return sum(1 for d, _, s, _ in self.ious.values() if d == member and s == "OUTSTANDING")


class LedgerMachine(RuleBasedStateMachine):
    """One example: three fresh members in a database other examples also wrote to."""

    store: Store
    loop: asyncio.AbstractEventLoop

    members = Bundle("members")
    requests = Bundle("requests")
    iou_ids = Bundle("ious")

    def __init__(self) -> None:
        super().__init__()
        self.model = Model()

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    async def _command(self, command: Any) -> Any:
        async with self.store.transaction() as tx:
            result = await command(tx)
            await tx.commit()
        return result

    def attempt(self, command: Any) -> Any:
        """Run a command in its own transaction; return its result or its refusal's code."""
        try:
            return self.run(self._command(command))
        except DomainError as error:
            return error.code

    @initialize(target=members)
    def join(self) -> Any:
        async def make(tx: Any) -> list[int]:
            rows = [member_row(f"m{next(_handles)}", tx.now) for _ in range(3)]
            tx.session.add_all(rows)
            await tx.session.flush()
            for row in rows:
                await flows.grant_welcome(tx, member_id=row.id, amount=WELCOME)
            return [row.id for row in rows]

        ids = self.run(self._command(make))
        for member_id in ids:
            self.model.available[member_id] = WELCOME
        return multiple(*ids)

    @rule(
        target=requests, author=members, bounty=st.sampled_from([0, 5, 20, 45]), iou=st.booleans()
    )
    def post(self, author: int, bounty: int, iou: bool) -> Any:
        draft = HelpRequestDraft(
            title="Need a hand with this",
            details=None,
            kind=HelpRequestKind.ADVICE,
            tags=[],
            audience=Audience(scope=AudienceScope.PUBLIC),
            bounty=bounty or None,
            offers_iou=iou,
            max_helpers=1,
            expires_at=None,
        )
        result = self.attempt(
            lambda tx: requests.post_help_request(tx, actor_id=author, draft=draft, policy=POLICY)
        )
        if iou and self.model.owed(author) >= LEDGER.max_ious_owed:
            assert result is Code.LIMIT_EXCEEDED
            return multiple()
        if bounty > self.model.available[author]:
            assert result is Code.INSUFFICIENT_KARMA
            return multiple()
        assert not isinstance(result, Code), result
        self.model.available[author] -= bounty
        self.model.escrow[result.id] = bounty
        return Request(result.id, author, bounty, iou)

    @rule(
        request=requests,
        helper=members,
        settlement=st.sampled_from(list(Settlement)),
        tip=st.sampled_from([None, 3, 40]),
    )
    def help(self, request: Request, helper: int, settlement: Settlement, tip: int | None) -> None:
        if not request.open or helper == request.author:
            return
        if settlement is Settlement.BOUNTY and not request.bounty:
            settlement = Settlement.THANKS
        if settlement is Settlement.IOU and not request.offers_iou:
            settlement = Settlement.THANKS
        author = request.author

        async def offer_and_accept(tx: Any) -> int:
            offer = await offers.offer_help(
                tx, actor_id=helper, help_request_id=request.id, message=None
            )
            await offers.accept_offer(tx, actor_id=author, offer_id=offer.id)
            return offer.id

        offer_id = self.run(self._command(offer_and_accept))
        result = self.attempt(
            lambda tx: offers.complete_help(
                tx,
                actor_id=author,
                offer_id=offer_id,
                settlement=settlement,
                tip=tip,
                note=None,
                policy=POLICY,
            )
        )
        model = self.model
        if settlement is Settlement.IOU and model.owed(author) >= LEDGER.max_ious_owed:
            assert result is Code.LIMIT_EXCEEDED
            self.attempt(lambda tx: offers.withdraw_offer(tx, actor_id=helper, offer_id=offer_id))
            return
        if tip and tip > model.available[author]:
            assert result is Code.INSUFFICIENT_KARMA
            self.attempt(lambda tx: offers.withdraw_offer(tx, actor_id=helper, offer_id=offer_id))
            return
        assert not isinstance(result, Code), result
        if settlement is Settlement.BOUNTY:
            model.available[helper] += model.escrow[request.id]
            model.escrow[request.id] = 0
        if tip:
            model.available[author] -= tip
            model.available[helper] += tip
        owed_back = [
            iou_id
            for iou_id, (d, c, s, _) in sorted(model.ious.items())
            if d == helper and c == author and s == "OUTSTANDING"
        ]
        called = [i for i in owed_back if model.ious[i][3] == request.id]
        if called or owed_back:
            model.ious[(called or owed_back)[0]][2] = "SETTLED"
        if settlement is Settlement.IOU:
            iou_id = self.run(self._iou_of_offer(offer_id))
            model.ious[iou_id] = [author, helper, "OUTSTANDING", None]
        # fulfilled: what is left in escrow goes back
        model.available[author] += model.escrow[request.id]
        model.escrow[request.id] = 0
        request.open = False

    async def _iou_of_offer(self, offer_id: int) -> int:
        async with self.store.reader() as session:
            found = await session.scalar(select(Iou.id).where(Iou.offer_id == offer_id))
        assert found is not None
        return found

    @rule(target=iou_ids, request=requests)
    def newest_iou(self, request: Request) -> Any:
        mine = [i for i, (d, c, _, _) in self.model.ious.items() if request.author in (d, c)]
        return multiple(*mine[-1:])

    @rule(request=requests)
    def cancel(self, request: Request) -> None:
        result = self.attempt(
            lambda tx: requests.cancel_help_request(
                tx, actor_id=request.author, help_request_id=request.id
            )
        )
        if not request.open:
            assert result is Code.INVALID_TRANSITION
            return
        assert not isinstance(result, Code), result
        self.model.available[request.author] += self.model.escrow[request.id]
        self.model.escrow[request.id] = 0
        request.open = False

    @rule(
        source=members,
        target_member=members,
        amount=st.integers(min_value=1, max_value=60),
        key=st.sampled_from(["a", "b", "c", "d"]),
    )
    def gift(self, source: int, target_member: int, amount: int, key: str) -> None:
        """A gift posted straight to the ledger, its key reused across steps at will."""
        if source == target_member:
            return
        key = f"gift:{source}:{key}"
        body = (source, target_member, amount)
        result = self.attempt(
            lambda tx: transfer(
                tx,
                Posting(
                    key=key,
                    source=karma_account(source),
                    target=karma_account(target_member),
                    amount=amount,
                    reason=TransferReason.GIFT,
                    actor_id=source,
                ),
                alone=True,
            )
        )
        model = self.model
        if key in model.gifts:
            first_body, outcome = model.gifts[key]
            assert result == (outcome if first_body == body else Code.CONFLICT)
            return
        if amount > model.available[source]:
            assert result is Code.INSUFFICIENT_KARMA
        else:
            assert isinstance(result, int)
            model.available[source] -= amount
            model.available[target_member] += amount
        model.gifts[key] = (body, result)

    @rule(iou_id=consumes(iou_ids))
    def settle(self, iou_id: int) -> None:
        debtor, creditor, status, _ = self.model.ious[iou_id]
        result = self.attempt(lambda tx: ious.settle_iou(tx, actor_id=debtor, iou_id=iou_id))
        if status != "OUTSTANDING":
            assert result is Code.INVALID_TRANSITION
        elif LEDGER.iou_value > self.model.available[debtor]:
            assert result is Code.INSUFFICIENT_KARMA
        else:
            assert not isinstance(result, Code), result
            self.model.available[debtor] -= LEDGER.iou_value
            self.model.available[creditor] += LEDGER.iou_value
            self.model.ious[iou_id][2] = "SETTLED"

    @rule(iou_id=iou_ids, by_debtor=st.booleans())
    def forgive(self, iou_id: int, by_debtor: bool) -> None:
        debtor, creditor, status, _ = self.model.ious[iou_id]
        actor = debtor if by_debtor else creditor
        result = self.attempt(lambda tx: ious.forgive_iou(tx, actor_id=actor, iou_id=iou_id))
        if by_debtor:
            assert result is Code.FORBIDDEN
        elif status != "OUTSTANDING":
            assert result is Code.INVALID_TRANSITION
        else:
            assert not isinstance(result, Code), result
            self.model.ious[iou_id][2] = "FORGIVEN"

    @rule(iou_id=iou_ids, request=requests)
    def call_in(self, iou_id: int, request: Request) -> None:
        _, creditor, status, _ = self.model.ious[iou_id]
        result = self.attempt(
            lambda tx: ious.call_in_iou(
                tx, actor_id=creditor, iou_id=iou_id, help_request_id=request.id
            )
        )
        if status != "OUTSTANDING":
            assert result is Code.INVALID_TRANSITION
        elif request.author != creditor:
            assert result is Code.NOT_FOUND
        elif not request.open:
            assert result is Code.INVALID_TRANSITION
        else:
            assert not isinstance(result, Code), result
            self.model.ious[iou_id][3] = request.id

    @invariant()
    def the_database_agrees_with_the_model_and_every_invariant_holds(self) -> None:
        if not self.model.available:
            return
        self.run(self._check())

    async def _check(self) -> None:
        model = self.model
        async with self.store.reader() as session:
            names = [karma_account(member_id) for member_id in model.available]
            balances = dict(
                (
                    await session.execute(
                        select(Account.member_id, Account.balance).where(Account.name.in_(names))
                    )
                ).all()
            )
            assert balances == model.available
            escrows = dict(
                (
                    await session.execute(
                        select(Account.help_request_id, Account.balance).where(
                            Account.help_request_id.in_(list(model.escrow))
                        )
                    )
                ).all()
            )
            assert {r: b for r, b in model.escrow.items() if b} == {
                r: b for r, b in escrows.items() if b
            }
            statuses = dict(
                (
                    await session.execute(
                        select(Iou.id, Iou.status).where(Iou.id.in_(list(model.ious)))
                    )
                ).all()
            )
            assert {i: s.value for i, s in statuses.items()} == {
                i: status for i, (_, _, status, _) in model.ious.items()
            }
            outstanding = sum(1 for s in statuses.values() if s is IouStatus.OUTSTANDING)
            issued = len(model.ious)
            closed = sum(1 for _, _, s, _ in model.ious.values() if s != "OUTSTANDING")
            assert outstanding == issued - closed
            assert await audit.violations(session) == []


@pytest.fixture
def ledger_store(database_url: str) -> Any:
    loop = asyncio.new_event_loop()
    store = Store(database_url, pool_size=2)
    yield store, loop
    loop.run_until_complete(store.dispose())
    loop.close()


def test_the_ledger_matches_its_model_through_every_flow(ledger_store: Any) -> None:
    store, loop = ledger_store
    LedgerMachine.store, LedgerMachine.loop = store, loop
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
