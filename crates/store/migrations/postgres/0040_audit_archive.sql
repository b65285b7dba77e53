-- Archiving a prefix of the audit log (issue 13): entries at or below the archive point
-- (`settings` row `audit.archived_seq`, written in the same transaction as the deletion, next
-- to the MACed point `audit.archived_through`) may be deleted; every other delete and every
-- update is still refused.
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.seq <= COALESCE(
        (SELECT CAST(value AS BIGINT) FROM settings WHERE name = 'audit.archived_seq'), 0) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END; $$;
