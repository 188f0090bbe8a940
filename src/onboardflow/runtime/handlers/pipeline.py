"""The automatic steps of the batch pipeline as queue jobs (SPEC §3): extraction, the company search
(after its terms were confirmed), the company details, and the start of the execution.

Each step job, like the sub-step job, (1) marks its step started in one transaction (or parks when
its batch is paused: the step stays ``pending`` without a job and ``resume`` queues it again), (2)
calls the external services outside any transaction, and (3) in one transaction under the run's
lock records the outcome and opens the next step (``store.pipeline.open_step_plan``). A failed call
is retried at the back-off time as a new queue job while the step shows ``retrying`` and its
attempts; once retrying cannot help, the step and its registration job fail (the batch goes on).

The transactions of (1) and (3) are ``driver_sql`` plans: what they read goes in one round trip with
the run's lock, what they write goes with the commit (on SQLite, the whole transaction runs in one
go, ``Database.write_plan``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

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
from onboardflow.errors import NotFound, PermanentError
from onboardflow.runtime.context import JobContext
from onboardflow.runtime.registry import Registry
from onboardflow.store import actions as actions_store
from onboardflow.store import driver_sql as sql
from onboardflow.store import pipeline as flow
from onboardflow.store import registrations as store
from onboardflow.store.tables import organisations, restaurants
from onboardflow.store.tables import registration_batch_jobs as batches
from onboardflow.store.tables import registration_job_steps as steps
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


Reads = Callable[[JobContext, UUID], Sequence[sql.Statement]]
"""What a step's work needs read when the step begins (in the transaction that begins it)."""
Prepared = Callable[[dict[str, Any], dict[str, Any], list[Any]], dict[str, Any]]
"""The work's data from the run, the step and the answers of those reads."""
Work = Callable[[JobContext, Begun], Awaitable[dict[str, Any]]]
FinishReads = Callable[[Begun], Sequence[sql.Statement]]
"""What recording the outcome needs read, with the run's lock."""
Finish = Callable[[JobContext, Begun, dict[str, Any], list[Any]], sql.Plan[dict[str, Any]]]


@dataclass(frozen=True, slots=True, kw_only=True)
class StepKind:
    """One kind of step job: what it reads to begin, its work, and how it records its outcome."""

    work: Work
    finish: Finish
    reads: Reads | None = None
    prepared: Prepared | None = None
    finish_reads: FinishReads | None = None


def _actor(ctx: JobContext) -> str:
    return f"worker:{ctx.worker_id}"


def _idempotency_key(begun: Begun) -> str:
    generation = int((begun.step["input"] or {}).get("generation", 0))
    return f"step-{begun.step['id']}-{generation}"


def _begin_plan(ctx: JobContext, kind: StepKind) -> sql.Plan[Begun | dict[str, Any]]:
    """Start the step, or say why there is nothing to do."""
    run_id, step_id = store.step_ids_of(ctx.payload)
    actor = _actor(ctx)
    reads = kind.reads(ctx, run_id) if kind.reads is not None else ()
    locked, answers = yield from store.lock_run_and_step_plan(
        ctx.job.organisation_id, run_id, step_id, reads=reads
    )
    run, step = locked.run, locked.step
    if step["job_id"] != ctx.job.id:
        return {"outcome": "superseded"}
    if run["status"] not in ACTIVE_REGISTRATION or step["status"] not in ATTEMPTABLE_STEP:
        return {"outcome": "nothing to do", "step": step["status"], "run": run["status"]}
    if not may_start_automatic_step(locked.batch_status):
        yield sql.Hold([store.step_values(step_id, {"job_id": None})])
        return {"outcome": "parked", "reason": "the batch is paused"}
    attempt = int(step["attempts"]) + 1
    now = utcnow()
    started = {"attempts": attempt, "started_at": step["started_at"] or now, "next_attempt_at": None}
    if step["status"] == StepStatus.IN_PROGRESS.value:  # an interrupted attempt: run it again
        moves: list[sql.Change | sql.Transition] = [store.step_values(step_id, {"attempts": attempt})]
    else:
        moves = [store.step_transition(step, StepStatus.IN_PROGRESS, actor=actor, values=started)]
    step = {**step, **started, "status": StepStatus.IN_PROGRESS.value}
    if run["status"] != RegistrationStatus.IN_PROGRESS.value:
        running = {"started_at": run["started_at"] or now}
        moves.append(store.run_transition(run, RegistrationStatus.IN_PROGRESS, actor=actor, values=running))
        run = {**run, **running, "status": RegistrationStatus.IN_PROGRESS.value}
    yield sql.Hold(moves)
    data = kind.prepared(run, step, list(answers)) if kind.prepared is not None else {}
    return Begun(run=run, step=step, attempt=attempt, data=data)


