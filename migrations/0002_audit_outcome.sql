-- Audit rows are written before the change they record (src/tenants/directory.ts `audited`):
-- 'pending' while it runs, then 'done', or 'failed' (a refused change's row is removed). A row left 'pending' is a change that may
-- have happened (the follow-up write failed); earlier rows were all written after the change.
ALTER TABLE audit_log ADD COLUMN outcome TEXT NOT NULL DEFAULT 'done';
