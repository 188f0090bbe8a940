"""The Yolo Mode sub-step job: one Pumpd operation of a registration run.

A sub-step job (1) marks its sub-step started (unless the transaction that claimed it for its Pumpd
slot did), (2) calls Pumpd with an idempotency key that is the same for every attempt of that
sub-step, (3) frees its Pumpd slot for the job waiting for it, if one was claimed to, and (4) in one
transaction records the call, the outcome and what follows: a retry as a new queue job at the
back-off time (the sub-step shows ``retrying``), the Pumpd ids on the run and the restaurant, the
next sub-steps, the completion of this queue job itself and the hand-over of its slot
(``store.sub_step_attempts``).

Retries of a sub-step are the pipeline's (counted on the sub-step); the queue's own retries of this
job only cover interruptions (a worker that died mid-call re-runs it with the same key).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from onboardflow.domain.redaction import redact
from onboardflow.domain.registration_payloads import build_payload, describe_request
from onboardflow.domain.yolo_config import YoloConfig, validate_yolo_config
from onboardflow.errors import AlreadyDoneError, InvalidInput, PermanentError
from onboardflow.runtime.context import JobContext
from onboardflow.runtime.registry import Registry
from onboardflow.store import registrations as store
from onboardflow.store import sub_step_attempts as attempts
from onboardflow.store.secrets import SecretBox
from onboardflow.store.types import utcnow

registration_jobs = Registry()
_rng = random.Random()

OPENED_CONFIGS_KEPT = 512
_Opened = tuple[Mapping[str, Any], dict[str, Any], YoloConfig | dict[str, Any]]
_opened: OrderedDict[tuple[str, UUID], _Opened] = OrderedDict()


def _opened_config(
    secrets: SecretBox, run_id: UUID, sealed: Mapping[str, Any]
) -> tuple[dict[str, Any], YoloConfig | dict[str, Any]]:
    """A run's configuration with its secrets opened, and validated (or, when invalid, as it is, for
    ``build_payload`` to explain). Every sub-step of a run uses the same one, so a process keeps the
    last few by run: opening and validating cost more than the rest of building a payload. A run's
    configuration can change (a retry with a new one), so the sealed document must still be equal."""
    key = (secrets.key_id, run_id)
    found = _opened.get(key)
    if found is None or found[0] != sealed:
        config = secrets.open(sealed)
        try:
            checked: YoloConfig | dict[str, Any] = validate_yolo_config(config)
        except InvalidInput:
            checked = config
        found = _opened[key] = (sealed, config, checked)
        if len(_opened) > OPENED_CONFIGS_KEPT:
            _opened.popitem(last=False)
    else:
        _opened.move_to_end(key)
    _sealed, config, checked = found
    return config, checked


@registration_jobs.register(
    store.SUB_STEP_JOB, queue=store.PUMPD_QUEUE, max_retries=store.SUB_STEP_MAX_RETRIES
)
async def run_sub_step(ctx: JobContext) -> dict[str, Any]:
    """Runs one Yolo Mode sub-step of a registration run against Pumpd."""
    run_id, step_id = store.step_ids_of(ctx.payload)
    actor = f"worker:{ctx.worker_id}"
    deps = ctx.deps

    begun = await _begin(ctx, run_id=run_id, step_id=step_id, actor=actor)
    if isinstance(begun, attempts.NotStarted):
        return {"outcome": begun.reason, "sub_step": begun.sub_step, "run": begun.run}
    config, checked = _opened_config(deps.secrets, run_id, begun.sealed_config)

    started = time.monotonic()
    request: dict[str, Any] = {}
    result: dict[str, Any] | None = None
    error: Exception | None = None
    call_status = "ok"
    try:
        payload = build_payload(begun.key, config=checked, restaurant=begun.restaurant, results=begun.results)
        request = describe_request(begun.key, payload)
        answer = await deps.adapters.pumpd.run(begun.key, payload, idempotency_key=begun.idempotency_key)
        result = {"data": answer.data, "ids": answer.ids, "warning": answer.warning}
    except AlreadyDoneError as exc:
        result = {"data": {}, "ids": dict(exc.existing), "warning": exc.message}
        call_status = "already_done"
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        error = exc  # classified by the retry policy when the outcome is recorded
        call_status = type(exc).__name__
    kept = redact(result) if result is not None else None
    call = attempts.Call(
        request=request,
        response=kept,
        status=call_status,
        error_message=None if error is None else str(error),
        duration_ms=int((time.monotonic() - started) * 1000),
    )

    # The call is over: a job waiting for this job's Pumpd slot starts now, while this one records.
    successor = await ctx.free_slot()
    ended = await attempts.end_attempt(
        deps.db,
        begun,
        job=ctx.job,
        call=call,
        result=kept,
        error=error,
        config=config,
        worker_id=ctx.worker_id,
        now=utcnow(),
        rng=_rng,
        hand_over_terms=ctx.hand_over,
        successor=successor,
    )
    outcome = ended.outcome
    if outcome["outcome"] in ("completed", "retrying"):
        ctx.completed_by_handler(
            next_job=ended.next_job,
            prepared=ended.next_attempt,
            waiting_job=ended.waiting_job,
            waiting_prepared=ended.waiting_attempt,
        )
    if outcome["outcome"] == "failed":
        raise PermanentError(f"{begun.key} failed: {outcome['error']}")
    return outcome


async def _begin(
    ctx: JobContext, *, run_id: UUID, step_id: UUID, actor: str
) -> attempts.Attempt | attempts.NotStarted:
    """The attempt this job runs: begun already by the transaction that handed it its slot, or now."""
    prepared = ctx.prepared
    if isinstance(prepared, attempts.Attempt) and prepared.step_id == step_id:
        return prepared
    db = ctx.deps.db
    begun = await attempts.start_attempt_in(
        db, job=ctx.job, run_id=run_id, step_id=step_id, actor=actor, now=utcnow()
    )
    if isinstance(begun, attempts.NotStarted) and begun.reason == "reopen":
        # The failed job itself was retried (e.g. from the queue dashboard): retry the run from here.
        async with db.write() as conn:
            run = await store.lock_run(conn, ctx.job.organisation_id, run_id)
            await store.reopen_run(conn, run, actor=actor)
            await store.update_step_values(conn, step_id, {"job_id": ctx.job.id})
            begun = await attempts.start_attempt(
                conn, job=ctx.job, run_id=run_id, step_id=step_id, actor=actor, now=utcnow()
            )
    return begun
