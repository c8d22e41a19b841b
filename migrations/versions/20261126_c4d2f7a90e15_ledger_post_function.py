"""ledger_post: a transfer's writes in one call on PostgreSQL

Revision ID: c4d2f7a90e15
Revises: b3e91c07d2a5
Create Date: 2026-11-26 10:00:00.000000

On PostgreSQL a transfer is one round trip instead of six: ``domain.ledger.core`` calls
this function with everything Python has already decided (the key's fingerprint, the rows
of the accounts to open, the outbox event). It runs the steps of ``core._post`` and
``idempotency.once`` in the same order and with the same statements: claim the key, lock
both accounts in id order (opening a missing one), the guarded debit, the credit, the
transfer row, the key's outcome and the outbox event. It decides nothing Python does not:
a replay or a refusal is handed back to Python, which raises what ``once`` would.

SQLite has no stored functions and runs the same steps from Python. The ledger's model
test runs both against the same model; a change to one is a change to the other, in a new
migration that replaces this function.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c4d2f7a90e15"
down_revision: str | None = "b3e91c07d2a5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER_POST = """
CREATE FUNCTION ledger_post(
    p_scope varchar, p_key varchar, p_fingerprint varchar,
    p_source varchar, p_target varchar, p_amount bigint, p_reason varchar,
    p_actor_id bigint, p_help_request_id bigint, p_offer_id bigint, p_iou_id bigint,
    p_intro_id bigint, p_memo varchar, p_now timestamptz,
    -- The rows of both accounts, opened (empty) if missing:
    -- [{"name", "kind", "member_id", "help_request_id", "lower_bound"}].
    p_open json,
    -- The outbox event; its payload's "transfer_id" is set to the new transfer's id.
    p_event_type varchar, p_event_payload json
) RETURNS TABLE (
    outcome text, transfer_id bigint, available bigint,
    -- A replay's first outcome, for the caller to compare and raise.
    first_fingerprint varchar, first_refusal json
)
LANGUAGE plpgsql AS $$
DECLARE
    v_locked integer;
    v_source_id bigint;
    v_target_id bigint;
    v_from_balance bigint;
    v_to_balance bigint;
    v_transfer_id bigint;
BEGIN
    -- 1. Claim the key. A key already claimed (its attempt committed: the INSERT waited
    --    for it) is replayed by the caller, from the first outcome returned here.
    INSERT INTO idempotency_keys (scope, key, fingerprint)
    VALUES (p_scope, p_key, p_fingerprint)
    ON CONFLICT (scope, key) DO NOTHING;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'replay'::text, k.result_id, NULL::bigint, k.fingerprint, k.refusal
        FROM idempotency_keys AS k WHERE k.scope = p_scope AND k.key = p_key;
        RETURN;
    END IF;

    -- 2. Lock both accounts in id order, so two transfers over them queue, never deadlock.
    SELECT count(*) INTO v_locked FROM (
        SELECT id FROM ledger_accounts WHERE name IN (p_source, p_target)
        ORDER BY id FOR UPDATE
    ) AS locked;
    IF v_locked < 2 THEN
        INSERT INTO ledger_accounts
            (name, kind, member_id, help_request_id, balance, lower_bound, created_at)
        SELECT o.name, o.kind, o.member_id, o.help_request_id, 0, o.lower_bound, p_now
        FROM json_to_recordset(p_open) AS o(
            name varchar, kind varchar, member_id bigint, help_request_id bigint,
            lower_bound bigint
        )
        ON CONFLICT (name) DO NOTHING;
        PERFORM id FROM ledger_accounts WHERE name IN (p_source, p_target)
        ORDER BY id FOR UPDATE;
    END IF;

    -- 3. The guarded debit: no row updated means the source cannot cover the amount.
    UPDATE ledger_accounts SET balance = balance - p_amount
    WHERE name = p_source AND (lower_bound IS NULL OR balance - p_amount >= lower_bound)
    RETURNING id, balance INTO v_source_id, v_from_balance;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'refused'::text, NULL::bigint,
            (SELECT balance FROM ledger_accounts WHERE name = p_source),
            NULL::varchar, NULL::json;
        RETURN;
    END IF;

    -- 4. The credit, the transfer row, the key's outcome and the event.
    UPDATE ledger_accounts SET balance = balance + p_amount
    WHERE name = p_target
    RETURNING id, balance INTO v_target_id, v_to_balance;
    INSERT INTO ledger_transfers (
        key, from_account_id, to_account_id, amount, from_balance, to_balance, reason,
        actor_id, help_request_id, offer_id, iou_id, intro_id, memo, created_at
    ) VALUES (
        p_key, v_source_id, v_target_id, p_amount, v_from_balance, v_to_balance, p_reason,
        p_actor_id, p_help_request_id, p_offer_id, p_iou_id, p_intro_id, p_memo, p_now
    ) RETURNING id INTO v_transfer_id;
    UPDATE idempotency_keys SET result_id = v_transfer_id
    WHERE scope = p_scope AND key = p_key;
    INSERT INTO outbox_events (type, actor_id, payload, occurred_at)
    VALUES (
        p_event_type, p_actor_id,
        (p_event_payload::jsonb || jsonb_build_object('transfer_id', v_transfer_id))::json,
        p_now
    );
    RETURN QUERY SELECT 'posted'::text, v_transfer_id, NULL::bigint, NULL::varchar, NULL::json;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(LEDGER_POST)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION ledger_post")
