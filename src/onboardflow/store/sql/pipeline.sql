-- name: batch_status_of_run
-- The status of the batch a run belongs to (no row for a run without a batch).
SELECT b.status FROM registration_jobs r
JOIN registration_batch_jobs b ON b.id = r.batch_job_id
WHERE r.id = :run_id;

-- name: candidates_of_run
-- A run's candidates, best first (``domain.enrichment.candidate_order``): those not removed, or all
-- of them with :include_removed.
SELECT * FROM company_candidates
WHERE registration_job_id = :run_id AND (:include_removed OR removed_at IS NULL)
ORDER BY score DESC, name, company_number;

-- name: insert_candidate
-- One company a search found for a run.
INSERT INTO company_candidates (id, organisation_id, registration_job_id, restaurant_id, company_number,
    nzbn, name, status, registered_address, score, match_reasons, matched_by, raw, removed_at, created_at)
VALUES (:id, :organisation_id, :registration_job_id, :restaurant_id, :company_number, :nzbn, :name,
    :status, :registered_address, :score, :match_reasons, :matched_by, :raw, :removed_at, :created_at);
