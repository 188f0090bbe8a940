"""The Yolo Mode sub-step job: one Pumpd operation of a registration run.

A sub-step job (1) marks its sub-step started, (2) calls Pumpd with an idempotency key that is the
same for every attempt of that sub-step, and (3) in one transaction records the call, the outcome
and what follows: a retry as a new queue job at the back-off time (the sub-step shows ``retrying``),
the Pumpd ids on the run and the restaurant, and the next sub-steps (``schedule_ready``).

Retries of a sub-step are the pipeline's (counted on the sub-step); the queue's own retries of this
job only cover interruptions (a worker that died mid-call re-runs it with the same key).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any
from uuid import UUID

from onboardflow.domain.redaction import redact
from onboardflow.domain.registration_payloads import build_payload, describe_request
from onboardflow.domain.statuses import FINAL_REGISTRATION, RegistrationStatus, StepStatus
from onboardflow.errors import AlreadyDoneError, PermanentError
from onboardflow.runtime.context import JobContext
from onboardflow.runtime.registry import Registry
from onboardflow.store import registrations as store
from onboardflow.store import restaurants as restaurant_store
from onboardflow.store.types import utcnow

registration_jobs = Registry()
_rng = random.Random()

RUNNABLE = {StepStatus.PENDING.value, StepStatus.RETRYING.value, StepStatus.IN_PROGRESS.value}


@registration_jobs.register(
    store.SUB_STEP_JOB, queue=store.PUMPD_QUEUE, max_retries=store.SUB_STEP_MAX_RETRIES
)
async def run_sub_step(ctx: JobContext) -> dict[str, Any]:
    """Runs one Yolo Mode sub-step of a registration run against Pumpd."""
    run_id = UUID(ctx.payload["registration_job_id"])
    step_id = UUID(ctx.payload["step_id"])
    key = str(ctx.payload["key"])
    actor = f"worker:{ctx.worker_id}"
    deps = ctx.deps

    async with deps.db.write() as conn:
        run = await store.lock_run(conn, ctx.job.organisation_id, run_id)
        step = await store.get_step(conn, step_id)
        if step["job_id"] != ctx.job.id and step["status"] != StepStatus.FAILED.value:
            return {"outcome": "superseded"}
        if step["status"] == StepStatus.FAILED.value and run["status"] == RegistrationStatus.FAILED.value:
            # The failed job itself was retried (e.g. from the queue dashboard): retry the run from here.
            await store.reopen_run(conn, run, actor=actor)
            run = await store.lock_run(conn, None, run_id)
            step = await store.get_step(conn, step_id)
        if run["status"] in FINAL_REGISTRATION or step["status"] not in RUNNABLE:
            return {"outcome": "nothing to do", "sub_step": step["status"], "run": run["status"]}
        attempt = int(step["attempts"]) + 1
        now = utcnow()
        if step["status"] == StepStatus.IN_PROGRESS.value:  # an interrupted attempt, run again
            await store.update_step_values(conn, step_id, {"attempts": attempt, "job_id": ctx.job.id})
        else:
            await store.set_step(
                conn,
                step,
                StepStatus.IN_PROGRESS,
                actor=actor,
                values={
                    "attempts": attempt,
                    "started_at": step["started_at"] or now,
                    "next_attempt_at": None,
                    "job_id": ctx.job.id,
                },
            )
        config = deps.secrets.open(run["execution_config"])
        restaurant = (
            await restaurant_store.get_restaurant(conn, run["organisation_id"], run["restaurant_id"])
        ).to_dict()
        results = dict(run["execution_results"] or {})
    generation = int((step["input"] or {}).get("generation", 0))
    idempotency_key = f"reg-{run_id}-{key}-{generation}"

    started = time.monotonic()
    request: dict[str, Any] = {}
    result: dict[str, Any] | None = None
    error: Exception | None = None
    call_status = "ok"
    try:
        payload = build_payload(key, config=config, restaurant=restaurant, results=results)
        request = describe_request(key, payload)
        answer = await deps.adapters.pumpd.run(key, payload, idempotency_key=idempotency_key)
        result = {"data": answer.data, "ids": answer.ids, "warning": answer.warning}
    except AlreadyDoneError as exc:
        result = {"data": {}, "ids": dict(exc.existing), "warning": exc.message}
        call_status = "already_done"
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        error = exc  # classified by the retry policy below
        call_status = type(exc).__name__
    duration_ms = int((time.monotonic() - started) * 1000)

    async with deps.db.write() as conn:
        run = await store.lock_run(conn, None, run_id)
        step = await store.get_step(conn, step_id)
        await store.record_call(
            conn,
            organisation_id=run["organisation_id"],
            registration_job_id=run_id,
            step_key=key,
            restaurant_id=run["restaurant_id"],
            service="pumpd",
            operation=key,
            idempotency_key=idempotency_key,
            attempt=attempt,
            request=request,
            response=redact(result) if result is not None else None,
            status=call_status,
            error_message=None if error is None else str(error),
            duration_ms=duration_ms,
        )
        if step["status"] != StepStatus.IN_PROGRESS.value or step["job_id"] != ctx.job.id:
            return {"outcome": "discarded", "sub_step": step["status"]}
        finished = utcnow()
        elapsed = int((finished - (step["started_at"] or finished)).total_seconds() * 1000)
        if error is None and result is not None:
            await store.set_step(
                conn,
                step,
                StepStatus.COMPLETED,
                actor=actor,
                values={
                    "result": redact(result),
                    "warning": result.get("warning"),
                    "error_message": None,
                    "completed_at": finished,
                    "duration_ms": elapsed,
                },
            )
            await store.record_result_ids(conn, run, key, result)
            outcome: dict[str, Any] = {"outcome": "completed", "ids": result.get("ids")}
        else:
            assert error is not None
            decision, message = await store.retry_later_or_fail(
                conn,
                run,
                step,
                error=error,
                attempt=attempt,
                actor=actor,
                now=finished,
                rng=_rng,
                enqueue_attempt=store.enqueue_sub_step,
            )
            if decision.retry:
                outcome = {
                    "outcome": "retrying",
                    "next_attempt_at": decision.run_at.isoformat() if decision.run_at else None,
                }
            else:
                await store.set_step(
                    conn,
                    step,
                    StepStatus.FAILED,
                    actor=actor,
                    reason=decision.reason,
                    values={"error_message": message, "completed_at": finished, "duration_ms": elapsed},
                )
                outcome = {"outcome": "failed", "error": message}
        await store.schedule_ready(conn, run_id, config=config, actor=actor)
    if outcome["outcome"] == "failed":
        raise PermanentError(f"{key} failed: {outcome['error']}")
    return outcome
