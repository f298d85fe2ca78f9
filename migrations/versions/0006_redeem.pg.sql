-- Migration 0006: a redemption's writes in one call.
CREATE FUNCTION jifen_redeem(
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
    p_coupon_status text,
    p_memo text,
    p_now timestamptz
) RETURNS SETOF redemptions LANGUAGE plpgsql AS $$
DECLARE
    v_redemption_id bigint := nextval(pg_get_serial_sequence('redemptions', 'id'));
    v_transaction_id bigint;
    v_source_account_id bigint;
    v_receivable_account_id bigint;
    v_redemption redemptions;
BEGIN
    SELECT id INTO STRICT v_source_account_id FROM accounts
     WHERE community_id = p_community_id AND key = p_source_account_key;
    SELECT id INTO STRICT v_receivable_account_id FROM accounts
     WHERE community_id = p_community_id AND key = p_receivable_account_key;

    INSERT INTO ledger_transactions (community_id, kind, memo, reference, actor_id, created_at)
    VALUES (p_community_id, 'redemption', p_memo, 'redemption:' || v_redemption_id,
            p_cashier_id, p_now)
    RETURNING id INTO v_transaction_id;

    INSERT INTO ledger_entries (community_id, transaction_id, account_id, unit, amount)
    VALUES (p_community_id, v_transaction_id, v_source_account_id, 'points', -p_points),
           (p_community_id, v_transaction_id, v_receivable_account_id, 'points', p_points);

    IF p_coupon_id IS NOT NULL THEN
        UPDATE coupons
           SET points_remaining = points_remaining - p_points,
               status = p_coupon_status,
               closed_at = CASE WHEN p_coupon_status = 'redeemed' THEN p_now END
         WHERE community_id = p_community_id AND id = p_coupon_id
           AND points_remaining = p_coupon_points_before;
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

    -- Last, and in id order: the escrow row is every till's, so hold it briefly.
    IF v_source_account_id < v_receivable_account_id THEN
        PERFORM jifen_move_balance(v_source_account_id, -p_points);
        PERFORM jifen_move_balance(v_receivable_account_id, p_points);
    ELSE
        PERFORM jifen_move_balance(v_receivable_account_id, p_points);
        PERFORM jifen_move_balance(v_source_account_id, -p_points);
    END IF;
    RETURN NEXT v_redemption;
END $$;
