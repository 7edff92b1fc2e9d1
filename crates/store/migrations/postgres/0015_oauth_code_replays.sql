-- A code's second use is recorded, so that its first use, still issuing tokens, finds it once
-- they are written and revokes them: a replay that races the first exchange cannot leave that
-- exchange's refresh token valid.
ALTER TABLE oauth_codes ADD COLUMN replayed_instant BIGINT;
