-- name: attempt_of_sub_step
-- One sub-step of a run of the organisation, with the run's status and configuration.
SELECT s.id, s.organisation_id, s.registration_job_id, s.step_key, s.status, s.job_id, s.attempts,
       s.max_retries, s.started_at, s.input,
       r.status AS run_status, r.execution_config, r.restaurant_id, r.batch_job_id
FROM registration_job_steps s
JOIN registration_jobs r ON r.id = s.registration_job_id
WHERE s.id = :step_id AND s.registration_job_id = :run_id AND r.organisation_id = :organisation_id;

-- name: results_of_run
-- The results of a run's completed sub-steps (what later sub-steps build their payloads from).
SELECT step_key, result FROM registration_job_steps
WHERE registration_job_id = :run_id AND parent_step_id IS NOT NULL AND status = 'completed'
  AND result IS NOT NULL;

-- name: restaurant_of_run
-- What the Pumpd payloads read of the restaurant a run registers.
SELECT name, contact_name, marketplace_url, website, menu, branding
FROM restaurants WHERE id = :restaurant_id AND organisation_id = :organisation_id;

-- name: start_sub_step
-- Mark a sub-step in progress for this attempt and job, if it is still in :current and this job's.
UPDATE registration_job_steps
SET status = 'in_progress', attempts = :attempts, started_at = COALESCE(started_at, :now),
    next_attempt_at = NULL, updated_at = :now
WHERE id = :step_id AND status = :current AND job_id = :job_id;

-- name: lock_run_postgresql
-- Lock a run's row until the transaction ends: the sub-steps of one run finish in turn, and each
-- sees the others' outcomes (``sub_steps_of_run`` must be a later statement, with a later snapshot).
-- NO KEY UPDATE: sub-steps beginning meanwhile (KEY SHARE) need not wait; a cancel (UPDATE) does.
SELECT organisation_id, restaurant_id, batch_job_id, status AS run_status, current_phase
FROM registration_jobs WHERE id = :run_id
FOR NO KEY UPDATE;

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

-- name: keep_ids_sqlite
-- Keep the Pumpd ids a completed sub-step returned on the run, and show its phase.
UPDATE registration_jobs
SET pumpd_user_id = COALESCE(:pumpd_user_id, pumpd_user_id),
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

-- name: begin_attempt_postgresql
-- Begin an attempt in one statement when nothing unusual happened (the sub-step is still this job's,
-- may begin, and its run is active): the sub-step moves to in_progress with the next attempt number
-- (logged, unless an interrupted attempt runs again), and what the Pumpd call needs comes back. No
-- row: something else happened, and the caller looks closer. The run is share-locked, so a cancel that
-- holds it (FOR UPDATE) is waited for, and then seen.
WITH target AS (
    SELECT CAST(:job_id AS uuid) AS job_id, CAST(:run_id AS uuid) AS run_id,
           CAST(:step_id AS uuid) AS step_id, CAST(:organisation_id AS uuid) AS organisation_id
), run AS (
    SELECT r.id, r.organisation_id, r.batch_job_id, r.restaurant_id, r.execution_config
    FROM registration_jobs r
    WHERE (r.id, r.organisation_id) IN (SELECT run_id, organisation_id FROM target)
      AND r.status = ANY(:active)
    FOR KEY SHARE OF r
), prior AS (
    SELECT s.id, s.status, s.registration_job_id FROM registration_job_steps s
    WHERE (s.id, s.job_id) IN (SELECT step_id, job_id FROM target)
      AND s.registration_job_id IN (SELECT id FROM run) AND s.status = ANY(:runnable)
    FOR UPDATE OF s
), {{sub_steps.begin_attempt_from_postgresql}}
SELECT * FROM begun;

