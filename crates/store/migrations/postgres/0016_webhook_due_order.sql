-- A claim takes the due attempts in `next_attempt_at, id` order. With `id` in the index the
-- rows come out of it in that order; without it every claim sorts all the attempts that share
-- one `next_attempt_at` (a whole fan-out batch, or a whole backlog retried at once).
DROP INDEX webhook_attempts_due_ix;
CREATE INDEX webhook_attempts_due_ix ON webhook_attempts (webhook_id, status, next_attempt_at, id);