def _discarded(ctx: JobContext, run: dict[str, Any], step: dict[str, Any]) -> dict[str, Any] | None:
    """Why this job's outcome is no longer wanted (the step moved on, another job took it over, the
    run ended), or None while it is."""
    if (
        step["status"] != StepStatus.IN_PROGRESS.value
        or step["job_id"] != ctx.job.id
        or run["status"] not in ACTIVE_REGISTRATION
    ):
        return {"outcome": "discarded", "step": step["status"], "run": run["status"]}
    return None


def _end_plan(
    ctx: JobContext, kind: StepKind, begun: Begun, result: dict[str, Any]
) -> sql.Plan[dict[str, Any]]:
    """Record the outcome of the work and open the next step, under the run's lock."""
    following = next_step(begun.step["step_key"])
    reads = kind.finish_reads(begun) if kind.finish_reads is not None else ()
    locked, answers = yield from store.lock_run_and_step_plan(
        None, begun.run["id"], begun.step["id"], following=following.key if following else None, reads=reads
    )
    run, step = locked.run, locked.step
    if (discarded := _discarded(ctx, run, step)) is not None:
        return discarded
    fresh = Begun(run=run, step=step, attempt=begun.attempt, data=begun.data, following=locked.following)
    return (yield from kind.finish(ctx, fresh, result, list(answers)))


async def run_step(ctx: JobContext, kind: StepKind) -> dict[str, Any]:
    """Begin, work outside any transaction, then record the outcome and open the next step."""
    db = ctx.deps.db
    begun = await db.write_plan(_begin_plan(ctx, kind))
    if not isinstance(begun, Begun):
        return begun
    result: dict[str, Any] | None = None
    error: Exception | None = None
    try:
        result = await kind.work(ctx, begun)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        error = exc  # classified by the retry policy below
    if error is None and result is not None:
        return await db.write_plan(_end_plan(ctx, kind, begun, result))
    assert error is not None
    actor = _actor(ctx)
    async with db.write() as conn:
        locked = await store.lock_run_and_step(conn, None, begun.run["id"], begun.step["id"])
        run, step = locked.run, locked.step
        if (discarded := _discarded(ctx, run, step)) is not None:
            return discarded
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


def _complete_and_advance(
    ctx: JobContext, begun: Begun, *, result: dict[str, Any], known: flow.Known
) -> sql.Plan[dict[str, Any]]:
    """Complete the step and open the next one; ``known`` holds what this transaction read (and
    wrote) of the run's restaurant and the rest, so that it is not read again."""
    actor = _actor(ctx)
    yield sql.Hold([flow.complete_step_transition(begun.step, actor=actor, values={"result": result})])
    following = next_step(begun.step["step_key"])
    if following is not None and begun.following is not None:
        known.steps[following.key] = begun.following
    yield from flow.open_step_plan(
        begun.run, following.key if following else None, actor=actor, secrets=ctx.deps.secrets, known=known
    )
    return {"outcome": "completed", **result}


def _restaurant_read(restaurant_id: UUID) -> sql.Rows:
    return sql.Rows(restaurants, {"id": restaurant_id})


def _job_restaurant(ctx: JobContext) -> sql.Rows:
    """The read of the restaurant a step job works on (its job names it, as the run does)."""
    if ctx.job.restaurant_id is None:
        raise PermanentError("the step job names no restaurant")
    return _restaurant_read(ctx.job.restaurant_id)


