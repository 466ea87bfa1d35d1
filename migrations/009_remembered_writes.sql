-- A writer that remembers a proxy as its own last write left it decides on that memory and sends its
-- write with a guard: one statement, first in the same message, that locks the proxy and its
-- instances as every writer does and checks that none of their rows changed since (each row's xmin,
-- the transaction that wrote it, and the emergency brake). When one did, the guard raises PF409: the
-- transaction rolls back and the writer locks and reads as usual.
CREATE FUNCTION expect_current(p_current boolean) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF p_current IS NOT TRUE THEN
        RAISE EXCEPTION 'the remembered proxy changed since' USING ERRCODE = 'PF409';
    END IF;
    RETURN true;
END $$;
