-- 0002: each session's activity trail, and what its rules need to know of
-- the session's past without reading the trail.

-- countries lists the country names the session has been seen in, in
-- order; last_fix_* is the last located trail entry (all three NULL while
-- none). Adding columns with a constant default rewrites no rows, so this
-- is quick however many sessions are stored; sessions started before it
-- begin with no past.
ALTER TABLE sessions
	ADD COLUMN countries    text[] NOT NULL DEFAULT '{}',
	ADD COLUMN last_fix_at  bigint,
	ADD COLUMN last_fix_lat double precision,
	ADD COLUMN last_fix_lon double precision;

-- One row per recorded activity that changed a session's clients, IP or
-- user agent. seq orders a session's entries: it is taken while the
-- session's row is locked (UpdateSession) or before the session is visible
-- (CreateSession), so within a session it grows with each entry. The
-- location columns hold where the IP was located at the time. Deleting a
-- session (purge, or erasing its user) cascades here.
CREATE TABLE session_activity (
	seq               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	session           bigint NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	at                bigint NOT NULL,
	client_id         text NOT NULL,
	ip_address        text,
	user_agent        text,
	country           text,
	city              text,
	region            text,
	latitude          text,
	longitude         text,
	new_country       boolean NOT NULL,
	impossible_travel boolean NOT NULL
);

-- A page of a session's trail, newest first, walks this index backwards
-- from the session's last entry; trimming finds the cut-off by an
-- index-only walk and deletes the range before it. It also serves the
-- cascade from sessions, which would otherwise scan the whole table for
-- every purged session.
CREATE INDEX session_activity_by_session ON session_activity (session, seq);
