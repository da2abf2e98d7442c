-- Ingest updates a device's state and its item-hour rollup row with nearly every chunk it writes.
-- Leave room on each page and keep the updated columns out of indexes, so that those updates
-- are HOT (heap-only: no index entries written). The silent-device check, every 30 s, scans
-- device_state instead of using an index on (online, last_seen_at).
DROP INDEX device_state_online_idx;
ALTER TABLE device_state SET (fillfactor = 50);
ALTER TABLE usage_hourly SET (fillfactor = 70);
