-- Brute-force counting: one counter per (tenant, subject), bumped before any password is verified
-- or legacy system asked, so concurrent attempts on every node see each other. The count starts
-- over at `expires_instant` (the end of its window, or the end of the lock it led to). It
-- supersedes the per-failure rows of `login_failures`.
CREATE TABLE login_attempts (
  tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  subject TEXT NOT NULL,
  n BIGINT NOT NULL,
  expires_instant BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, subject)
);

DROP TABLE login_failures;
