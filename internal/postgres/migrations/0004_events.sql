-- 0004: the event outbox, and the webhooks that events are delivered to.
--
-- Every write that starts, joins or ends a session, or erases a user,
-- inserts its events here in the same transaction. seq orders them. An
-- identity column alone would not do for a reader that follows the feed
-- by "seq > last seen": two transactions can take seqs in one order and
-- commit in the other, and the reader would skip the one that commits
-- late. So every writer takes a transaction-level advisory lock just
-- before it inserts its events, as the last thing it does; the lock is
-- released after the commit is visible, so events become visible in seq
-- order. session_id is NULL for user.erased; data is the event's JSON
-- object (text: kept exactly as written). Events are purged by
-- occurred_at after the retention period; their deliveries go with them.
CREATE TABLE events (
	seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant_id   bigint NOT NULL,
	type        text NOT NULL,
	user_id     text COLLATE "C" NOT NULL,
	session_id  text COLLATE "C",
	occurred_at bigint NOT NULL,
	data        text NOT NULL
);
-- The feed reads a tenant's events after a cursor; the purge walks by time.
CREATE INDEX events_by_tenant ON events (tenant_id, seq);
CREATE INDEX events_by_time   ON events (occurred_at);

-- Whether a session's expiry has its event. Expiry happens without a
-- write, so the janitor records it later: it finds the expired sessions
-- without one through the partial index, which holds only sessions that
-- are not revoked and not yet reported. Sessions that had already expired
-- when this migration ran ended before events existed: they are marked
-- as reported, so that upgrading does not flood the feed with old news
-- (only ended sessions within the retention period are still stored).
ALTER TABLE sessions ADD COLUMN expiry_emitted boolean NOT NULL DEFAULT false;
UPDATE sessions SET expiry_emitted = true
	WHERE revoked_at = 0 AND expires_at <= extract(epoch FROM now())::bigint;
CREATE INDEX sessions_expiry_pending ON sessions (expires_at) WHERE revoked_at = 0 AND NOT expiry_emitted;

-- The purge of expired sessions takes only those whose expiry is reported
-- (or that were revoked): this index holds exactly them, oldest expiry
-- first, so a batch reads about as many entries as it deletes. Sessions
-- in use are not in it, so validations do not maintain it.
CREATE INDEX sessions_purgeable ON sessions (expires_at) WHERE revoked_at > 0 OR expiry_emitted;

-- A tenant's webhook endpoints. The secret is stored in clear: it signs
-- every delivery, so sessiond must be able to read it. fanned_out is the
-- last event seq that has a delivery row for this webhook; a new webhook
-- starts at the newest event, receiving what comes after it.
CREATE TABLE webhooks (
	id         text COLLATE "C" PRIMARY KEY,
	seq        bigint GENERATED ALWAYS AS IDENTITY,
	tenant_id  bigint NOT NULL REFERENCES tenants (id),
	url        text NOT NULL,
	secret     text NOT NULL,
	created_at bigint NOT NULL,
	disabled   boolean NOT NULL DEFAULT false,
	fanned_out bigint NOT NULL
);

-- One event on its way to one webhook. user_id is the event's, copied so
-- that the order rule (a user's events reach an endpoint one at a time,
-- oldest first) is checked on this table alone. attempts counts attempts
-- started; next_attempt_at is when a pending delivery is due, or when a
-- claim by a worker that died runs out.
CREATE TABLE webhook_deliveries (
	webhook_id      text COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	seq             bigint NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
	user_id         text COLLATE "C" NOT NULL,
	state           text NOT NULL,
	attempts        integer NOT NULL DEFAULT 0,
	next_attempt_at bigint NOT NULL,
	last_error      text,
	PRIMARY KEY (webhook_id, seq)
);
-- Due pending deliveries, and the earlier pending delivery of the same
-- user that holds one back; the cascade from events needs seq first.
CREATE INDEX webhook_deliveries_due   ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, user_id, seq) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (seq);
CREATE INDEX webhook_deliveries_state ON webhook_deliveries (webhook_id, state, seq);
