"""The automatic steps of the batch pipeline as queue jobs (SPEC §3): extraction, the company search
(after its terms were confirmed), the company details, and the start of the execution.

Each step job, like the sub-step job, (1) marks its step started in one transaction (or parks when
its batch is paused: the step stays ``pending`` without a job and ``resume`` queues it again), (2)
calls the external services outside any transaction, and (3) in one transaction under the run's
lock records the outcome and opens the next step (``store.pipeline.open_step``). A failed call is
retried at the back-off time as a new queue job while the step shows ``retrying`` and its attempts;
once retrying cannot help, the step and its registration job fail (the batch goes on).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from onboardflow.adapters import wire
from onboardflow.domain import menus
from onboardflow.domain.batches import may_start_automatic_step
from onboardflow.domain.enrichment import company_record, contact_fields, rank_candidates
from onboardflow.domain.pipeline import next_step
from onboardflow.domain.records import Restaurant
from onboardflow.domain.statuses import (
    ACTIVE_REGISTRATION,
    ATTEMPTABLE_STEP,
    RegistrationStatus,
    StepStatus,
)
from onboardflow.domain.yolo_config import validate_yolo_config
from onboardflow.errors import PermanentError
from onboardflow.runtime.context import JobContext
from onboardflow.runtime.registry import Registry
from onboardflow.store import actions as actions_store
from onboardflow.store import pipeline as flow
from onboardflow.store import registrations as store
from onboardflow.store import restaurants as restaurant_store
from onboardflow.store.types import utcnow

pipeline_jobs = Registry()
_rng = random.Random()


@dataclass(slots=True)
class Begun:
    """What a step job read when it started: its run, its step and what its work needs."""

    run: dict[str, Any]
    step: dict[str, Any]
    attempt: int
    data: dict[str, Any] = field(default_factory=dict)
    following: dict[str, Any] | None = None
    """The step that follows, read with the run's lock when the outcome is recorded."""


Prepare = Callable[[Any, dict[str, Any], dict[str, Any]], Awaitable[dict[str, Any]]]
Work = Callable[[JobContext, Begun], Awaitable[dict[str, Any]]]
Finish = Callable[[JobContext, Any, Begun, dict[str, Any]], Awaitable[dict[str, Any]]]


def _actor(ctx: JobContext) -> str:
    return f"worker:{ctx.worker_id}"


def _idempotency_key(begun: Begun) -> str:
    generation = int((begun.step["input"] or {}).get("generation", 0))
    return f"step-{begun.step['id']}-{generation}"


async def _begin(ctx: JobContext, prepare: Prepare | None) -> Begun | dict[str, Any]:
    """Start the step in one transaction, or say why there is nothing to do."""
    run_id, step_id = store.step_ids_of(ctx.payload)
    actor = _actor(ctx)
    async with ctx.deps.db.write() as conn:
        locked = await store.lock_run_and_step(conn, ctx.job.organisation_id, run_id, step_id)
        run, step = locked.run, locked.step
        if step["job_id"] != ctx.job.id:
            return {"outcome": "superseded"}
        if run["status"] not in ACTIVE_REGISTRATION or step["status"] not in ATTEMPTABLE_STEP:
            return {"outcome": "nothing to do", "step": step["status"], "run": run["status"]}
        if not may_start_automatic_step(locked.batch_status):
            await store.update_step_values(conn, step_id, {"job_id": None})
            return {"outcome": "parked", "reason": "the batch is paused"}
        attempt = int(step["attempts"]) + 1
        now = utcnow()
        started = {"attempts": attempt, "started_at": step["started_at"] or now, "next_attempt_at": None}
        if step["status"] == StepStatus.IN_PROGRESS.value:  # an interrupted attempt: run it again
            await store.update_step_values(conn, step_id, {"attempts": attempt})
        else:
            await store.set_step(conn, step, StepStatus.IN_PROGRESS, actor=actor, values=started)
        step = {**step, **started, "status": StepStatus.IN_PROGRESS.value}
        if run["status"] != RegistrationStatus.IN_PROGRESS.value:
            running = {"started_at": run["started_at"] or now}
            await store.set_run(conn, run, RegistrationStatus.IN_PROGRESS, actor=actor, values=running)
            run = {**run, **running, "status": RegistrationStatus.IN_PROGRESS.value}
        data = await prepare(conn, run, step) if prepare is not None else {}
    return Begun(run=run, step=step, attempt=attempt, data=data)


