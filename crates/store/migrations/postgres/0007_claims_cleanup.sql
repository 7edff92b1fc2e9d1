-- Import jobs are claimed by one node at a time: `claimed_by` names the node, `claimed_until`
-- ends the claim unless the node renews it while the job runs. A running job whose claim has
-- ended was left by a node that stopped, and goes back to the queue.
ALTER TABLE import_jobs ADD COLUMN claimed_by TEXT;
ALTER TABLE import_jobs ADD COLUMN claimed_until BIGINT;

-- The cleanup worker deletes expired rows by their expiry.
CREATE INDEX refresh_tokens_expires_ix ON refresh_tokens (expires_instant);
CREATE INDEX change_password_ids_expires_ix ON change_password_ids (expires_instant);
