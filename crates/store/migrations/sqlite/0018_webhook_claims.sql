-- A node's claims on webhook attempts, in a table of their own: a claim is a small row added
-- when the attempt is claimed and removed when its end is recorded, so a delivery rewrites the
-- attempt's row once (its end), and the attempt moves within the due index only when it leaves
-- it. An attempt is claimed while its row here has not passed `until_instant`; a later claim
-- (its node died) replaces the row. `attempts` is the attempt's count with the claimed attempt,
-- which its end must match.
CREATE TABLE webhook_claims (
  attempt INTEGER PRIMARY KEY, -- the attempt's rowid
  node TEXT NOT NULL,
  until_instant BIGINT NOT NULL,
  attempts BIGINT NOT NULL,
  claimed_instant BIGINT NOT NULL
);

-- A deleted attempt's claim goes with it, so a later attempt given the same rowid starts
-- unclaimed.
CREATE TRIGGER webhook_claims_of_deleted_attempts AFTER DELETE ON webhook_attempts
BEGIN
  DELETE FROM webhook_claims WHERE attempt = old.rowid;
END;