async def run_step(ctx: JobContext, prepare: Prepare | None, work: Work, finish: Finish) -> dict[str, Any]:
    """Begin, work outside any transaction, then record the outcome and open the next step."""
    begun = await _begin(ctx, prepare)
    if not isinstance(begun, Begun):
        return begun
    result: dict[str, Any] | None = None
    error: Exception | None = None
    try:
        result = await work(ctx, begun)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        error = exc  # classified by the retry policy below
    actor = _actor(ctx)
    async with ctx.deps.db.write() as conn:
        following = next_step(begun.step["step_key"])
        locked = await store.lock_run_and_step(
            conn, None, begun.run["id"], begun.step["id"], following=following.key if following else None
        )
        run, step = locked.run, locked.step
        if (
            step["status"] != StepStatus.IN_PROGRESS.value
            or step["job_id"] != ctx.job.id
            or run["status"] not in ACTIVE_REGISTRATION
        ):
            return {"outcome": "discarded", "step": step["status"], "run": run["status"]}
        fresh = Begun(run=run, step=step, attempt=begun.attempt, data=begun.data, following=locked.following)
        if error is None and result is not None:
            return await finish(ctx, conn, fresh, result)
        assert error is not None
        decision, message = await store.retry_later_or_fail(
            conn,
            run,
            step,
            error=error,
            attempt=begun.attempt,
            actor=actor,
            now=utcnow(),
            rng=_rng,
            enqueue_attempt=flow.enqueue_step,
        )
        if decision.retry:
            return {"outcome": "retrying", "next_attempt_at": decision.run_at}
        await flow.fail_run(conn, run, step, message, actor=actor, reason=decision.reason)
        return {"outcome": "failed", "error": message}


async def _complete_and_advance(
    ctx: JobContext,
    conn: Any,
    begun: Begun,
    *,
    result: dict[str, Any],
    restaurant: Restaurant | None = None,
) -> dict[str, Any]:
    """Complete the step and open the next one; ``restaurant`` is the run's restaurant as this
    transaction just wrote it, if it did."""
    actor = _actor(ctx)
    await flow.complete_step(conn, begun.step, actor=actor, values={"result": result})
    following = next_step(begun.step["step_key"])
    await flow.open_step(
        conn,
        begun.run["id"],
        following.key if following else None,
        actor=actor,
        secrets=ctx.deps.secrets,
        locked=begun.run,
        step_row=begun.following,
        restaurant=restaurant,
    )
    return {"outcome": "completed", **result}


# -- extraction ----------------------------------------------------------------------------------


