-- 0003: why and by whom each revoked session ended.
--
-- end_reason is what the revocation recorded (signed_out, revoked,
-- revoked_all, bulk_revoked) and ended_by the ID of the API key that asked;
-- both NULL while the session is not revoked. Expiry writes nothing: its
-- reason is worked out when an ended session is read. Adding nullable
-- columns without a default rewrites no rows, so this is quick however
-- many sessions are stored; sessions revoked before it keep NULL and read
-- as "revoked".
--
-- No index is added: listing a user's ended sessions walks the same
-- per-user sort indexes as listing the active ones, with the opposite
-- filter.
ALTER TABLE sessions
	ADD COLUMN end_reason text,
	ADD COLUMN ended_by   text;