def _restaurant_row(run: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    row = sql.owned(rows, run["organisation_id"])
    if row is None:
        raise NotFound("restaurant")
    return row


def _changed_restaurant(row: dict[str, Any], values: dict[str, Any]) -> tuple[sql.Change, Restaurant]:
    """The update of the run's restaurant (``row``, read in this transaction and found the run's
    organisation's by ``_restaurant_row``), and the restaurant as it will then be. By primary key
    alone: with the organisation in the condition too, PostgreSQL without table statistics went
    through the organisation's index, reading every restaurant of it to update one."""
    values = {**values, "updated_at": utcnow()}
    return sql.Change(restaurants, values, {"id": row["id"]}), Restaurant.from_row({**row, **values})


# -- extraction ----------------------------------------------------------------------------------


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


def _finish_extraction(
    ctx: JobContext, begun: Begun, result: dict[str, Any], answers: list[Any]
) -> sql.Plan[dict[str, Any]]:
    row = _restaurant_row(begun.run, answers[0])
    if "skipped" in result:
        reason = result["skipped"]
        values = {"skip_reason": reason, "completed_at": utcnow(), "job_id": None}
        skipped = store.step_transition(
            begun.step, StepStatus.SKIPPED, actor=_actor(ctx), reason=reason, values=values
        )
        yield sql.Hold([skipped])
        known = flow.Known(restaurant=Restaurant.from_row(row))
        if begun.following is not None:
            known.steps["company_search"] = begun.following
        yield from flow.open_step_plan(
            begun.run, "company_search", actor=_actor(ctx), secrets=ctx.deps.secrets, known=known
        )
        return {"outcome": "skipped", "reason": reason}
    menu, branding = result["menu"], result["branding"]
    change, updated = _changed_restaurant(row, {"menu": menu, "branding": branding})
    yield sql.Hold([change])
    summary = {
        "source": result["source"],
        "categories": len(menu["categories"]),
        "items": sum(len(c["items"]) for c in menu["categories"]),
        "logo": bool(branding.get("logo_url")),
    }
    return (
        yield from _complete_and_advance(ctx, begun, result=summary, known=flow.Known(restaurant=updated))
    )


def _extraction_data(run: dict[str, Any], step: dict[str, Any], answers: list[Any]) -> dict[str, Any]:
    return {"restaurant": Restaurant.from_row(_restaurant_row(run, answers[0])).to_dict()}


EXTRACTION = StepKind(
    reads=lambda ctx, run_id: [_job_restaurant(ctx)],
    prepared=_extraction_data,
    work=_extract,
    finish_reads=lambda begun: [_restaurant_read(begun.run["restaurant_id"])],
    finish=_finish_extraction,
)


@pipeline_jobs.register(flow.STEP_JOB_TYPES["extraction"], queue=flow.PIPELINE_QUEUE, timeout_seconds=300)
async def extraction_step(ctx: JobContext) -> dict[str, Any]:
    """Pipeline step 1: extracts the menu and the branding in parallel and stores them on the restaurant."""
    return await run_step(ctx, EXTRACTION)


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
    return {"ranked": rank_candidates(terms, by_name, by_address)}


def _search_finish_reads(begun: Begun) -> list[sql.Statement]:
    run = begun.run
    params = {"run_id": run["id"], "include_removed": True}
    reads: list[sql.Statement] = [
        sql.Fetch("pipeline", "candidates_of_run", params, actions_store.CANDIDATE_COLUMNS)
    ]
    if run["batch_job_id"] is not None:
        reads.append(sql.Rows(batches, {"id": run["batch_job_id"]}))
    return reads


def _finish_search(
    ctx: JobContext, begun: Begun, result: dict[str, Any], answers: list[Any]
) -> sql.Plan[dict[str, Any]]:
    writes, current = actions_store.candidate_writes(begun.run, result["ranked"], answers[0])
    yield sql.Hold(writes)
    summary = {"candidates": len(current), "best_score": current[0]["score"] if current else None}
    batch_rows = answers[1] if len(answers) > 1 else []
    known = flow.Known(candidates=current, batch_settings=flow.settings_of(batch_rows))
    return (yield from _complete_and_advance(ctx, begun, result=summary, known=known))


COMPANY_SEARCH = StepKind(work=_search, finish_reads=_search_finish_reads, finish=_finish_search)


@pipeline_jobs.register(flow.STEP_JOB_TYPES["company_search"], queue=flow.PIPELINE_QUEUE, timeout_seconds=300)
async def company_search_step(ctx: JobContext) -> dict[str, Any]:
    """Pipeline step 2: searches the companies register by name and address and stores every candidate."""
    return await run_step(ctx, COMPANY_SEARCH)


# -- company details -----------------------------------------------------------------------------


def _choice_reads(ctx: JobContext, run_id: UUID) -> list[sql.Statement]:
    """What the company details step reads when it begins: the restaurant, the company selection and
    search steps and the run's current candidates."""
    params = {"run_id": run_id, "include_removed": False}
    return [
        _job_restaurant(ctx),
        sql.Rows(steps, store.step_key_of(run_id, "company_selection")),
        sql.Rows(steps, store.step_key_of(run_id, "company_search")),
        sql.Fetch("pipeline", "candidates_of_run", params, actions_store.CANDIDATE_COLUMNS),
    ]


def _choice(run: dict[str, Any], step: dict[str, Any], answers: list[Any]) -> dict[str, Any]:
    """The chosen company (its number, unless the step's input names another) and what finding it
    again needs."""
    restaurant = _restaurant_row(run, answers[0])
    selection, search, candidates = answers[1][0], answers[2][0], answers[3]
    number, chosen = (step["input"] or {}).get("company_number"), None
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


def _finish_details(
    ctx: JobContext, begun: Begun, result: dict[str, Any], answers: list[Any]
) -> sql.Plan[dict[str, Any]]:
    company = result["company"]
    row = _restaurant_row(begun.run, answers[0])
    filled = contact_fields(Restaurant.from_row(row).to_dict(), company)
    change, updated = _changed_restaurant(row, {"company": company, **filled})
    yield sql.Hold([change])
    summary = {
        "company_number": company["company_number"],
        "legal_name": company["legal_name"],
        "filled": sorted(filled),
    }
    known = flow.Known(restaurant=updated, organisation_settings=flow.settings_of(answers[1]))
    return (yield from _complete_and_advance(ctx, begun, result=summary, known=known))


COMPANY_DETAILS = StepKind(
    reads=_choice_reads,
    prepared=_choice,
    work=_details,
    finish_reads=lambda begun: [
        _restaurant_read(begun.run["restaurant_id"]),
        sql.Rows(organisations, {"id": begun.run["organisation_id"]}),
    ],
    finish=_finish_details,
)


@pipeline_jobs.register(
    flow.STEP_JOB_TYPES["company_details"], queue=flow.PIPELINE_QUEUE, timeout_seconds=300
)
async def company_details_step(ctx: JobContext) -> dict[str, Any]:
    """Pipeline step 4: fetches the chosen company's details and fills the restaurant's contact."""
    return await run_step(ctx, COMPANY_DETAILS)


# -- execution -----------------------------------------------------------------------------------


def _execution_plan(ctx: JobContext) -> sql.Plan[dict[str, Any]]:
    run_id, step_id = store.step_ids_of(ctx.payload)
    actor = _actor(ctx)
    secrets = ctx.deps.secrets
    reads: list[sql.Statement] = [
        sql.Rows(steps, store.step_key_of(run_id, "yolo_config")),
        sql.Fetch("runs", "steps_of_run", {"run_id": run_id}, sql.columns_of(steps)),
    ]
    locked, (approved_rows, rows) = yield from store.lock_run_and_step_plan(
        ctx.job.organisation_id, run_id, step_id, reads=reads
    )
    run, step = locked.run, locked.step
    if step["job_id"] != ctx.job.id:
        return {"outcome": "superseded"}
    if run["status"] not in ACTIVE_REGISTRATION or step["status"] != StepStatus.PENDING.value:
        return {"outcome": "nothing to do", "step": step["status"], "run": run["status"]}
    if not may_start_automatic_step(locked.batch_status):
        yield sql.Hold([store.step_values(step_id, {"job_id": None})])
        return {"outcome": "parked", "reason": "the batch is paused"}
    try:
        config = validate_yolo_config(secrets.open(approved_rows[0]["answer"] or {})).model_dump(mode="json")
    except Exception as exc:  # an answer stored before a rule changed: fail the run, explained
        return {"outcome": "invalid configuration", "error": str(exc)}
    moves: list[sql.Change | sql.Transition] = [
        store.run_values(run_id, {"execution_config": secrets.seal(config)})
    ]
    if run["status"] != RegistrationStatus.IN_PROGRESS.value:
        running = {"started_at": run["started_at"] or utcnow()}
        moves.append(store.run_transition(run, RegistrationStatus.IN_PROGRESS, actor=actor, values=running))
        run = {**run, **running, "status": RegistrationStatus.IN_PROGRESS.value}
    yield sql.Hold(moves)
    finished = yield from store.schedule_ready_plan(run_id, config=config, actor=actor, run=run, rows=rows)
    return {"outcome": "started", "finished": finished.value if finished else None}


@pipeline_jobs.register(flow.STEP_JOB_TYPES["yolo_execution"], queue=flow.PIPELINE_QUEUE, timeout_seconds=60)
async def execution_step(ctx: JobContext) -> dict[str, Any]:
    """Pipeline step 6: stores the approved configuration (secrets sealed) and starts the 12 sub-steps."""
    outcome = await ctx.deps.db.write_plan(_execution_plan(ctx))
    if outcome["outcome"] != "invalid configuration":
        return outcome
    run_id, step_id = store.step_ids_of(ctx.payload)
    async with ctx.deps.db.write() as conn:
        locked = await store.lock_run_and_step(conn, ctx.job.organisation_id, run_id, step_id)
        message = f"the approved configuration is not valid: {outcome['error']}"
        await flow.fail_run(conn, locked.run, locked.step, message, actor=_actor(ctx))
    return {"outcome": "failed"}
