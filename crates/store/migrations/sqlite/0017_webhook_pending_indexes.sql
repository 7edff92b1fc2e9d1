-- Most attempts succeed at once and are never looked up by status again, so the indexes that
-- find attempts by status hold only the ones still open: a claim, an end and the counts of
-- pending and failed attempts then work on a few rows, and an attempt that succeeds leaves both
-- indexes instead of moving within them. A webhook's attempts (deleted with it) have an index
-- of their own.
DROP INDEX webhook_attempts_due_ix;
DROP INDEX webhook_attempts_status_ix;
CREATE INDEX webhook_attempts_due_ix ON webhook_attempts (webhook_id, next_attempt_at)
  WHERE status = 'pending';
CREATE INDEX webhook_attempts_open_ix ON webhook_attempts (status, event_instant)
  WHERE status <> 'succeeded';
CREATE INDEX webhook_attempts_webhook_ix ON webhook_attempts (webhook_id);
