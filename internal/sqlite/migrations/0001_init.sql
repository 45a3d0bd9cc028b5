-- 0001: the initial schema of sessiond's SQLite store.
--
-- Times are Unix seconds (INTEGER). "Not revoked" is revoked_at = 0, as in
-- the domain, so that every query compares integers and no index has to
-- cope with NULL.

-- A tenant owns API keys, users and sessions; created with its first key.
CREATE TABLE tenants (
	id         INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
);

-- API keys are stored only as the SHA-256 of their secret. scopes is the
-- comma-separated list of scopes in the order they were granted. The
-- implicit rowid keeps insertion order for keys created in the same second.
CREATE TABLE api_keys (
	id         TEXT    PRIMARY KEY,
	tenant_id  INTEGER NOT NULL REFERENCES tenants (id),
	name       TEXT    NOT NULL,
	scopes     TEXT    NOT NULL,
	hash       BLOB    NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	revoked_at INTEGER NOT NULL DEFAULT 0
);

-- A user exists from their first session until erased, so that listing the
-- sessions of a known user without active sessions is an empty page, not
-- "not found".
CREATE TABLE users (
	tenant_id  INTEGER NOT NULL REFERENCES tenants (id),
	user_id    TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, user_id)
) WITHOUT ROWID;

-- One row per session. id is an internal rowid that session_clients points
-- at; session_id is the public ID, session_key the SHA-256 of the token.
-- client_ids is a JSON array in join order (what the API shows);
-- session_clients holds the same IDs for the client filter. Erasing a user
-- cascades to their sessions and from there to session_clients.
CREATE TABLE sessions (
	id           INTEGER PRIMARY KEY,
	tenant_id    INTEGER NOT NULL,
	user_id      TEXT    NOT NULL,
	session_id   TEXT    NOT NULL UNIQUE,
	session_key  TEXT    NOT NULL UNIQUE,
	client_ids   TEXT    NOT NULL,
	initiated_at INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	last_updated INTEGER NOT NULL,
	ip_address   TEXT,
	user_agent   TEXT,
	country      TEXT,
	city         TEXT,
	region       TEXT,
	latitude     TEXT,
	longitude    TEXT,
	revoked_at   INTEGER NOT NULL DEFAULT 0,
	FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) ON DELETE CASCADE
);

-- One index per sort key, each ending in session_id: listing a user's
-- sessions in either direction walks one of them from the user's first
-- entry, with ties already in session_id order, so no sort is needed and a
-- page costs the rows before and on it. sessions_by_user_expires_at also
-- carries revoked_at, so that counting a user's active sessions reads the
-- index alone; revoked_at changes once in a session's life, expires_at on
-- every touch, so only indexes with expires_at in them pay for it.
-- sessions_by_user_session_id also serves the users foreign key (its first
-- two columns).
CREATE INDEX sessions_by_user_session_id   ON sessions (tenant_id, user_id, session_id);
CREATE INDEX sessions_by_user_initiated_at ON sessions (tenant_id, user_id, initiated_at, session_id);
CREATE INDEX sessions_by_user_expires_at   ON sessions (tenant_id, user_id, expires_at, session_id, revoked_at);
CREATE INDEX sessions_by_user_last_updated ON sessions (tenant_id, user_id, last_updated, session_id);

-- The purge finds ended sessions oldest first without scanning active ones;
-- sessions_by_expires_at also counts active sessions of all tenants (for
-- metrics) from the index alone.
CREATE INDEX sessions_by_revoked_at ON sessions (revoked_at) WHERE revoked_at > 0;
CREATE INDEX sessions_by_expires_at ON sessions (expires_at, revoked_at);

-- The clients that took part in a session. The primary key makes the client
-- filter one index probe per listed session.
CREATE TABLE session_clients (
	session   INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	client_id TEXT    NOT NULL,
	PRIMARY KEY (session, client_id)
) WITHOUT ROWID;
