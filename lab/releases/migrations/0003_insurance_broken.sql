-- migrate:no-transaction
-- 1.2.0-badmigration: the first two statements commit, the third fails on existing rows,
-- so the database is left half migrated and only a restore from backup undoes it.
ALTER TABLE patients ADD COLUMN insurance_id text;
UPDATE patients SET insurance_id = 'INS-' || id;
ALTER TABLE appointments ADD CONSTRAINT appointments_far_future CHECK (starts_at > now() + interval '100 years');
