-- 1.0.0: patients, and the worker's record of every job it processed.
CREATE TABLE patients (
    id serial PRIMARY KEY,
    full_name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO patients (full_name) VALUES ('Amani Kabila'), ('Grace Mbuyi'), ('Josue Ilunga');
-- No unique constraint on job_id on purpose: a job processed twice must show up as two rows.
CREATE TABLE processed_jobs (
    id bigserial PRIMARY KEY,
    job_id text NOT NULL,
    queue text NOT NULL,
    version text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);
