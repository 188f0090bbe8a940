-- name: owner_of_restaurant
-- The organisation of restaurant :restaurant_id (found by primary key alone; see
-- ``sub_steps.begin_attempt_postgresql``).
SELECT organisation_id FROM restaurants WHERE id = :restaurant_id;

-- name: single_runs_of_restaurant
-- The single-restaurant runs of restaurant :restaurant_id (id and status; which are active is the
-- domain's rule, ``ACTIVE_REGISTRATION``).
SELECT id, status FROM registration_jobs
WHERE restaurant_id = :restaurant_id AND organisation_id = :organisation_id AND batch_job_id IS NULL;

-- name: insert_run
-- One new registration job.
INSERT INTO registration_jobs (id, organisation_id, batch_job_id, restaurant_id, status, current_step,
    current_phase, execution_config, execution_results, created_by, metadata, started_at, created_at,
    updated_at)
VALUES (:id, :organisation_id, :batch_job_id, :restaurant_id, :status, :current_step, :current_phase,
    :execution_config, :execution_results, :created_by, :metadata, :started_at, :created_at,
    :updated_at);

-- name: insert_step
-- One step or sub-step row of a new registration job.
INSERT INTO registration_job_steps (id, organisation_id, registration_job_id, parent_step_id, step_key,
    step_number, phase, label, step_type, status, attempts, max_retries, input, job_id, skip_reason,
    started_at, completed_at, created_at, updated_at)
VALUES (:id, :organisation_id, :registration_job_id, :parent_step_id, :step_key, :step_number, :phase,
    :label, :step_type, :status, :attempts, :max_retries, :input, :job_id, :skip_reason, :started_at,
    :completed_at, :created_at, :updated_at);

-- name: steps_of_run
-- Every step and sub-step row of a run, steps first, each in its order (``registrations.list_steps``).
SELECT * FROM registration_job_steps WHERE registration_job_id = :run_id
ORDER BY parent_step_id IS NOT NULL, step_number;

-- name: other_active_run_of_batch_postgresql
-- Whether batch :batch_id has a registration job other than :run_id in one of the statuses :active
-- (a JSON list: the domain's ``ACTIVE_REGISTRATION``). The batch-and-status index finds the first
-- such job, or none, without reading the batch's other jobs (counting them per status read all).
SELECT EXISTS (
    SELECT 1 FROM registration_jobs
    WHERE batch_job_id = :batch_id AND id <> :run_id
      AND status = ANY(ARRAY(SELECT jsonb_array_elements_text(:active)))
) AS found;

-- name: other_active_run_of_batch_sqlite
-- ``other_active_run_of_batch_postgresql`` on SQLite.
SELECT EXISTS (
    SELECT 1 FROM registration_jobs
    WHERE batch_job_id = :batch_id AND id <> :run_id AND status IN (SELECT value FROM json_each(:active))
) AS found;

-- name: lock_batch_postgresql
-- A batch, locked for the rest of the transaction (``batches.lock_batch``: FOR NO KEY UPDATE, as a
-- job updated twice key-share locks its batch).
SELECT * FROM registration_batch_jobs WHERE id = :batch_id FOR NO KEY UPDATE;

-- name: lock_batch_sqlite
-- A batch (SQLite's writer already holds the database).
SELECT * FROM registration_batch_jobs WHERE id = :batch_id;

-- name: run_counts_of_batch
-- A batch's registration jobs per status.
SELECT status, count(*) AS n FROM registration_jobs WHERE batch_job_id = :batch_id GROUP BY status;
