"""The 12-sub-step graph and its scheduler (SPEC §3.1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onboardflow.domain.statuses import FINAL_STEP, RegistrationStatus, StepStatus
from onboardflow.domain.substeps import (
    SUB_STEP_KEYS,
    SUB_STEPS,
    SchedulePlan,
    attempt_start,
    condition_holds,
    current_phase,
    downstream_of,
    outcome_of,
    plan_next,
    reset_for_retry,
    sub_step_by_key,
)
from onboardflow.domain.yolo_config import validate_yolo_config
from onboardflow.errors import InvalidInput

S = StepStatus
ALL_ON: dict[str, Any] = {
    "onboarding": {"create_user": True, "sync": True},
    "menu": {"import_menu": True},
    "option_sets": {"enabled": True},
    "item_tags": {"enabled": True},
}
SPECS = {spec.key: spec for spec in SUB_STEPS}


def config_with(**switches: bool) -> dict[str, Any]:
    """ALL_ON with some switches changed, named like ``onboarding__create_user``."""
    config: dict[str, Any] = {section: dict(fields) for section, fields in ALL_ON.items()}
    for name, value in switches.items():
        section, field = name.split("__")
        config[section][field] = value
    return config


configs = st.builds(
    config_with,
    onboarding__create_user=st.booleans(),
    onboarding__sync=st.booleans(),
    menu__import_menu=st.booleans(),
    option_sets__enabled=st.booleans(),
    item_tags__enabled=st.booleans(),
)
status_maps = st.fixed_dictionaries({key: st.sampled_from(list(StepStatus)) for key in SUB_STEP_KEYS})


def effective_predecessors(key: str, statuses: Mapping[str, StepStatus]) -> set[str]:
    """What ``key`` really waits for: a skipped ordering-only predecessor stands for its own predecessors."""
    spec = SPECS[key]
    found: set[str] = set()
    for predecessor in spec.after:
        if predecessor in spec.optional_after and statuses[predecessor] is S.SKIPPED:
            found |= effective_predecessors(predecessor, statuses)
        else:
            found.add(predecessor)
    return found


def assert_plan_is_sound(
    plan: SchedulePlan, statuses: Mapping[str, StepStatus], config: Mapping[str, Any]
) -> None:
    skipped = [key for key, _ in plan.skip]
    assert len(set(skipped)) == len(skipped)
    assert not set(plan.start) & set(skipped)
    for key in (*plan.start, *skipped):
        assert statuses[key] is S.PENDING, f"{key} is {statuses[key]}, not pending"
    # What the plan skips counts as skipped already: a sub-step whose ordering-only predecessor is
    # skipped in the same plan may start once that predecessor's own predecessors completed.
    projected = {**statuses, **dict.fromkeys(skipped, S.SKIPPED)}
    for key in plan.start:
        assert condition_holds(SPECS[key].condition, config)
        for predecessor in effective_predecessors(key, projected):
            assert statuses[predecessor] is S.COMPLETED, f"{key} started before {predecessor} completed"
    if plan.start:
        assert plan.outcome is None


def simulate(
    config: Mapping[str, Any],
    fate: Any,
    statuses: Mapping[str, StepStatus] | None = None,
) -> tuple[dict[str, StepStatus], dict[str, str], RegistrationStatus]:
    """Run plans to the end; ``fate(running_keys)`` returns {key: final status} for at least one key."""
    current = dict(statuses or dict.fromkeys(SUB_STEP_KEYS, S.PENDING))
    reasons: dict[str, str] = {}
    for _ in range(2 * len(SUB_STEP_KEYS) + 2):
        plan = plan_next(current, config)
        assert_plan_is_sound(plan, current, config)
        for key, reason in plan.skip:
            current[key] = S.SKIPPED
            reasons[key] = reason
        for key in plan.start:
            current[key] = S.IN_PROGRESS
        if plan.outcome is not None:
            assert all(status in FINAL_STEP for status in current.values())
            return current, reasons, plan.outcome
        running = [key for key, status in current.items() if status is S.IN_PROGRESS]
        assert running, "no outcome, yet nothing runs: the plan is stuck"
        finished = fate(running)
        assert finished
        current.update(finished)
    raise AssertionError("the plans never reached an outcome")


def everything_succeeds(running: list[str]) -> dict[str, StepStatus]:
    return dict.fromkeys(running, S.COMPLETED)


def failing(*keys: str) -> Any:
    def fate(running: list[str]) -> dict[str, StepStatus]:
        return {key: S.FAILED if key in keys else S.COMPLETED for key in running}

    return fate


# -- the graph as data -------------------------------------------------------------------------------


def test_sub_steps_are_the_twelve_of_the_spec_in_display_order() -> None:
    assert SUB_STEP_KEYS == (
        "account",
        "code_generation",
        "onboarding_user",
        "image_upload",
        "restaurant_registration",
        "website_config",
        "services_config",
        "payment_config",
        "menu_import",
        "onboarding_sync",
        "option_sets",
        "item_tags",
    )


def test_dependencies_and_phases_are_exactly_the_spec_table() -> None:
    table = {spec.key: (spec.phase, set(spec.after)) for spec in SUB_STEPS}
    assert table == {
        "account": (1, set()),
        "code_generation": (1, set()),
        "onboarding_user": (1, set()),
        "image_upload": (1, set()),
        "restaurant_registration": (2, {"account"}),
        "website_config": (2, {"restaurant_registration", "code_generation", "image_upload"}),
        "services_config": (2, {"restaurant_registration"}),
        "payment_config": (2, {"restaurant_registration"}),
        "menu_import": (2, {"restaurant_registration", "image_upload"}),
        "onboarding_sync": (2, {"onboarding_user", "restaurant_registration"}),
        "option_sets": (3, {"menu_import"}),
        "item_tags": (4, {"option_sets"}),
    }


def test_display_order_is_a_topological_order() -> None:
    seen: set[str] = set()
    for spec in SUB_STEPS:
        assert set(spec.after) <= seen, spec.key
        seen.add(spec.key)


def test_conditions_name_the_configuration_switches() -> None:
    conditions = {spec.key: spec.condition for spec in SUB_STEPS if spec.condition}
    assert conditions == {
        "onboarding_user": "onboarding.create_user",
        "onboarding_sync": "onboarding.sync",
        "menu_import": "menu.import_menu",
        "option_sets": "option_sets.enabled",
        "item_tags": "item_tags.enabled",
    }


def test_blocking_sub_steps_are_account_registration_and_menu_import() -> None:
    assert {spec.key for spec in SUB_STEPS if spec.blocking} == {
        "account",
        "restaurant_registration",
        "menu_import",
    }


def test_downstream_of_account_is_everything_behind_the_restaurant() -> None:
    assert downstream_of("account") == {
        "restaurant_registration",
        "website_config",
        "services_config",
        "payment_config",
        "menu_import",
        "onboarding_sync",
        "option_sets",
        "item_tags",
    }


def test_downstream_of_is_transitive_and_excludes_the_key_itself() -> None:
    assert downstream_of("image_upload") == {"website_config", "menu_import", "option_sets", "item_tags"}
    assert downstream_of("item_tags") == frozenset()
    assert "menu_import" not in downstream_of("menu_import")


def test_unknown_sub_step_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as caught:
        downstream_of("coffee")
    assert caught.value.field == "sub_step"
    with pytest.raises(InvalidInput):
        sub_step_by_key("coffee")


@pytest.mark.parametrize(
    ("condition", "config", "expected"),
    [
        (None, {}, True),
        ("onboarding.create_user", {"onboarding": {"create_user": True}}, True),
        ("onboarding.create_user", {"onboarding": {"create_user": False}}, False),
        ("onboarding.create_user", {"onboarding": {}}, False),
        ("onboarding.create_user", {}, False),
        ("onboarding.create_user", {"onboarding": None}, False),
    ],
)
def test_condition_holds_only_for_a_truthy_field(
    condition: str | None, config: dict[str, Any], expected: bool
) -> None:
    assert condition_holds(condition, config) is expected


# -- plans: examples -----------------------------------------------------------------------------------


def test_first_plan_starts_the_independent_phase_one_sub_steps() -> None:
    plan = plan_next({}, ALL_ON)
    assert plan == SchedulePlan(start=("account", "code_generation", "onboarding_user", "image_upload"))


def test_sub_step_starts_only_when_all_its_predecessors_completed() -> None:
    statuses = dict.fromkeys(SUB_STEP_KEYS, S.PENDING) | {
        "account": S.COMPLETED,
        "code_generation": S.COMPLETED,
        "onboarding_user": S.COMPLETED,
        "image_upload": S.IN_PROGRESS,
        "restaurant_registration": S.COMPLETED,
    }
    plan = plan_next(statuses, ALL_ON)
    assert set(plan.start) == {"services_config", "payment_config", "onboarding_sync"}
    assert plan.skip == ()


def test_switched_off_onboarding_user_skips_itself_and_its_sync_with_the_condition() -> None:
    plan = plan_next({}, config_with(onboarding__create_user=False))
    assert dict(plan.skip) == {
        "onboarding_user": "condition not met: onboarding.create_user is off",
        "onboarding_sync": "condition not met: onboarding.create_user is off",
    }


def test_switched_off_sync_is_skipped_for_its_own_condition() -> None:
    plan = plan_next({}, config_with(onboarding__sync=False))
    assert dict(plan.skip) == {"onboarding_sync": "condition not met: onboarding.sync is off"}
    assert "onboarding_user" in plan.start


def test_item_tags_run_without_option_sets_once_the_menu_is_imported() -> None:
    config = config_with(option_sets__enabled=False)
    before_menu = dict.fromkeys(SUB_STEP_KEYS, S.COMPLETED) | {
        "menu_import": S.IN_PROGRESS,
        "option_sets": S.PENDING,
        "item_tags": S.PENDING,
    }
    plan = plan_next(before_menu, config)
    assert dict(plan.skip) == {"option_sets": "condition not met: option_sets.enabled is off"}
    assert plan.start == ()

    after_menu = before_menu | {"menu_import": S.COMPLETED, "option_sets": S.SKIPPED}
    assert plan_next(after_menu, config).start == ("item_tags",)


def test_no_menu_import_skips_option_sets_and_item_tags_with_the_menu_reason() -> None:
    plan = plan_next({}, config_with(menu__import_menu=False))
    assert dict(plan.skip) == {
        "menu_import": "condition not met: menu.import_menu is off",
        "option_sets": "condition not met: menu.import_menu is off",
        "item_tags": "condition not met: menu.import_menu is off",
    }


def test_failed_menu_import_blocks_item_tags_even_without_option_sets() -> None:
    statuses = dict.fromkeys(SUB_STEP_KEYS, S.COMPLETED) | {
        "menu_import": S.FAILED,
        "option_sets": S.SKIPPED,
        "item_tags": S.PENDING,
    }
    plan = plan_next(statuses, config_with(option_sets__enabled=False))
    assert plan.skip == (("item_tags", "blocked by menu_import"),)
    assert plan.outcome is RegistrationStatus.FAILED


def test_failure_skips_everything_downstream_as_blocked_by_the_failed_key() -> None:
    plan = plan_next({"account": S.FAILED}, ALL_ON)
    assert dict(plan.skip) == dict.fromkeys(downstream_of("account"), "blocked by account")
    assert set(plan.start) == {"code_generation", "onboarding_user", "image_upload"}
    assert plan.outcome is None


def test_blocked_reason_names_the_failed_sub_step_not_the_skipped_one_between() -> None:
    statuses = {
        "account": S.COMPLETED,
        "restaurant_registration": S.COMPLETED,
        "image_upload": S.FAILED,
        "menu_import": S.SKIPPED,
    }
    plan = plan_next(statuses, ALL_ON)
    assert dict(plan.skip)["option_sets"] == "blocked by image_upload"
    assert dict(plan.skip)["item_tags"] == "blocked by image_upload"


def test_switched_off_sub_step_reads_as_off_rather_than_blocked() -> None:
    plan = plan_next({"menu_import": S.FAILED}, config_with(item_tags__enabled=False))
    reasons = dict(plan.skip)
    assert reasons["option_sets"] == "blocked by menu_import"
    assert reasons["item_tags"] == "condition not met: item_tags.enabled is off"


def test_sub_step_needing_a_switched_off_one_reads_as_off_even_after_a_failure() -> None:
    plan = plan_next({"account": S.FAILED}, config_with(onboarding__create_user=False))
    assert dict(plan.skip)["onboarding_sync"] == "condition not met: onboarding.create_user is off"
    assert dict(plan.skip)["payment_config"] == "blocked by account"


def test_sub_step_needing_an_operator_skipped_one_is_skipped_too() -> None:
    statuses = dict.fromkeys(SUB_STEP_KEYS, S.COMPLETED) | {
        "menu_import": S.SKIPPED,
        "option_sets": S.PENDING,
        "item_tags": S.PENDING,
    }
    plan = plan_next(statuses, ALL_ON)
    assert plan.skip == (
        ("option_sets", "needs menu_import, which was skipped"),
        ("item_tags", "needs menu_import, which was skipped"),
    )


def test_outcome_waits_for_independent_sub_steps_after_a_failure() -> None:
    statuses = dict.fromkeys(SUB_STEP_KEYS, S.SKIPPED) | {"account": S.FAILED, "image_upload": S.IN_PROGRESS}
    assert plan_next(statuses, ALL_ON).outcome is None
    assert plan_next(statuses | {"image_upload": S.COMPLETED}, ALL_ON).outcome is RegistrationStatus.FAILED


def test_outcome_is_completed_when_all_completed_or_skipped() -> None:
    statuses = dict.fromkeys(SUB_STEP_KEYS, S.COMPLETED) | {"onboarding_sync": S.SKIPPED}
    assert plan_next(statuses, ALL_ON) == SchedulePlan(outcome=RegistrationStatus.COMPLETED)


def test_outcome_is_cancelled_when_cancelled_without_failures() -> None:
    statuses = dict.fromkeys(SUB_STEP_KEYS, S.COMPLETED) | {"item_tags": S.CANCELLED}
    assert outcome_of(statuses) is RegistrationStatus.CANCELLED
    assert outcome_of(statuses | {"account": S.FAILED}) is RegistrationStatus.FAILED


def test_statuses_may_be_plain_strings_and_missing_keys_count_as_pending() -> None:
    assert plan_next({"account": "completed"}, ALL_ON).start == (
        "code_generation",
        "onboarding_user",
        "image_upload",
        "restaurant_registration",
    )


def test_plan_accepts_a_validated_configuration_model(valid_config: dict[str, Any]) -> None:
    config = validate_yolo_config(valid_config | {"onboarding": {"create_user": False}})
    assert "onboarding_user" in dict(plan_next({}, config).skip)
    config = validate_yolo_config(
        valid_config | {"onboarding": {"create_user": True, "user_email": "a@b.co"}}
    )
    assert "onboarding_user" in plan_next({}, config).start


# -- plans: properties ---------------------------------------------------------------------------------


@given(statuses=status_maps, config=configs)
def test_plan_never_starts_a_sub_step_before_its_predecessors_completed(
    statuses: dict[str, StepStatus], config: dict[str, Any]
) -> None:
    assert_plan_is_sound(plan_next(statuses, config), statuses, config)


@given(statuses=status_maps, config=configs)
def test_outcome_is_reported_only_when_nothing_can_run_any_more(
    statuses: dict[str, StepStatus], config: dict[str, Any]
) -> None:
    plan = plan_next(statuses, config)
    after = statuses | dict.fromkeys((key for key, _ in plan.skip), S.SKIPPED)
    if plan.outcome is None:
        assert plan.start or any(status not in FINAL_STEP for status in after.values())
    else:
        assert all(status in FINAL_STEP for status in after.values())
        assert (plan.outcome is RegistrationStatus.FAILED) == (S.FAILED in after.values())


@settings(deadline=None)
@given(config=configs, data=st.data())
def test_applying_plans_with_random_results_always_ends_in_an_outcome(
    config: dict[str, Any], data: Any
) -> None:
    def fate(running: list[str]) -> dict[str, StepStatus]:
        finished = data.draw(st.lists(st.sampled_from(running), min_size=1, unique=True))
        return {key: data.draw(st.sampled_from([S.COMPLETED, S.FAILED])) for key in finished}

    final, _, outcome = simulate(config, fate)
    assert (outcome is RegistrationStatus.FAILED) == (S.FAILED in final.values())
    assert outcome in (RegistrationStatus.COMPLETED, RegistrationStatus.FAILED)


@settings(deadline=None)
@given(config=configs, failed=st.sampled_from(SUB_STEP_KEYS))
def test_a_failure_affects_exactly_the_failed_sub_step_and_what_runs_after_it(
    config: dict[str, Any], failed: str
) -> None:
    clean, _, clean_outcome = simulate(config, everything_succeeds)
    assert clean_outcome is RegistrationStatus.COMPLETED
    final, reasons, outcome = simulate(config, failing(failed))

    for key in SUB_STEP_KEYS:
        if key != failed and key not in downstream_of(failed):
            assert final[key] == clean[key], f"{key} changed because {failed} failed"
    if clean[failed] is S.COMPLETED:
        assert outcome is RegistrationStatus.FAILED
        for key in downstream_of(failed):
            if clean[key] is S.COMPLETED:
                assert final[key] is S.SKIPPED
                assert reasons[key] == f"blocked by {failed}"
    else:
        assert final == clean  # it never ran, so it could not fail


@settings(deadline=None)
@given(config=configs, failed=st.sampled_from(SUB_STEP_KEYS))
def test_retry_after_a_failure_reruns_only_the_failure_and_what_it_blocked(
    config: dict[str, Any], failed: str
) -> None:
    first, _, _ = simulate(config, failing(failed))
    reset = reset_for_retry(first)
    for key in reset:
        assert key == failed or key in downstream_of(failed)
    kept_completed = {key for key, status in first.items() if status is S.COMPLETED}
    assert not reset & kept_completed

    ran_again: list[str] = []

    def succeed_and_record(running: list[str]) -> dict[str, StepStatus]:
        ran_again.extend(running)
        return everything_succeeds(running)

    retried = first | dict.fromkeys(reset, S.PENDING)
    final, _, outcome = simulate(config, succeed_and_record, retried)
    assert outcome is RegistrationStatus.COMPLETED
    assert not set(ran_again) & kept_completed
    assert final == simulate(config, everything_succeeds)[0]


# -- retry and phase -----------------------------------------------------------------------------------


def test_reset_without_from_step_takes_failed_and_cancelled_and_what_they_blocked() -> None:
    statuses = dict.fromkeys(SUB_STEP_KEYS, S.COMPLETED) | {
        "payment_config": S.FAILED,
        "menu_import": S.CANCELLED,
        "option_sets": S.SKIPPED,
        "item_tags": S.SKIPPED,
    }
    assert reset_for_retry(statuses) == {"payment_config", "menu_import", "option_sets", "item_tags"}


def test_reset_from_step_takes_that_step_and_everything_downstream_even_if_completed() -> None:
    statuses = dict.fromkeys(SUB_STEP_KEYS, S.COMPLETED)
    assert reset_for_retry(statuses, "menu_import") == {"menu_import", "option_sets", "item_tags"}


def test_reset_leaves_out_sub_steps_that_are_already_pending() -> None:
    statuses = dict.fromkeys(SUB_STEP_KEYS, S.PENDING) | {"account": S.FAILED}
    assert reset_for_retry(statuses) == {"account"}


def test_reset_of_a_clean_run_without_from_step_resets_nothing() -> None:
    assert reset_for_retry(dict.fromkeys(SUB_STEP_KEYS, S.COMPLETED)) == frozenset()


def test_reset_from_an_unknown_step_names_the_from_step_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        reset_for_retry({}, "coffee")
    assert caught.value.field == "from_step"


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ({}, "phase1"),
        (dict.fromkeys(SUB_STEP_KEYS[:4], S.COMPLETED), "phase2"),
        (dict.fromkeys(SUB_STEP_KEYS[:10], S.COMPLETED), "phase3"),
        (dict.fromkeys(SUB_STEP_KEYS[:11], S.COMPLETED), "phase4"),
        (dict.fromkeys(SUB_STEP_KEYS[:4], S.COMPLETED) | {"image_upload": S.RETRYING}, "phase1"),
        (dict.fromkeys(SUB_STEP_KEYS, S.SKIPPED), None),
    ],
)
def test_current_phase_is_the_lowest_phase_with_unfinished_work(
    statuses: dict[str, StepStatus], expected: str | None
) -> None:
    assert current_phase(statuses) == expected


R = RegistrationStatus


@pytest.mark.parametrize(
    ("step_status", "run_status", "holds", "expected"),
    [
        (S.PENDING, R.IN_PROGRESS, True, "begin"),
        (S.RETRYING, R.IN_PROGRESS, True, "begin"),
        (S.IN_PROGRESS, R.IN_PROGRESS, True, "begin"),  # an interrupted attempt runs again
        (S.PENDING, R.PENDING, True, "begin"),
        (S.PENDING, R.IN_PROGRESS, False, "superseded"),
        (S.IN_PROGRESS, R.IN_PROGRESS, False, "superseded"),
        (S.FAILED, R.FAILED, True, "reopen"),
        (S.FAILED, R.FAILED, False, "reopen"),  # the failed job retried by hand from the dashboard
        (S.FAILED, R.IN_PROGRESS, True, "nothing to do"),
        (S.COMPLETED, R.IN_PROGRESS, True, "nothing to do"),
        (S.SKIPPED, R.IN_PROGRESS, True, "nothing to do"),
        (S.PENDING, R.CANCELLED, True, "nothing to do"),
        (S.PENDING, R.COMPLETED, True, "nothing to do"),
    ],
)
def test_attempt_start_says_whether_a_sub_step_job_may_begin_its_attempt(
    step_status: StepStatus, run_status: RegistrationStatus, holds: bool, expected: str
) -> None:
    assert attempt_start(step_status=step_status, run_status=run_status, holds_the_step=holds) == expected
