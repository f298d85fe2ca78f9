-- Migration 0014: a closed month takes no more postings, and its row never changes.

-- Every posting of a community holds this lock shared until it commits; confirming a
-- month close takes it exclusively (app.month_close). So a posting either commits
-- before the close reads the books, or waits and then finds the month closed.
CREATE FUNCTION jifen_refuse_closed_month() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_period text;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(20131, (NEW.community_id % 2147483647)::integer);
    SELECT period INTO v_period FROM month_closes
     WHERE community_id = NEW.community_id AND status = 'closed'
       AND starts_at <= NEW.created_at AND NEW.created_at < ends_at
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'month % of community % is closed: post the correction into an open month',
            v_period, NEW.community_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_month_closed';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER ledger_transactions_month_open
    BEFORE INSERT ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION jifen_refuse_closed_month();

-- Entries added to a transaction of a closed month. Once per statement: a coupon run
-- inserts a hundred thousand entries at once. Only transactions at or below the
-- month's high-water mark can be in it, so new postings are never looked up.
CREATE FUNCTION jifen_refuse_entries_in_closed_month() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_found record;
BEGIN
    SELECT e.transaction_id, c.period, c.community_id INTO v_found
      FROM new_entries e
      JOIN month_closes c
        ON c.community_id = e.community_id AND c.status = 'closed'
       AND e.transaction_id <= c.last_transaction_id
      JOIN ledger_transactions t
        ON t.community_id = e.community_id AND t.id = e.transaction_id
     WHERE c.starts_at <= t.created_at AND t.created_at < c.ends_at
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'transaction % is in month % of community %, which is closed',
            v_found.transaction_id, v_found.period, v_found.community_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_month_closed';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_entries_month_open
    AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION jifen_refuse_entries_in_closed_month();

CREATE FUNCTION jifen_refuse_closed_month_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'month % of community % is closed: its row and report never change',
        OLD.period, OLD.community_id
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER month_closes_closed_final
    BEFORE UPDATE OR DELETE ON month_closes
    FOR EACH ROW WHEN (OLD.status = 'closed')
    EXECUTE FUNCTION jifen_refuse_closed_month_change();
