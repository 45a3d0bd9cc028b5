-- 0006: every per-user sort index carries what the status filter reads.
--
-- A page at offset N walks N entries of its sort index before its rows.
-- The filter (revoked_at, expires_at) was only in sessions_by_user_expires_at,
-- so on the other three every skipped entry also read its table row: a
-- heavy user's page 500 cost 5-10 times its first page. With both columns
-- in the index, SQLite checks the filter on the index entry and reads the
-- table only for the rows it returns (its deferred seek), whatever the
-- offset. The price: a touch moves expires_at, and now updates these
-- entries too (it already rewrote last_updated's and expires_at's).
-- Names stay as they were: queries name them with INDEXED BY.
DROP INDEX sessions_by_user_session_id;
DROP INDEX sessions_by_user_initiated_at;
DROP INDEX sessions_by_user_last_updated;
CREATE INDEX sessions_by_user_session_id   ON sessions (tenant_id, user_id, session_id, revoked_at, expires_at);
CREATE INDEX sessions_by_user_initiated_at ON sessions (tenant_id, user_id, initiated_at, session_id, revoked_at, expires_at);
CREATE INDEX sessions_by_user_last_updated ON sessions (tenant_id, user_id, last_updated, session_id, revoked_at, expires_at);
