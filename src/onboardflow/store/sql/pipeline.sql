-- name: batch_status_of_run
-- The status of the batch a run belongs to (no row for a run without a batch).
SELECT b.status FROM registration_jobs r
JOIN registration_batch_jobs b ON b.id = r.batch_job_id
WHERE r.id = :run_id;

-- name: candidates_of_run
-- A run's candidates, best first: those not removed, or all of them with :include_removed.
SELECT * FROM company_candidates
WHERE registration_job_id = :run_id AND (:include_removed OR removed_at IS NULL)
ORDER BY score DESC, name, id;
