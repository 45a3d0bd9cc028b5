-- 0003: why and by whom each revoked session ended.
--
-- end_reason is what the revocation recorded (signed_out, revoked,
-- revoked_all, bulk_revoked) and ended_by the ID of the API key that asked;
-- both NULL while the session is not revoked. Expiry writes nothing: its
-- reason is worked out when an ended session is read. Sessions revoked
-- before this migration keep NULL and read as "revoked".
--
-- No index is added: listing a user's ended sessions walks the same
-- per-user sort indexes as listing the active ones, with the opposite
-- filter, and sessions_by_user_expires_at carries revoked_at so that
-- counting either set reads that index alone.
ALTER TABLE sessions ADD COLUMN end_reason TEXT;
ALTER TABLE sessions ADD COLUMN ended_by   TEXT;
