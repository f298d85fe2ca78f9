-- Migration 0015: jifen_redeem claims the request's key per (community, member, key),
-- the unique key of idempotency_keys now that it is keyed by community.
CREATE OR REPLACE FUNCTION jifen_redeem(
    p_community_id bigint,
    p_merchant_id bigint,
    p_cashier_id bigint,
    p_offer_id bigint,
    p_coupon_id bigint,
    p_member_id bigint,
    p_source_account_key text,
    p_receivable_account_key text,
    p_bill_fen bigint,
    p_discount_fen bigint,
    p_points bigint,
    p_points_value_fen bigint,
    p_cash_fen bigint,
    p_points_per_yuan bigint,
    p_coupon_points_before bigint,
    p_coupon_status_before text,
    p_coupon_status text,
    p_memo text,
    p_now timestamptz,
    p_redemption_id bigint,
    p_transaction_id bigint,
    p_key text,
    p_key_fingerprint text,
    p_key_expires_at timestamptz,
    p_response_status integer,
    p_response_type text,
    p_response_body bytea
) RETURNS SETOF redemptions LANGUAGE plpgsql AS $$
DECLARE
    v_redemption_id bigint :=
        coalesce(p_redemption_id, nextval(pg_get_serial_sequence('redemptions', 'id')));
    v_transaction_id bigint :=
        coalesce(p_transaction_id, nextval(pg_get_serial_sequence('ledger_transactions', 'id')));
    v_source_account_id bigint;
    v_receivable_account_id bigint;
    v_redemption redemptions;
    v_refused bigint;
BEGIN
    -- First: a concurrent request with the same key waits here, then writes nothing.
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (community_id, member_id, key, fingerprint, status_code,
                                      content_type, body, created_at, expires_at)
        VALUES (p_community_id, p_cashier_id, p_key, p_key_fingerprint, p_response_status,
                p_response_type, p_response_body, p_now, p_key_expires_at)
        ON CONFLICT (community_id, member_id, key) DO NOTHING;
        IF NOT FOUND THEN
            RETURN;
        END IF;
    END IF;

    SELECT id INTO STRICT v_source_account_id FROM accounts
     WHERE community_id = p_community_id AND key = p_source_account_key;
    SELECT id INTO STRICT v_receivable_account_id FROM accounts
     WHERE community_id = p_community_id AND key = p_receivable_account_key;

    INSERT INTO ledger_transactions (id, community_id, kind, memo, reference, actor_id,
                                     created_at)
    VALUES (v_transaction_id, p_community_id, 'redemption', p_memo,
            'redemption:' || v_redemption_id, p_cashier_id, p_now);

    INSERT INTO ledger_entries (community_id, transaction_id, account_id, unit, amount)
    VALUES (p_community_id, v_transaction_id, v_source_account_id, 'points', -p_points),
           (p_community_id, v_transaction_id, v_receivable_account_id, 'points', p_points);

    IF p_coupon_id IS NOT NULL THEN
        UPDATE coupons
           SET points_remaining = points_remaining - p_points,
               status = p_coupon_status,
               closed_at = CASE WHEN p_coupon_status = 'redeemed' THEN p_now END
         WHERE community_id = p_community_id AND id = p_coupon_id
           AND points_remaining = p_coupon_points_before
           AND status = p_coupon_status_before
           AND expires_at > p_now;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'coupon % no longer holds % points', p_coupon_id, p_coupon_points_before
                USING ERRCODE = 'check_violation', CONSTRAINT = 'coupon_points_changed';
        END IF;
        INSERT INTO coupon_postings (community_id, transaction_id, coupon_id, amount)
        VALUES (p_community_id, v_transaction_id, p_coupon_id, -p_points);
    END IF;

    INSERT INTO redemptions (
        id, community_id, merchant_id, cashier_id, offer_id, coupon_id, member_id,
        bill_fen, discount_fen, points, points_value_fen, cash_fen, points_per_yuan,
        status, transaction_id, created_at)
    VALUES (
        v_redemption_id, p_community_id, p_merchant_id, p_cashier_id, p_offer_id, p_coupon_id,
        p_member_id, p_bill_fen, p_discount_fen, p_points, p_points_value_fen, p_cash_fen,
        p_points_per_yuan, 'active', v_transaction_id, p_now)
    RETURNING * INTO v_redemption;

    -- Last: the escrow row is every till's, so hold it briefly.
    v_refused := jifen_move_balances(
        p_community_id,
        ARRAY[v_source_account_id, v_receivable_account_id],
        ARRAY[-p_points, p_points]);
    IF v_refused IS NOT NULL THEN
        RAISE EXCEPTION 'account % does not hold the % needed', v_refused, p_points
            USING ERRCODE = 'check_violation', CONSTRAINT = 'insufficient_balance';
    END IF;
    RETURN NEXT v_redemption;
END $$;