async def _load_restaurant(conn: Any, run: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    restaurant = await restaurant_store.get_restaurant(conn, run["organisation_id"], run["restaurant_id"])
    return {"restaurant": restaurant.to_dict()}


async def _extract(ctx: JobContext, begun: Begun) -> dict[str, Any]:
    restaurant = begun.data["restaurant"]
    override = (begun.step["input"] or {}).get("source_url")
    source = override or restaurant["marketplace_url"] or restaurant["website"]
    if not source:
        return {"skipped": "the restaurant has no marketplace URL or website to extract from"}
    key = _idempotency_key(begun)
    extraction = ctx.deps.adapters.extraction
    menu, branding = await asyncio.gather(
        extraction.extract_menu(
            source,
            restaurant_name=restaurant["name"],
            idempotency_key=f"{key}-menu",
            cuisine=restaurant["cuisine"],
        ),
        extraction.extract_branding(
            source, restaurant_name=restaurant["name"], idempotency_key=f"{key}-branding"
        ),
    )
    return {"menu": menus.normalise_menu(wire.dump(menu)), "branding": wire.dump(branding), "source": source}


async def _finish_extraction(
    ctx: JobContext, conn: Any, begun: Begun, result: dict[str, Any]
) -> dict[str, Any]:
    if "skipped" in result:
        reason = result["skipped"]
        await store.set_step(
            conn,
            begun.step,
            StepStatus.SKIPPED,
            actor=_actor(ctx),
            reason=reason,
            values={"skip_reason": reason, "completed_at": utcnow(), "job_id": None},
        )
        await flow.open_step(
            conn, begun.run["id"], "company_search", actor=_actor(ctx), secrets=ctx.deps.secrets
        )
        return {"outcome": "skipped", "reason": reason}
    menu, branding = result["menu"], result["branding"]
    updated = await restaurant_store.update_restaurant(
        conn, begun.run["organisation_id"], begun.run["restaurant_id"], {"menu": menu, "branding": branding}
    )
    summary = {
        "source": result["source"],
        "categories": len(menu["categories"]),
        "items": sum(len(c["items"]) for c in menu["categories"]),
        "logo": bool(branding.get("logo_url")),
    }
    return await _complete_and_advance(ctx, conn, begun, result=summary, restaurant=updated)


@pipeline_jobs.register(flow.STEP_JOB_TYPES["extraction"], queue=flow.PIPELINE_QUEUE, timeout_seconds=300)
async def extraction_step(ctx: JobContext) -> dict[str, Any]:
    """Pipeline step 1: extracts the menu and the branding in parallel and stores them on the restaurant."""
    return await run_step(ctx, _load_restaurant, _extract, _finish_extraction)


# -- company search ------------------------------------------------------------------------------


async def _search(ctx: JobContext, begun: Begun) -> dict[str, Any]:
    terms = dict(begun.step["answer"] or {})
    register = ctx.deps.adapters.companies
    names = list(dict.fromkeys(t for t in (terms.get("trading_name"), terms.get("legal_name")) if t))
    address = terms.get("street_address")
    calls = [register.search_by_name(name) for name in names]
    if address:
        calls.append(register.search_by_address(address))
    found = await asyncio.gather(*calls)
    by_name = [wire.dump(hit) for hits in found[: len(names)] for hit in hits]
    by_address = [wire.dump(hit) for hits in found[len(names) :] for hit in hits]
    return {"terms": terms, "by_name": by_name, "by_address": by_address}


async def _finish_search(ctx: JobContext, conn: Any, begun: Begun, result: dict[str, Any]) -> dict[str, Any]:
    ranked = rank_candidates(result["terms"], result["by_name"], result["by_address"])
    persisted = await actions_store.replace_candidates(conn, begun.run, ranked)
    summary = {"candidates": len(persisted), "best_score": persisted[0]["score"] if persisted else None}
    return await _complete_and_advance(ctx, conn, begun, result=summary)


@pipeline_jobs.register(flow.STEP_JOB_TYPES["company_search"], queue=flow.PIPELINE_QUEUE, timeout_seconds=300)
async def company_search_step(ctx: JobContext) -> dict[str, Any]:
    """Pipeline step 2: searches the companies register by name and address and stores every candidate."""
    return await run_step(ctx, None, _search, _finish_search)


# -- company details -----------------------------------------------------------------------------


async def _load_choice(conn: Any, run: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    restaurant, selection, search, candidates = await flow.choice_of(conn, run)
    override = (step["input"] or {}).get("company_number")
    number, chosen = override, None
    if number is None:
        wanted = str((selection["answer"] or {}).get("candidate_id"))
        chosen = next((c for c in candidates if str(c["id"]) == wanted), None)
        number = chosen["company_number"] if chosen is not None else None
    return {
        "restaurant": Restaurant.from_row(restaurant).to_dict(),
        "company_number": number,
        "company": None
        if chosen is None
        else {"name": chosen["name"], "address": chosen["registered_address"]},
        "terms": dict(search["answer"] or {}),
    }


async def _details(ctx: JobContext, begun: Begun) -> dict[str, Any]:
    register = ctx.deps.adapters.companies
    if begun.data["company_number"] is None:
        raise PermanentError("the chosen company is no longer a candidate")
    chosen = begun.data.get("company")
    try:
        details = await register.get_company(str(begun.data["company_number"]))
    except PermanentError:
        details = None
    if details is None or (chosen is not None and details.legal_name != chosen["name"]):
        details = await _find_again(register, begun.data["terms"], chosen, str(begun.data["company_number"]))
    return {"company": company_record(wire.dump(details))}


async def _find_again(
    register: Any, terms: dict[str, Any], chosen: dict[str, Any] | None, number: str
) -> Any:
    """The chosen company, from a register that no longer knows its number or knows it as another
    company (the simulated one forgets on restart, and each worker process numbers the companies it
    has generated in its own order): searched again with the confirmed terms, taken by name and
    address among what they find, and asked for by the number it has now."""
    found = []
    for name in dict.fromkeys(t for t in (terms.get("trading_name"), terms.get("legal_name")) if t):
        found += await register.search_by_name(name)
    if terms.get("street_address"):
        found += await register.search_by_address(terms["street_address"])
    if chosen is not None:
        match = next(
            (c for c in found if c.name == chosen["name"] and c.registered_address == chosen["address"]), None
        )
        if match is None:
            raise PermanentError(f"the companies register no longer finds {chosen['name']!r}")
        number = match.company_number
    return await register.get_company(number)


async def _finish_details(ctx: JobContext, conn: Any, begun: Begun, result: dict[str, Any]) -> dict[str, Any]:
    company = result["company"]
    restaurant = begun.data["restaurant"]
    current = await restaurant_store.get_restaurant(
        conn, begun.run["organisation_id"], begun.run["restaurant_id"]
    )
    filled = contact_fields(current.to_dict(), company)
    updated = await restaurant_store.update_restaurant(
        conn, begun.run["organisation_id"], restaurant["id"], {"company": company, **filled}
    )
    summary = {
        "company_number": company["company_number"],
        "legal_name": company["legal_name"],
        "filled": sorted(filled),
    }
    return await _complete_and_advance(ctx, conn, begun, result=summary, restaurant=updated)


@pipeline_jobs.register(
    flow.STEP_JOB_TYPES["company_details"], queue=flow.PIPELINE_QUEUE, timeout_seconds=300
)
async def company_details_step(ctx: JobContext) -> dict[str, Any]:
    """Pipeline step 4: fetches the chosen company's details and fills the restaurant's contact."""
    return await run_step(ctx, _load_choice, _details, _finish_details)


# -- execution -----------------------------------------------------------------------------------


@pipeline_jobs.register(flow.STEP_JOB_TYPES["yolo_execution"], queue=flow.PIPELINE_QUEUE, timeout_seconds=60)
async def execution_step(ctx: JobContext) -> dict[str, Any]:
    """Pipeline step 6: stores the approved configuration (secrets sealed) and starts the 12 sub-steps."""
    run_id, step_id = store.step_ids_of(ctx.payload)
    actor = _actor(ctx)
    secrets = ctx.deps.secrets
    async with ctx.deps.db.write() as conn:
        locked = await store.lock_run_and_step(conn, ctx.job.organisation_id, run_id, step_id)
        run, step = locked.run, locked.step
        if step["job_id"] != ctx.job.id:
            return {"outcome": "superseded"}
        if run["status"] not in ACTIVE_REGISTRATION or step["status"] != StepStatus.PENDING.value:
            return {"outcome": "nothing to do", "step": step["status"], "run": run["status"]}
        if not may_start_automatic_step(locked.batch_status):
            await store.update_step_values(conn, step_id, {"job_id": None})
            return {"outcome": "parked", "reason": "the batch is paused"}
        approved = await flow.step_of(conn, run_id, "yolo_config")
        try:
            config = validate_yolo_config(secrets.open(approved["answer"] or {})).model_dump(mode="json")
        except Exception as exc:  # an answer stored before a rule changed: fail the run, explained
            await flow.fail_run(
                conn, run, step, f"the approved configuration is not valid: {exc}", actor=actor
            )
            return {"outcome": "failed"}
        await store.update_run_values(conn, run_id, {"execution_config": secrets.seal(config)})
        if run["status"] != RegistrationStatus.IN_PROGRESS.value:
            await store.set_run(
                conn,
                run,
                RegistrationStatus.IN_PROGRESS,
                actor=actor,
                values={"started_at": run["started_at"] or utcnow()},
            )
        finished = await store.schedule_ready(conn, run_id, config=config, actor=actor)
    return {"outcome": "started", "finished": finished.value if finished else None}
