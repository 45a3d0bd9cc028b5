-- 0007: the per-user sort indexes carry what decides whether a session is
-- active (revoked_at, expires_at) and its row id, so that counting a
-- user's sessions and skipping the rows before a deep page read the index
-- alone (index-only scans, once vacuum has marked the pages all-visible)
-- instead of one table row each: for a user with 10,000 sessions, the
-- count visited 10,000 table pages and page 500 another 5,000. The
-- indexes keep their names and key columns, so every plan that used them
-- still can. revoked_at and expires_at were already in indexes, so no
-- update that was HOT before stops being HOT.
--
-- Rebuilding takes a write lock on sessions for the length of four index
-- builds (seconds per million sessions).
CREATE INDEX sessions_by_user_session_id_0007 ON sessions (tenant_id, user_id, session_id)
	INCLUDE (revoked_at, expires_at, id);
CREATE INDEX sessions_by_user_initiated_at_0007 ON sessions (tenant_id, user_id, initiated_at, session_id)
	INCLUDE (revoked_at, expires_at, id);
CREATE INDEX sessions_by_user_expires_at_0007 ON sessions (tenant_id, user_id, expires_at, session_id)
	INCLUDE (revoked_at, id);
CREATE INDEX sessions_by_user_last_updated_0007 ON sessions (tenant_id, user_id, last_updated, session_id)
	INCLUDE (revoked_at, expires_at, id);
DROP INDEX sessions_by_user_session_id, sessions_by_user_initiated_at,
	sessions_by_user_expires_at, sessions_by_user_last_updated;
ALTER INDEX sessions_by_user_session_id_0007 RENAME TO sessions_by_user_session_id;
ALTER INDEX sessions_by_user_initiated_at_0007 RENAME TO sessions_by_user_initiated_at;
ALTER INDEX sessions_by_user_expires_at_0007 RENAME TO sessions_by_user_expires_at;
ALTER INDEX sessions_by_user_last_updated_0007 RENAME TO sessions_by_user_last_updated;
