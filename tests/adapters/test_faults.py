"""Failure injection and latency: parsing, matching, determinism."""

from __future__ import annotations

from typing import Any

import pytest

from onboardflow.adapters.faults import FaultInjector, FaultKind, FaultPlan, FaultRule, SimulatedTimeout
from onboardflow.adapters.pumpd.simulated import SimulatedPumpd
from onboardflow.adapters.simulation import Simulation
from onboardflow.errors import AlreadyDoneError, InvalidInput, PermanentError, RetryableError

SETTINGS_EXAMPLE = {
    "latency_ms": 100,
    "rules": [{"service": "pumpd", "operation": "menu_import", "kind": "server_error", "times": 2}],
}


def test_the_settings_example_parses_and_round_trips() -> None:
    plan = FaultPlan.from_dict(SETTINGS_EXAMPLE)
    assert plan.latency_ms == (100, 100)
    assert plan.rules == (
        FaultRule(service="pumpd", operation="menu_import", kind=FaultKind.SERVER_ERROR, times=2),
    )
    assert FaultPlan.from_dict(plan.to_dict()) == plan


def test_an_empty_or_missing_plan_injects_nothing() -> None:
    for plan in (FaultPlan.from_dict(None), FaultPlan.from_dict({})):
        injector = FaultInjector(plan)
        assert injector.next_call("pumpd", "account") == (0.0, None)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"latency": 5}, "faults.latency"),
        ({"latency_ms": -1}, "faults.latency_ms"),
        ({"latency_ms": [200, 100]}, "faults.latency_ms"),
        ({"rules": {}}, "faults.rules"),
        ({"rules": [{"kind": "meteor", "times": 1}]}, "faults.rules[0].kind"),
        ({"rules": [{"kind": "timeout"}]}, "faults.rules[0]"),
        ({"rules": [{"kind": "timeout", "times": 1, "rate": 0.5}]}, "faults.rules[0]"),
        ({"rules": [{"kind": "timeout", "rate": 1.5}]}, "faults.rules[0].rate"),
        ({"rules": [{"kind": "timeout", "times": -1}]}, "faults.rules[0].times"),
        ({"rules": [{"kind": "server_error", "times": 1, "status": 404}]}, "faults.rules[0].status"),
        ({"rules": [{"kind": "timeout", "times": 1, "colour": "red"}]}, "faults.rules[0].colour"),
    ],
)
def test_a_bad_plan_names_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        FaultPlan.from_dict(data)
    assert caught.value.field == field


def test_times_fails_exactly_the_first_n_matching_calls() -> None:
    injector = FaultInjector(FaultPlan.from_dict(SETTINGS_EXAMPLE))
    outcomes = []
    for _ in range(4):
        injector.next_call("pumpd", "account")
        _, fault = injector.next_call("pumpd", "menu_import")
        outcomes.append(fault.kind if fault else None)
    assert outcomes == [FaultKind.SERVER_ERROR, FaultKind.SERVER_ERROR, None, None]


def test_wildcards_match_any_service_or_operation() -> None:
    injector = FaultInjector(FaultPlan.from_dict({"rules": [{"kind": "timeout", "times": 3}]}))
    faults = [injector.next_call(service, "x")[1] for service in ("pumpd", "cdn", "companies", "cdn")]
    assert [f.kind if f else None for f in faults] == [FaultKind.TIMEOUT] * 3 + [None]


def _rate_pattern(seed: int, *, interleave: bool) -> list[bool]:
    plan = FaultPlan.from_dict({"rules": [{"service": "cdn", "kind": "server_error", "rate": 0.3}]})
    injector = FaultInjector(plan, seed=seed)
    pattern = []
    for _ in range(200):
        if interleave:
            injector.next_call("cdn", "other")
        pattern.append(injector.next_call("cdn", "upload")[1] is not None)
    return pattern


def test_rate_is_deterministic_for_a_seed_and_independent_of_other_calls() -> None:
    assert _rate_pattern(7, interleave=False) == _rate_pattern(7, interleave=False)
    assert _rate_pattern(7, interleave=False) == _rate_pattern(7, interleave=True)
    assert _rate_pattern(7, interleave=False) != _rate_pattern(8, interleave=False)


