-- name: attempt_of_sub_step
-- One sub-step of a run of the organisation, with the run's status, configuration and results.
SELECT s.id, s.organisation_id, s.registration_job_id, s.step_key, s.status, s.job_id, s.attempts,
       s.max_retries, s.started_at, s.input,
       r.status AS run_status, r.execution_config, r.execution_results, r.restaurant_id, r.batch_job_id
FROM registration_job_steps s
JOIN registration_jobs r ON r.id = s.registration_job_id
WHERE s.id = :step_id AND s.registration_job_id = :run_id AND r.organisation_id = :organisation_id;

-- name: restaurant_of_run
-- The restaurant a run registers (every column: the Pumpd payloads read it).
SELECT * FROM restaurants WHERE id = :restaurant_id AND organisation_id = :organisation_id;

-- name: start_sub_step
-- Mark a sub-step in progress for this attempt and job, if it is still in :current.
UPDATE registration_job_steps
SET status = 'in_progress', attempts = :attempts, started_at = COALESCE(started_at, :now),
    next_attempt_at = NULL, job_id = :job_id, updated_at = :now
WHERE id = :step_id AND status = :current;

-- name: lock_run_postgresql
-- Lock a run's row until the transaction ends: the sub-steps of one run finish in turn, and each
-- sees the others' outcomes (``sub_steps_of_run`` must be a later statement, with a later snapshot).
SELECT organisation_id, restaurant_id, batch_job_id, status AS run_status, current_phase
FROM registration_jobs WHERE id = :run_id
FOR UPDATE;

-- name: lock_run_sqlite
-- A run's row (the SQLite writer already holds the database lock).
SELECT organisation_id, restaurant_id, batch_job_id, status AS run_status, current_phase
FROM registration_jobs WHERE id = :run_id;

-- name: sub_steps_of_run
-- The 12 sub-steps of a run, with what planning and recording an attempt read of them.
SELECT id, step_key, status, job_id, attempts, max_retries, started_at, duration_ms, input
FROM registration_job_steps
WHERE registration_job_id = :run_id AND parent_step_id IS NOT NULL;

-- name: insert_call
-- One external call of a run in the call log (request and response already redacted).
INSERT INTO registration_logs (organisation_id, registration_job_id, step_key, restaurant_id, service,
    operation, idempotency_key, attempt, request, response, status, error_message, duration_ms, created_at)
VALUES (:organisation_id, :registration_job_id, :step_key, :restaurant_id, :service, :operation,
    :idempotency_key, :attempt, :request, :response, :status, :error_message, :duration_ms, :now);

-- name: end_sub_step
-- Record how an attempt ended, if the sub-step is still in progress under this job.
UPDATE registration_job_steps
SET status = :status, result = :result, warning = :warning, error_message = :error_message,
    completed_at = :completed_at, duration_ms = :duration_ms, next_attempt_at = :next_attempt_at,
    job_id = :next_job_id, updated_at = :now
WHERE id = :step_id AND status = 'in_progress' AND job_id = :job_id;

-- name: keep_result_postgresql
-- Keep a completed sub-step's result (and the Pumpd ids it returned) on the run.
UPDATE registration_jobs
SET execution_results = jsonb_set(execution_results, ARRAY[CAST(:key AS text)], :result),
    pumpd_user_id = COALESCE(:pumpd_user_id, pumpd_user_id),
    pumpd_restaurant_id = COALESCE(:pumpd_restaurant_id, pumpd_restaurant_id),
    current_phase = :current_phase, updated_at = :now
WHERE id = :run_id;

-- name: keep_result_sqlite
-- Keep a completed sub-step's result (and the Pumpd ids it returned) on the run.
UPDATE registration_jobs
SET execution_results = json_set(execution_results, '$.' || :key, json(:result)),
    pumpd_user_id = COALESCE(:pumpd_user_id, pumpd_user_id),
    pumpd_restaurant_id = COALESCE(:pumpd_restaurant_id, pumpd_restaurant_id),
    current_phase = :current_phase, updated_at = :now
WHERE id = :run_id;

-- name: set_current_phase
-- Show the phase a run is in.
UPDATE registration_jobs SET current_phase = :current_phase, updated_at = :now WHERE id = :run_id;

-- name: restaurant_pumpd_ids
-- Keep the Pumpd ids a run obtained on its restaurant.
UPDATE restaurants
SET pumpd_user_id = COALESCE(:pumpd_user_id, pumpd_user_id),
    pumpd_restaurant_id = COALESCE(:pumpd_restaurant_id, pumpd_restaurant_id), updated_at = :now
WHERE id = :restaurant_id AND organisation_id = :organisation_id;

-- name: insert_job
-- Queue one job. Its unique key names the sub-step's attempt, and the caller holds the run's lock, so
-- a conflict means a bug upstream: it fails the transaction rather than being ignored.
INSERT INTO jobs (id, organisation_id, job_type, job_category, queue, status, priority, input_payload,
    attempts, max_retries, timeout_seconds, run_at, cancel_requested, unique_key, restaurant_id,
    created_by, parent_job_id, metadata, created_at, updated_at)
VALUES (:id, :organisation_id, :job_type, :job_category, :queue, :status, :priority, :input_payload,
    :attempts, :max_retries, :timeout_seconds, :run_at, :cancel_requested, :unique_key, :restaurant_id,
    :created_by, :parent_job_id, :metadata, :created_at, :updated_at);

-- name: point_sub_step_at_job
-- Point a sub-step at the queue job that runs its next attempt.
UPDATE registration_job_steps SET job_id = :job_id, updated_at = :now WHERE id = :step_id;

-- name: insert_event
-- One status transition in the events table.
INSERT INTO events (organisation_id, entity_type, entity_id, batch_job_id, registration_job_id,
    from_status, to_status, actor, reason, data, created_at)
VALUES (:organisation_id, :entity_type, :entity_id, :batch_job_id, :registration_job_id,
    :from_status, :to_status, :actor, :reason, :data, :created_at);