-- name: hand_over_and_begin_postgresql
-- ``queue.hand_over_postgresql``, and for each job it claims (to run in the slot or to wait for it)
-- that is a sub-step's, that attempt begun in the same statement as ``begin_attempt_postgresql``
-- would (its columns beside the job's, NULL when it did not begin). Nothing waits: a run or sub-step
-- another transaction holds is skipped, and the job then begins on its own, so this transaction
-- (which holds a run's lock) never waits for a lock a cancel of the other run holds while that cancel
-- waits for a job this one claimed.
-- plan: generic
{{queue.hand_over_claim_postgresql}}, target AS (
    SELECT id AS job_id, CAST(input_payload->>'registration_job_id' AS uuid) AS run_id,
           CAST(input_payload->>'step_id' AS uuid) AS step_id, organisation_id
    FROM claimed WHERE job_type = :sub_step_job
), run AS (
    SELECT r.id, r.organisation_id, r.batch_job_id, r.restaurant_id, r.execution_config
    FROM registration_jobs r
    WHERE (r.id, r.organisation_id) IN (SELECT run_id, organisation_id FROM target)
      AND r.status = ANY(:active)
    FOR KEY SHARE OF r SKIP LOCKED
), prior AS (
    SELECT s.id, s.status, s.registration_job_id FROM registration_job_steps s
    WHERE (s.id, s.job_id) IN (SELECT step_id, job_id FROM target)
      AND s.registration_job_id IN (SELECT id FROM run) AND s.status = ANY(:runnable)
    FOR UPDATE OF s SKIP LOCKED
), {{sub_steps.begin_attempt_from_postgresql}}
SELECT claimed.*, begun.* FROM claimed LEFT JOIN begun ON begun.begun_step_id = CAST(claimed.input_payload->>'step_id' AS uuid);

-- name: begin_attempt_from_postgresql
-- Fragment, the CTEs ``started`` to ``begun`` after ``run`` (the active runs, share-locked) and
-- ``prior`` (the sub-steps, locked, each if its job's and runnable; read after ``run`` so that a run
-- is locked before its sub-step, in the order a cancel takes them): each sub-step moves to
-- in_progress and ``begun`` has a row per sub-step with what its Pumpd call needs. A run's restaurant
-- is looked up by primary key alone: with the organisation in the condition too, PostgreSQL's
-- planner may scan the organisation's index before the tables are first analysed.
started AS (
    UPDATE registration_job_steps s
    SET status = 'in_progress', attempts = s.attempts + 1, started_at = COALESCE(s.started_at, :now),
        next_attempt_at = NULL, updated_at = :now
    FROM prior WHERE s.id = prior.id
    RETURNING s.id, s.registration_job_id, s.step_key, s.attempts, s.input, prior.status AS from_status
), logged AS (
    INSERT INTO events (organisation_id, entity_type, entity_id, batch_job_id, registration_job_id,
        from_status, to_status, actor, data, created_at)
    SELECT run.organisation_id, 'step', started.id, run.batch_job_id, run.id, started.from_status,
        'in_progress', :actor, jsonb_build_object('step_key', started.step_key), :now
    FROM started JOIN run ON run.id = started.registration_job_id
    WHERE started.from_status <> 'in_progress'
), begun AS (
    SELECT started.id AS begun_step_id, started.step_key, started.attempts AS step_attempts,
           started.input AS step_input, run.organisation_id AS run_organisation_id,
           run.restaurant_id AS run_restaurant_id, run.execution_config,
           (SELECT COALESCE(jsonb_object_agg(d.step_key, d.result), '{}'::jsonb)
            FROM registration_job_steps d
            WHERE d.registration_job_id = run.id AND d.parent_step_id IS NOT NULL
              AND d.status = 'completed' AND d.result IS NOT NULL) AS execution_results,
           jsonb_build_object('name', r.name, 'contact_name', r.contact_name,
               'marketplace_url', r.marketplace_url, 'website', r.website, 'menu', r.menu,
               'branding', r.branding) AS restaurant
    FROM started JOIN run ON run.id = started.registration_job_id
    JOIN restaurants r ON r.id = run.restaurant_id
)

-- name: record_attempt_postgresql
-- Record how an attempt ended in one statement, as the caller decided under the run's lock: the call
-- in the log, the sub-step's new state (with its result) and its event, the phase and Pumpd ids on
-- the run, Pumpd ids on the restaurant, the jobs of the sub-steps that start now (and of a retry), and, when :complete, the
-- completion of the queue job that ran the attempt; only the call is logged if the sub-step was no
-- longer in progress under that job. The run's restaurant is found by primary key alone (see
-- begin_attempt_postgresql).
WITH logged_call AS (
    INSERT INTO registration_logs (organisation_id, registration_job_id, step_key, restaurant_id,
        service, operation, idempotency_key, attempt, request, response, status, error_message,
        duration_ms, created_at)
    VALUES (:organisation_id, :run_id, :key, :restaurant_id, 'pumpd', :key, :idempotency_key,
        :attempt_number, :request, :response, :call_status, :call_error, :call_duration_ms, :now)
), ended AS (
    UPDATE registration_job_steps
    SET status = :status, result = :result, warning = :warning, error_message = :error_message,
        completed_at = :completed_at, duration_ms = :duration_ms, next_attempt_at = :next_attempt_at,
        job_id = :next_job_id, updated_at = :now
    WHERE id = :step_id AND status = 'in_progress' AND job_id = :job_id
    RETURNING id
), ended_logged AS (
    INSERT INTO events (organisation_id, entity_type, entity_id, batch_job_id, registration_job_id,
        from_status, to_status, actor, reason, data, created_at)
    SELECT :organisation_id, 'step', id, CAST(:batch_job_id AS uuid), :run_id, 'in_progress',
        CAST(:status AS text), :actor, CAST(:reason AS text),
        jsonb_build_object('step_key', CAST(:key AS text)), :now
    FROM ended
), kept AS (
    UPDATE registration_jobs
    SET pumpd_user_id = COALESCE(:pumpd_user_id, pumpd_user_id),
        pumpd_restaurant_id = COALESCE(:pumpd_restaurant_id, pumpd_restaurant_id),
        current_phase = :current_phase, updated_at = :now
    WHERE id = :run_id AND EXISTS (SELECT 1 FROM ended)
), restaurant_ids AS (
    UPDATE restaurants
    SET pumpd_user_id = COALESCE(:pumpd_user_id, pumpd_user_id),
        pumpd_restaurant_id = COALESCE(:pumpd_restaurant_id, pumpd_restaurant_id), updated_at = :now
    WHERE id = :restaurant_id AND EXISTS (SELECT 1 FROM ended)
      AND (CAST(:pumpd_user_id AS text) IS NOT NULL OR CAST(:pumpd_restaurant_id AS text) IS NOT NULL)
), queued AS (
    INSERT INTO jobs (id, organisation_id, job_type, job_category, queue, status, priority,
        input_payload, attempts, max_retries, timeout_seconds, run_at, cancel_requested, unique_key,
        restaurant_id, created_by, parent_job_id, metadata, created_at, updated_at)
    SELECT id, organisation_id, job_type, job_category, queue, status, priority, input_payload,
        attempts, max_retries, timeout_seconds, run_at, cancel_requested, unique_key, restaurant_id,
        created_by, parent_job_id, metadata, created_at, updated_at
    FROM jsonb_to_recordset(:jobs) AS j(id uuid, organisation_id uuid, job_type text,
        job_category text, queue text, status text, priority smallint, input_payload jsonb,
        attempts integer, max_retries integer, timeout_seconds double precision, run_at timestamptz,
        cancel_requested boolean, unique_key text, restaurant_id uuid, created_by uuid,
        parent_job_id uuid, metadata jsonb, created_at timestamptz, updated_at timestamptz)
    WHERE EXISTS (SELECT 1 FROM ended)
), pointed AS (
    UPDATE registration_job_steps s SET job_id = p.job_id, updated_at = :now
    FROM jsonb_to_recordset(:pointers) AS p(step_id uuid, job_id uuid)
    WHERE s.id = p.step_id AND EXISTS (SELECT 1 FROM ended)
), completed AS (
    UPDATE jobs SET status = 'completed', result = :outcome, error_message = NULL, error_kind = NULL,
        execution_time_ms = :call_duration_ms, completed_at = :now, lease_owner = NULL,
        lease_expires_at = NULL, updated_at = :now
    WHERE id = :job_id AND status = 'in_progress' AND attempts = :job_attempt AND :complete
      AND EXISTS (SELECT 1 FROM ended)
    RETURNING id, organisation_id
), completed_logged AS (
    INSERT INTO events (organisation_id, entity_type, entity_id, from_status, to_status, actor, created_at)
    SELECT organisation_id, 'job', id, 'in_progress', 'completed', :worker, :now FROM completed
)
SELECT (SELECT count(*) FROM ended) AS ended;