def test_rate_fails_about_that_share_of_calls() -> None:
    assert 40 <= sum(_rate_pattern(3, interleave=False)) <= 80


def test_ranged_latency_stays_in_range_and_varies() -> None:
    injector = FaultInjector(FaultPlan.from_dict({"latency_ms": [50, 250]}))
    latencies = [injector.next_call("pumpd", "account")[0] for _ in range(50)]
    assert all(0.05 <= latency <= 0.25 for latency in latencies)
    assert len(set(latencies)) > 40


def test_the_seed_in_the_plan_overrides_the_simulation_seed() -> None:
    plan = FaultPlan.from_dict({"seed": 5, "rules": [{"kind": "timeout", "rate": 0.5}]})
    a, b = FaultInjector(plan, seed=1), FaultInjector(plan, seed=2)
    assert [a.next_call("s", "o")[1] is None for _ in range(30)] == [
        b.next_call("s", "o")[1] is None for _ in range(30)
    ]


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("timeout", SimulatedTimeout),
        ("server_error", RetryableError),
        ("rate_limited", RetryableError),
        ("already_exists", AlreadyDoneError),
        ("validation_error", PermanentError),
    ],
)
async def test_a_simulation_waits_the_latency_then_raises_the_fault(
    kind: str, error: type[Exception]
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    plan = FaultPlan.from_dict({"latency_ms": 40, "rules": [{"kind": kind, "times": 1, "retry_after": 3}]})
    simulation = Simulation(faults=plan, sleep=sleep)
    effects: list[str] = []

    def effect() -> tuple[str, Any]:
        effects.append("done")
        return "result", "ok"

    with pytest.raises(error) as caught:
        await simulation.call("svc", "op", "k", effect, existing=lambda: {"id": "x"})
    assert effects == [], "a fault strikes before the effect"
    assert slept == [0.04]
    if kind == "rate_limited":
        assert isinstance(caught.value, RetryableError)
        assert caught.value.retry_after == 3
    if kind == "already_exists":
        assert isinstance(caught.value, AlreadyDoneError)
        assert caught.value.existing == {"id": "x"}
    assert await simulation.call("svc", "op", "k", effect) == "result"
    assert [c.outcome for c in simulation.calls] == [f"fault:{kind}", "ok"]


async def test_the_call_log_keeps_the_latest_calls() -> None:
    simulation = Simulation(call_log_limit=3)

    def effect() -> tuple[str, Any]:
        return "result", "ok"

    for key in "abcde":
        await simulation.call("svc", "op", key, effect)
    assert [c.idempotency_key for c in simulation.calls] == ["c", "d", "e"]
    simulation.restore(simulation.snapshot())
    assert [c.idempotency_key for c in simulation.calls] == ["c", "d", "e"]
    await simulation.call("svc", "op", "f", effect)
    assert [c.idempotency_key for c in simulation.calls] == ["d", "e", "f"], "still bounded after a restore"


async def test_the_simulated_pumpd_keeps_the_latest_answers_for_replay() -> None:
    pumpd = SimulatedPumpd(Simulation(), replies_kept=2)
    accounts = [
        {"email": f"owner{n}@example.com", "password": "secret-pass-1", "name": f"Owner {n}"}
        for n in range(3)
    ]
    first = [
        await pumpd.run("account", account, idempotency_key=f"k{n}") for n, account in enumerate(accounts)
    ]
    assert len(pumpd.state.replies) == 2
    # The two latest keys replay their answers...
    assert await pumpd.run("account", accounts[2], idempotency_key="k2") == first[2]
    assert await pumpd.run("account", accounts[1], idempotency_key="k1") == first[1]
    # ...and the oldest is new again: its account exists, so the call is already done.
    with pytest.raises(AlreadyDoneError) as caught:
        await pumpd.run("account", accounts[0], idempotency_key="k0")
    assert caught.value.existing == {"pumpd_user_id": first[0].ids["pumpd_user_id"]}
