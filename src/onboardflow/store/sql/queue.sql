-- name: claim_postgresql
-- Claim up to :limit due jobs of unpaused, unlimited queues (best priority, then FIFO), logging each claim.
-- plan: generic
WITH picked AS (
    SELECT id, status FROM jobs
    WHERE status IN ('pending', 'queued') AND run_at <= :now
      AND queue NOT IN (SELECT name FROM queues WHERE paused OR concurrency_limit IS NOT NULL)
    ORDER BY priority DESC, run_at, id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE jobs
    SET status = 'in_progress', attempts = jobs.attempts + 1, lease_owner = :worker,
        lease_expires_at = :lease_until, started_at = :now, updated_at = :now
    WHERE jobs.id = ANY(ARRAY(SELECT id FROM picked))
    RETURNING jobs.id, jobs.job_type, jobs.queue, jobs.priority, jobs.input_payload, jobs.attempts,
              jobs.max_retries, jobs.timeout_seconds, jobs.organisation_id, jobs.restaurant_id,
              jobs.parent_job_id, jobs.metadata, jobs.run_at,
              (SELECT picked.status FROM picked WHERE picked.id = jobs.id) AS previous_status
), claim_logged AS (
    INSERT INTO events (organisation_id, entity_type, entity_id, from_status, to_status, actor, created_at)
    SELECT organisation_id, 'job', id, previous_status, 'in_progress', :worker, :now FROM claimed
)
SELECT * FROM claimed ORDER BY priority DESC, run_at, id;

-- name: lock_limited_queues_postgresql
-- Lock the settings rows of the concurrency-limited queues :names, so that claims of them take turns.
SELECT name FROM queues WHERE name = ANY(:names) ORDER BY name FOR UPDATE;

