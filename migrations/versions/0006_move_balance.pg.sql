-- Migration 0006: the guarded balance move, as jifen_redeem calls it.
CREATE FUNCTION jifen_move_balance(p_account_id bigint, p_amount bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE accounts SET balance = balance + p_amount
     WHERE id = p_account_id AND (may_go_negative OR balance + p_amount >= 0);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not hold the % needed', p_account_id, -p_amount
            USING ERRCODE = 'check_violation', CONSTRAINT = 'insufficient_balance';
    END IF;
END $$;
