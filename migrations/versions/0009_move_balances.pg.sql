-- Migration 0009: the guarded balance move, once for PostgreSQL.
--
-- app.ledger.post calls it for every posting on PostgreSQL, and jifen_redeem
-- calls it for a redemption, so both move balances by the one rule: in
-- account-id order (concurrent posts lock rows in one order and cannot
-- deadlock; NO KEY UPDATE, as an UPDATE of the balance itself would lock, so
-- it waits for nobody who only inserted entries referring to the account),
-- every account of the community, and none below zero unless it
-- may go negative. A refused move changes nothing and returns the refused
-- account's id, so the caller's transaction stays usable; NULL means done.
CREATE FUNCTION jifen_move_balances(
    p_community_id bigint, p_account_ids bigint[], p_amounts bigint[]
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_row record;
    v_locked integer := 0;
BEGIN
    FOR v_row IN
        SELECT a.id, a.may_go_negative OR a.balance + m.amount >= 0 AS allowed
          FROM accounts a
          JOIN unnest(p_account_ids, p_amounts) AS m(id, amount) ON m.id = a.id
         WHERE a.community_id = p_community_id
         ORDER BY a.id
           FOR NO KEY UPDATE OF a
    LOOP
        IF NOT v_row.allowed THEN
            RETURN v_row.id;
        END IF;
        v_locked := v_locked + 1;
    END LOOP;
    IF v_locked <> cardinality(p_account_ids) THEN
        RAISE EXCEPTION 'accounts % are not all accounts of community %',
            p_account_ids, p_community_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    UPDATE accounts a
       SET balance = a.balance + m.amount
      FROM unnest(p_account_ids, p_amounts) AS m(id, amount)
     WHERE a.community_id = p_community_id AND a.id = m.id;
    RETURN NULL;
END $$;
