-- Migration 0015: a ledger transaction's balance is summed once, not once per entry.
--
-- The deferred trigger still fires for every entry, at commit. An entry leaves
-- the sum to the next one when the entry with the next id belongs to the same
-- ledger transaction and was inserted by the same (sub)transaction: that one's
-- trigger will run as well, and sees every entry this one would. The last entry
-- of each run of ids does sum. The skip takes two lookups by primary key, where
-- the sum read every entry of the transaction, which made a transaction of n
-- entries (a coupon run's batch, a leg per wallet) cost n * n.
CREATE OR REPLACE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    off record;
BEGIN
    PERFORM 1
       FROM ledger_entries this, ledger_entries next
      WHERE this.community_id = NEW.community_id AND this.id = NEW.id
        AND next.community_id = NEW.community_id AND next.id = NEW.id + 1
        AND next.transaction_id = NEW.transaction_id
        AND next.xmin = this.xmin;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    SELECT unit, SUM(amount) AS total INTO off
      FROM ledger_entries
     WHERE community_id = NEW.community_id AND transaction_id = NEW.transaction_id
     GROUP BY unit
    HAVING SUM(amount) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: % sum to %',
            NEW.transaction_id, off.unit, off.total
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entries_balanced';
    END IF;
    RETURN NULL;
END $$;
