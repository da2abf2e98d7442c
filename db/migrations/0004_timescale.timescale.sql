-- TimescaleDB only: hypertables, compression and retention. Runs where the extension exists.
-- A hypertable's unique keys must contain its time column, so each key gains it. A true copy of a
-- message carries the same times, so (code, boot, seq) duplicates are still refused.
ALTER TABLE usage_sessions DROP CONSTRAINT usage_sessions_pkey;
ALTER TABLE usage_sessions ADD PRIMARY KEY (code, boot, seq, started_at);
SELECT create_hypertable('usage_sessions', by_range('started_at', INTERVAL '7 days'),
                         migrate_data => true);

ALTER TABLE status_reports DROP CONSTRAINT status_reports_pkey;
ALTER TABLE status_reports ADD PRIMARY KEY (code, boot, seq, ts);
SELECT create_hypertable('status_reports', by_range('ts', INTERVAL '1 day'), migrate_data => true);

ALTER TABLE fault_events DROP CONSTRAINT fault_events_pkey;
ALTER TABLE fault_events ADD PRIMARY KEY (code, boot, seq, ts);
SELECT create_hypertable('fault_events', by_range('ts', INTERVAL '30 days'), migrate_data => true);

ALTER TABLE usage_sessions SET (timescaledb.compress, timescaledb.compress_segmentby = 'code',
                                timescaledb.compress_orderby = 'started_at');
SELECT add_compression_policy('usage_sessions', INTERVAL '30 days');

ALTER TABLE status_reports SET (timescaledb.compress, timescaledb.compress_segmentby = 'code',
                                timescaledb.compress_orderby = 'ts');
SELECT add_compression_policy('status_reports', INTERVAL '7 days');
-- Heartbeats are the bulk of the traffic and only their recent history matters.
SELECT add_retention_policy('status_reports', INTERVAL '400 days');
