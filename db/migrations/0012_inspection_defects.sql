-- Defects an inspection finds (an item's failed check) reach the maintenance loop as a citizen's
-- report does: a row of maintenance_inbox written with the inspection, taken into an alert of the
-- rule inspection_defect whose fault is the check's key (docs/maintenance.md).
ALTER TABLE maintenance_inbox DROP CONSTRAINT maintenance_inbox_kind_check;
ALTER TABLE maintenance_inbox ADD CONSTRAINT maintenance_inbox_kind_check
    CHECK (kind IN ('fault', 'presence', 'gateway', 'report', 'inspection'));
ALTER TABLE maintenance_inbox ADD COLUMN inspection_id bigint;

ALTER TABLE alerts DROP CONSTRAINT alerts_rule_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_rule_check CHECK (rule IN (
    'device_fault', 'device_offline', 'gateway_offline', 'unused', 'service_life_past',
    'service_life_near', 'inspection_overdue', 'citizen_report', 'inspection_defect'));
