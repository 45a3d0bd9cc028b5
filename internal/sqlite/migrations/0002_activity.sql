-- 0002: each session's activity trail, and what its rules need to know of
-- the session's past without reading the trail.

-- countries is a JSON array of the country names the session has been seen
-- in, in order; last_fix_* is the last located trail entry (all three NULL
-- while none). Sessions started before this migration begin with no past.
ALTER TABLE sessions ADD COLUMN countries    TEXT NOT NULL DEFAULT '[]';
ALTER TABLE sessions ADD COLUMN last_fix_at  INTEGER;
ALTER TABLE sessions ADD COLUMN last_fix_lat REAL;
ALTER TABLE sessions ADD COLUMN last_fix_lon REAL;

-- One row per recorded activity that changed a session's clients, IP or
-- user agent. seq (the rowid) orders a session's entries: a new row's rowid
-- is above every row stored, so within a session it grows with each entry.
-- The location columns hold where the IP was located at the time. Deleting
-- a session (purge, or erasing its user) cascades here.
CREATE TABLE session_activity (
	seq               INTEGER PRIMARY KEY,
	session           INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	at                INTEGER NOT NULL,
	client_id         TEXT    NOT NULL,
	ip_address        TEXT,
	user_agent        TEXT,
	country           TEXT,
	city              TEXT,
	region            TEXT,
	latitude          TEXT,
	longitude         TEXT,
	new_country       INTEGER NOT NULL,
	impossible_travel INTEGER NOT NULL
);

-- A page of a session's trail, newest first, walks this index backwards
-- from the session's last entry; trimming finds the cut-off by the same
-- walk and deletes the range before it. Both read the index alone (the
-- rowid is seq). It also serves the cascade from sessions.
CREATE INDEX session_activity_by_session ON session_activity (session, seq);
