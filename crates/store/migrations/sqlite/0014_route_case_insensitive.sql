-- Forward-auth: a route may be declared case-insensitive (its path prefix then also covers
-- other cases of the canonical path, e.g. /PAYROLL/x under /payroll). 0 or 1.
ALTER TABLE routes ADD COLUMN case_insensitive INTEGER NOT NULL DEFAULT 0;
