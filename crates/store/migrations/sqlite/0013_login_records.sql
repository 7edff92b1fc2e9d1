-- A user's recent sign-ins, read from the outbox: a login event names its user in a column of
-- its own, so the newest of one user's logins is an index range, not a scan of every event's
-- JSON. Other events leave it empty and the partial index skips them.
ALTER TABLE events ADD COLUMN login_user_id TEXT;
CREATE INDEX events_login_user_ix ON events (login_user_id, seq) WHERE login_user_id IS NOT NULL;