-- name: claim_limited_postgresql
-- Claim due jobs of one limited queue (its row locked by an earlier statement), as many as its free
-- capacity, the caller's free slots (:limit less what this claim took before it) and the caller's
-- share of the queue (:share less the queue's jobs it runs) all allow (``domain.jobs.queue_room``,
-- with the caller's free slots on top).
-- Each row also says how much room the queue had for the caller, its free slots left aside (one row
-- with only that when nothing was claimed; no row when the queue is paused or no longer limited).
-- plan: generic
WITH queue_room AS (
    SELECT GREATEST(0, LEAST(
        q.concurrency_limit - (SELECT count(*) FROM jobs j
                               WHERE j.queue = q.name AND j.status = 'in_progress' AND {{queue.holds_a_slot}}),
        CAST(:share AS integer) - (SELECT count(*) FROM jobs j
                                   WHERE j.lease_owner = :worker AND j.status = 'in_progress'
                                     AND j.queue = q.name AND {{queue.holds_a_slot}})
    )) AS n
    FROM queues q WHERE q.name = :queue AND NOT q.paused AND q.concurrency_limit IS NOT NULL
), room AS (
    SELECT queue_room.n AS queue_n, LEAST(queue_room.n, GREATEST(0,
        CAST(:limit AS integer) - (SELECT count(*) FROM jobs
                                   WHERE lease_owner = :worker AND status = 'in_progress'
                                     AND started_at = :now))) AS n
    FROM queue_room
), picked AS (
    SELECT id, status FROM jobs
    WHERE status IN ('pending', 'queued') AND run_at <= :now AND queue = :queue
    ORDER BY priority DESC, run_at, id
    LIMIT COALESCE((SELECT n FROM room), 0)
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE jobs
    SET status = 'in_progress', attempts = jobs.attempts + 1, lease_owner = :worker,
        lease_expires_at = :lease_until, started_at = :now, updated_at = :now
    WHERE jobs.id = ANY(ARRAY(SELECT id FROM picked))
    RETURNING jobs.id, jobs.job_type, jobs.queue, jobs.priority, jobs.input_payload, jobs.attempts,
              jobs.max_retries, jobs.timeout_seconds, jobs.organisation_id, jobs.restaurant_id,
              jobs.parent_job_id, jobs.metadata, jobs.run_at,
              (SELECT picked.status FROM picked WHERE picked.id = jobs.id) AS previous_status
), claim_logged AS (
    INSERT INTO events (organisation_id, entity_type, entity_id, from_status, to_status, actor, created_at)
    SELECT organisation_id, 'job', id, previous_status, 'in_progress', :worker, :now FROM claimed
)
SELECT room.queue_n AS room, claimed.* FROM room LEFT JOIN claimed ON true
ORDER BY claimed.priority DESC, claimed.run_at, claimed.id;

-- name: pick_sqlite
-- The ids and statuses of up to :limit due jobs of unpaused, unlimited queues (inside BEGIN IMMEDIATE).
SELECT id, status FROM jobs
WHERE status IN ('pending', 'queued') AND run_at <= :now
  AND queue NOT IN (SELECT name FROM queues WHERE paused OR concurrency_limit IS NOT NULL)
ORDER BY priority DESC, run_at, id
LIMIT :limit;

-- name: pick_in_queue_sqlite
-- The ids and statuses of up to :limit due jobs of one queue (inside BEGIN IMMEDIATE).
SELECT id, status FROM jobs
WHERE status IN ('pending', 'queued') AND run_at <= :now AND queue = :queue
ORDER BY priority DESC, run_at, id
LIMIT :limit;

-- name: claim_picked_sqlite
-- Claim the jobs :ids (a JSON array of ids) for worker :worker (inside BEGIN IMMEDIATE), returning them.
UPDATE jobs
SET status = 'in_progress', attempts = attempts + 1, lease_owner = :worker,
    lease_expires_at = :lease_until, started_at = :now, updated_at = :now
WHERE id IN (SELECT value FROM json_each(:ids))
RETURNING id, job_type, queue, priority, input_payload, attempts, max_retries, timeout_seconds,
          organisation_id, restaurant_id, parent_job_id, metadata, run_at, takes_slot_of;

-- name: queue_capacity_sqlite
-- A queue's limit and pause, with its jobs that hold a slot (``holds_a_slot``): all, and :worker's.
SELECT q.concurrency_limit, q.paused,
       (SELECT count(*) FROM jobs j
        WHERE j.queue = q.name AND j.status = 'in_progress' AND {{queue.holds_a_slot}}) AS running,
       (SELECT count(*) FROM jobs j
        WHERE j.queue = q.name AND j.status = 'in_progress' AND j.lease_owner = :worker
          AND {{queue.holds_a_slot}}) AS mine
FROM queues q WHERE q.name = :queue;

-- name: finish_postgresql
-- Record a batch of attempt outcomes, each fenced on (id, in_progress, attempt), logging each change.
WITH v AS (
    SELECT * FROM unnest(
        CAST(:ids AS uuid[]), CAST(:attempts AS integer[]), CAST(:statuses AS text[]),
        CAST(CAST(:results AS text[]) AS jsonb[]), CAST(:errors AS text[]), CAST(:error_kinds AS text[]),
        CAST(:run_ats AS timestamptz[]), CAST(:durations AS integer[]), CAST(:uncount AS boolean[])
    ) AS t(id, attempt, status, result, error_message, error_kind, run_at, duration_ms, uncount)
), done AS (
    UPDATE jobs SET
        status = CASE WHEN jobs.cancel_requested AND v.status IN ('pending', 'queued')
                      THEN 'cancelled' ELSE v.status END,
        result = COALESCE(v.result, jobs.result),
        error_message = v.error_message,
        error_kind = CASE WHEN jobs.cancel_requested AND v.status IN ('pending', 'queued')
                          THEN 'cancelled' ELSE v.error_kind END,
        run_at = COALESCE(v.run_at, jobs.run_at),
        execution_time_ms = v.duration_ms,
        attempts = CASE WHEN v.uncount THEN jobs.attempts - 1 ELSE jobs.attempts END,
        completed_at = CASE WHEN v.status IN ('completed', 'failed', 'cancelled')
                              OR (jobs.cancel_requested AND v.status IN ('pending', 'queued'))
                            THEN CAST(:now AS timestamptz) END,
        cancelled_at = CASE WHEN v.status = 'cancelled'
                              OR (jobs.cancel_requested AND v.status IN ('pending', 'queued'))
                            THEN CAST(:now AS timestamptz) END,
        lease_owner = NULL, lease_expires_at = NULL, updated_at = :now
    FROM v
    WHERE jobs.id = v.id AND jobs.status = 'in_progress' AND jobs.attempts = v.attempt
    RETURNING jobs.id, jobs.organisation_id, jobs.status, jobs.error_message
), logged AS (
    INSERT INTO events (organisation_id, entity_type, entity_id, from_status, to_status, actor, reason, created_at)
    SELECT organisation_id, 'job', id, 'in_progress', status, :worker, error_message, :now FROM done
)
SELECT id, status FROM done;

-- name: finish_sqlite
-- Record a batch of attempt outcomes (a JSON array), each fenced on (id, in_progress, attempt).
UPDATE jobs SET
    status = CASE WHEN jobs.cancel_requested AND e.value ->> 'status' IN ('pending', 'queued')
                  THEN 'cancelled' ELSE e.value ->> 'status' END,
    result = CASE WHEN e.value -> 'result' IS NULL OR e.value -> 'result' = 'null'
                  THEN jobs.result ELSE e.value -> 'result' END,
    error_message = e.value ->> 'error',
    error_kind = CASE WHEN jobs.cancel_requested AND e.value ->> 'status' IN ('pending', 'queued')
                      THEN 'cancelled' ELSE e.value ->> 'error_kind' END,
    run_at = COALESCE(e.value ->> 'run_at', jobs.run_at),
    execution_time_ms = e.value ->> 'duration_ms',
    attempts = CASE WHEN e.value ->> 'uncount' THEN jobs.attempts - 1 ELSE jobs.attempts END,
    completed_at = CASE WHEN e.value ->> 'status' IN ('completed', 'failed', 'cancelled')
                          OR (jobs.cancel_requested AND e.value ->> 'status' IN ('pending', 'queued'))
                        THEN :now END,
    cancelled_at = CASE WHEN e.value ->> 'status' = 'cancelled'
                          OR (jobs.cancel_requested AND e.value ->> 'status' IN ('pending', 'queued'))
                        THEN :now END,
    lease_owner = NULL, lease_expires_at = NULL, updated_at = :now
FROM json_each(:batch) AS e
WHERE jobs.id = e.value ->> 'id' AND jobs.status = 'in_progress' AND jobs.attempts = e.value ->> 'attempt'
RETURNING jobs.id, jobs.organisation_id, jobs.status, jobs.error_message;

-- name: log_claims_sqlite
-- Log the claim of each job in :picked (a JSON array of {"id": hex, "from": previous status}).
INSERT INTO events (organisation_id, entity_type, entity_id, from_status, to_status, actor, created_at)
SELECT jobs.organisation_id, 'job', jobs.id, p.value ->> 'from', 'in_progress', :worker, :now
FROM json_each(:picked) AS p JOIN jobs ON jobs.id = p.value ->> 'id';

-- name: log_outcomes_sqlite
-- Log the outcome of each job in :ids (a JSON array of hex ids) as its status now reads.
INSERT INTO events (organisation_id, entity_type, entity_id, from_status, to_status, actor, reason, created_at)
SELECT jobs.organisation_id, 'job', jobs.id, 'in_progress', jobs.status, :worker, jobs.error_message, :now
FROM json_each(:ids) AS i JOIN jobs ON jobs.id = i.value;

-- name: complete_postgresql
-- Complete one job in the caller's transaction, fenced on (id, in_progress, attempt), logging it.
WITH done AS (
    UPDATE jobs SET status = 'completed', result = :result, error_message = NULL, error_kind = NULL,
        execution_time_ms = :duration_ms, completed_at = :now, lease_owner = NULL,
        lease_expires_at = NULL, updated_at = :now
    WHERE id = :id AND status = 'in_progress' AND attempts = :attempt
    RETURNING id, organisation_id
)
INSERT INTO events (organisation_id, entity_type, entity_id, from_status, to_status, actor, created_at)
SELECT organisation_id, 'job', id, 'in_progress', 'completed', :worker, :now FROM done;

-- name: complete_sqlite
-- Complete one job in the caller's transaction, fenced on (id, in_progress, attempt).
UPDATE jobs SET status = 'completed', result = :result, error_message = NULL, error_kind = NULL,
    execution_time_ms = :duration_ms, completed_at = :now, lease_owner = NULL,
    lease_expires_at = NULL, updated_at = :now
WHERE id = :id AND status = 'in_progress' AND attempts = :attempt;

-- name: log_completion_sqlite
-- Log the completion of one job that ``complete_sqlite`` just recorded.
INSERT INTO events (organisation_id, entity_type, entity_id, from_status, to_status, actor, created_at)
SELECT organisation_id, 'job', id, 'in_progress', 'completed', :worker, :now FROM jobs
WHERE id = :id AND status = 'completed' AND completed_at = :now;

-- name: hand_over_postgresql
-- Job :ended of limited :queue completed earlier in this transaction: its slot goes on as
-- ``hand_over_claim_postgresql`` says.
-- plan: generic
{{queue.hand_over_claim_postgresql}}
SELECT * FROM claimed;

-- name: holds_a_slot
-- Fragment: whether the in-progress job ``j`` counts against its queue's limit
-- (``domain.jobs.holds_a_slot``): not while the job whose slot it waits for is still in progress.
(j.takes_slot_of IS NULL
 OR NOT EXISTS (SELECT 1 FROM jobs h WHERE h.id = j.takes_slot_of AND h.status = 'in_progress'))

-- name: hand_over_plan
-- Fragment, the CTEs ``ended`` to ``plan`` of both dialects' hand-overs: job :ended of limited :queue
-- completed earlier in this transaction (at :now); ``successor`` is the job of this worker that
-- waited for its slot (:successor, which the worker started as the ended job freed the slot, or one
-- it has not started yet), while it is still in progress; ``plan`` says how many jobs to claim
-- to run in the slot (``run_n``) and to wait for it (``wait_n``), as ``domain.jobs.slot_hand_over``
-- decides from the jobs that hold a slot now. No row in ``plan`` when the queue is paused or not
-- limited, or when :ended did not complete (taken back meanwhile: it frees no slot to hand over).
WITH ended AS (
    SELECT 1 FROM jobs WHERE id = :ended AND status = 'completed' AND completed_at = :now
), settings AS (
    SELECT concurrency_limit FROM queues
    WHERE name = :queue AND NOT paused AND concurrency_limit IS NOT NULL AND EXISTS (SELECT 1 FROM ended)
), successor AS (
    SELECT id FROM jobs
    WHERE lease_owner = :worker AND status = 'in_progress' AND (id = :successor OR takes_slot_of = :ended)
    LIMIT 1
), holding AS (
    SELECT count(*) AS n, count(*) FILTER (WHERE j.lease_owner = :worker) AS mine
    FROM jobs j WHERE j.queue = :queue AND j.status = 'in_progress' AND {{queue.holds_a_slot}}
), runner AS (
    SELECT CASE WHEN EXISTS (SELECT 1 FROM successor) THEN 0
                WHEN n < concurrency_limit AND mine < :share THEN 1 ELSE 0 END AS run_n,
           n, concurrency_limit
    FROM settings, holding
), plan AS (
    SELECT run_n, CASE WHEN (run_n = 1 OR EXISTS (SELECT 1 FROM successor))
                        AND n + run_n >= concurrency_limit THEN 1 ELSE 0 END AS wait_n
    FROM runner
)

-- name: hand_over_claim_postgresql
-- Fragment, the CTEs ``ended`` to ``claim_logged``: the jobs ``hand_over_plan`` says to claim, the
-- queue's next due ones (best priority, then FIFO), claimed for the same worker: the first to run
-- in the slot when it is to, the one after it to wait for the slot (its ``takes_slot_of`` is the
-- job that runs in the slot: the successor or the job claimed to run). ``claimed`` has a row per job
-- claimed. The limit holds without the queue's row lock that claims take: one job leaves the count
-- as at most one enters it, and a job that waits enters it only when the job before it leaves.
{{queue.hand_over_plan}}, picked AS (
    SELECT id, status, priority, run_at FROM jobs
    WHERE status IN ('pending', 'queued') AND run_at <= :now AND queue = :queue
    ORDER BY priority DESC, run_at, id
    LIMIT COALESCE((SELECT run_n + wait_n FROM plan), 0)
    FOR UPDATE SKIP LOCKED
), ranked AS (
    SELECT id, status, row_number() OVER (ORDER BY priority DESC, run_at, id) AS rank FROM picked
), roles AS (
    SELECT ranked.id, ranked.status,
           CASE WHEN ranked.rank = 1 AND plan.run_n = 1 THEN NULL
                ELSE COALESCE((SELECT id FROM successor), (SELECT id FROM ranked WHERE rank = 1)) END
               AS takes_slot_of
    FROM ranked, plan
), claimed AS (
    UPDATE jobs
    SET status = 'in_progress', attempts = jobs.attempts + 1, lease_owner = :worker,
        lease_expires_at = :lease_until, started_at = :now, updated_at = :now,
        takes_slot_of = (SELECT roles.takes_slot_of FROM roles WHERE roles.id = jobs.id)
    WHERE jobs.id = ANY(ARRAY(SELECT id FROM roles))
    RETURNING jobs.*, (SELECT roles.status FROM roles WHERE roles.id = jobs.id) AS previous_status
), claim_logged AS (
    INSERT INTO events (organisation_id, entity_type, entity_id, from_status, to_status, actor, created_at)
    SELECT organisation_id, 'job', id, previous_status, 'in_progress', :worker, :now FROM claimed
)

-- name: hand_over_pick_sqlite
-- The jobs ``hand_over_claim_postgresql``'s rule claims on SQLite (``id``, ``status`` and
-- ``takes_slot_of``), for ``claim_handed_sqlite`` and ``log_claims_sqlite`` to claim next in the same
-- transaction (nothing else writes in between under SQLite's lock).
{{queue.hand_over_plan}}, picked AS (
    SELECT id, status, priority, run_at FROM jobs
    WHERE status IN ('pending', 'queued') AND run_at <= :now AND queue = :queue
    ORDER BY priority DESC, run_at, id
    LIMIT COALESCE((SELECT run_n + wait_n FROM plan), 0)
), ranked AS (
    SELECT id, status, row_number() OVER (ORDER BY priority DESC, run_at, id) AS rank FROM picked
)
SELECT ranked.id, ranked.status,
       CASE WHEN ranked.rank = 1 AND plan.run_n = 1 THEN NULL
            ELSE COALESCE((SELECT id FROM successor), (SELECT id FROM ranked WHERE rank = 1)) END
           AS takes_slot_of
FROM ranked, plan;

-- name: claim_handed_sqlite
-- Claim for worker :worker the jobs of :picks (a JSON array of ``{id, takes_slot_of}``, as
-- ``hand_over_pick_sqlite`` picked them), returning them.
UPDATE jobs
SET status = 'in_progress', attempts = attempts + 1, lease_owner = :worker,
    lease_expires_at = :lease_until, started_at = :now, updated_at = :now,
    takes_slot_of = p.value ->> 'takes_slot_of'
FROM json_each(:picks) AS p
WHERE jobs.id = p.value ->> 'id'
RETURNING jobs.id, jobs.job_type, jobs.queue, jobs.priority, jobs.input_payload, jobs.attempts,
          jobs.max_retries, jobs.timeout_seconds, jobs.organisation_id, jobs.restaurant_id,
          jobs.parent_job_id, jobs.metadata, jobs.run_at, jobs.takes_slot_of;

-- name: cluster_concurrency
-- The job slots of the workers that are alive (heartbeat since :alive_since) and not stopping.
SELECT COALESCE(SUM(concurrency), 0) AS slots FROM workers
WHERE heartbeat_at >= :alive_since AND NOT stopping;
