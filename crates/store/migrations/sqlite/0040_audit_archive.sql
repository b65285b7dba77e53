-- Archiving a prefix of the audit log (issue 13): entries at or below the archive point
-- (`settings` row `audit.archived_seq`, written in the same transaction as the deletion, next
-- to the MACed point `audit.archived_through`) may be deleted; every other delete and every
-- update is still refused.
DROP TRIGGER audit_log_no_delete;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN OLD.seq > COALESCE((SELECT CAST(value AS INTEGER) FROM settings WHERE name = 'audit.archived_seq'), 0)
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
