-- 0006: what keeps every node's cache (internal/cache) right: nodes that
-- cache hold a lease here, and changes that a cache must not miss are
-- announced by triggers in the transaction that makes them, so that they
-- reach every listening node when, and only when, they commit (see
-- peers.go). The channel is named after the schema, so that sessiond
-- installations in different schemas of one database do not hear each
-- other.
CREATE TABLE cache_nodes (
	node_id     text COLLATE "C" PRIMARY KEY,
	lease_until timestamptz NOT NULL
);

CREATE FUNCTION sessiond_cache_channel(schema name) RETURNS text
	LANGUAGE sql IMMUTABLE AS $$ SELECT 'sessiond_' || left(md5(schema), 16) $$;

-- A session that ends, is erased or purged, or whose clients, address,
-- user agent or location change. A touch that only moves last_updated and
-- expires_at is not announced: caches serve an entry for at most the
-- touch interval, the precision of those two fields anyway.
CREATE FUNCTION sessiond_session_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify(sessiond_cache_channel(TG_TABLE_SCHEMA), 's' || OLD.tenant_id || ':' || OLD.session_key);
	RETURN NULL;
END $$;

CREATE TRIGGER sessions_changed AFTER UPDATE ON sessions FOR EACH ROW
	WHEN (OLD.revoked_at <> NEW.revoked_at
		OR OLD.client_ids IS DISTINCT FROM NEW.client_ids
		OR OLD.ip_address IS DISTINCT FROM NEW.ip_address
		OR OLD.user_agent IS DISTINCT FROM NEW.user_agent
		OR OLD.country IS DISTINCT FROM NEW.country
		OR OLD.city IS DISTINCT FROM NEW.city
		OR OLD.region IS DISTINCT FROM NEW.region
		OR OLD.latitude IS DISTINCT FROM NEW.latitude
		OR OLD.longitude IS DISTINCT FROM NEW.longitude
		OR OLD.countries IS DISTINCT FROM NEW.countries
		OR OLD.last_fix_at IS DISTINCT FROM NEW.last_fix_at
		OR OLD.session_key <> NEW.session_key)
	EXECUTE FUNCTION sessiond_session_changed();

CREATE TRIGGER sessions_deleted AFTER DELETE ON sessions FOR EACH ROW
	EXECUTE FUNCTION sessiond_session_changed();

-- A key revoked or changed (sessiond apikey revoke on any machine).
CREATE FUNCTION sessiond_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify(sessiond_cache_channel(TG_TABLE_SCHEMA), 'k');
	RETURN NULL;
END $$;

CREATE TRIGGER api_keys_changed AFTER UPDATE OR DELETE ON api_keys FOR EACH STATEMENT
	EXECUTE FUNCTION sessiond_key_changed();
