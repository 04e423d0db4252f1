-- 1.1.0: appointments, and a phone number per patient.
ALTER TABLE patients ADD COLUMN phone text;
CREATE TABLE appointments (
    id serial PRIMARY KEY,
    patient_id integer NOT NULL REFERENCES patients (id),
    starts_at timestamptz NOT NULL,
    note text
);
INSERT INTO appointments (patient_id, starts_at, note)
SELECT id, now() + interval '1 day', 'follow-up' FROM patients;
