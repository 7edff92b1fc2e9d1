-- A claim writes only columns that no index holds (`claim_until`, `claimed_by`,
-- `last_attempt_instant`), so PostgreSQL can write the row's new version on its own page (a HOT
-- update) without adding an entry to any of the table's four indexes. The claim skips attempts
-- whose `claim_until` has not passed, and an end clears it. An attempt claimed before this
-- migration keeps its claim's end in `next_attempt_at`, as such claims did, and is due then.
ALTER TABLE webhook_attempts ADD COLUMN claim_until BIGINT;

-- Half of each new page stays free, so the claim's new versions of the rows on a page fit
-- there: with a full page, the update goes to another page and every index gets a new entry.
ALTER TABLE webhook_attempts SET (fillfactor = 50);
