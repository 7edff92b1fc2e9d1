-- Most attempts succeed at once and are never looked up by status again, so the indexes that
-- find attempts by status hold only the ones still open: a claim, an end and the counts of
-- pending and failed attempts then work on a few rows, and a rewrite of a succeeded attempt
-- adds no entry to them.
DROP INDEX webhook_attempts_due_ix;
DROP INDEX webhook_attempts_status_ix;
CREATE INDEX webhook_attempts_due_ix ON webhook_attempts (webhook_id, next_attempt_at, id)
  WHERE status = 'pending';
CREATE INDEX webhook_attempts_open_ix ON webhook_attempts (status, event_instant)
  WHERE status <> 'succeeded';
-- Each rewrite of a row adds an entry to every index it is in, so a webhook's attempts (deleted
-- with it) are found on the uniqueness of (webhook, event), which now leads with the webhook,
-- rather than on an index of their own.
ALTER TABLE webhook_attempts DROP CONSTRAINT webhook_attempts_event_id_webhook_id_key;
ALTER TABLE webhook_attempts ADD CONSTRAINT webhook_attempts_webhook_event_key
  UNIQUE (webhook_id, event_id);
