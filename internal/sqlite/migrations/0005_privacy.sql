-- 0005: each tenant's privacy settings, and which ended sessions have had
-- their metadata erased.
--
-- ip_truncation (0 or 1) stores addresses cut to their /24 or /48;
-- location_detail is 'city' or 'country'; drop_ended_metadata_after is in
-- seconds, 0 for "keep until the purge". The defaults are what sessiond
-- did before settings existed, so existing tenants see no change.
ALTER TABLE tenants ADD COLUMN ip_truncation             INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN location_detail           TEXT    NOT NULL DEFAULT 'city';
ALTER TABLE tenants ADD COLUMN drop_ended_metadata_after INTEGER NOT NULL DEFAULT 0;

-- metadata_scrubbed is 1 once the janitor has erased the session's IP
-- address, user agent and location (and its trail's), so that it is not
-- taken again. No index: the scrub walks the indexes the purge walks
-- (ended sessions, oldest first), which hold only sessions not yet purged.
ALTER TABLE sessions ADD COLUMN metadata_scrubbed INTEGER NOT NULL DEFAULT 0;
