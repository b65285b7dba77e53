-- Conditional access policy sets, versioned: every change stores a whole new version (the
-- document as JSON: policies, named locations, authentication strengths); earlier versions
-- are kept so an administrator can see and restore them. The highest version is in force.
CREATE TABLE ca_policy_versions (
    version BIGINT PRIMARY KEY NOT NULL,
    document TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    comment TEXT NOT NULL
);

-- Sign-in log columns for filtering (the full decision record stays in details).
ALTER TABLE sign_ins ADD COLUMN app_id TEXT;
ALTER TABLE sign_ins ADD COLUMN sign_in_risk TEXT;
ALTER TABLE sign_ins ADD COLUMN ca_outcome TEXT;
-- Applied (enabled or report-only) policy ids, as ",id1,id2," for exact matching.
ALTER TABLE sign_ins ADD COLUMN ca_policies TEXT;
CREATE INDEX sign_ins_app_at ON sign_ins(app_id, at);
