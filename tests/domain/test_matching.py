"""Matching companies-register candidates to a restaurant (SPEC §3, steps 2 and 3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onboardflow.domain.matching import (
    legal_name_guess,
    name_similarity,
    normalise_company_name,
    normalise_street_address,
    preselect,
    score_candidate,
)


@pytest.mark.parametrize(
    ("name", "normalised"),
    [
        ("Joe's Pizza", "joes pizza"),
        ("JOE'S PIZZA LIMITED", "joes pizza"),
        ("Joe\u2019s Pizza Ltd.", "joes pizza"),
        ("Joe's Pizza (2019) Limited", "joes pizza"),
        ("Joe's Pizza NZ Ltd", "joes pizza"),
        ("Joe's Pizza New Zealand Limited", "joes pizza"),
        ("The Joe's Pizza Company Limited", "joes pizza"),
        ("Joe's Pizza 2019 Limited", "joes pizza"),
        ("Café Ñandú & Co", "cafe nandu"),
        ("Fish & Chips Company", "fish and chips"),
        ("The The Band Ltd", "band"),
        ("Joe's Pizza (Ponsonby) Limited", "joes pizza ponsonby"),
        ("NZ Pizza Limited", "nz pizza"),
        ("Limited", "limited"),
        ("", ""),
    ],
)
def test_normalise_company_name_drops_case_punctuation_and_legal_suffixes(name: str, normalised: str) -> None:
    assert normalise_company_name(name) == normalised


def test_normalise_street_address_keeps_the_street_and_abbreviates() -> None:
    assert normalise_street_address("12 Queen Street, Auckland Central, Auckland 1010") == "12 queen st"
    assert normalise_street_address("12 QUEEN ST") == "12 queen st"


def test_exact_name_scores_high_with_an_exact_reason() -> None:
    score, reasons = score_candidate(
        trading_name="Joe's Pizza",
        legal_name_guess="Joe's Pizza Limited",
        street_address="12 Queen Street",
        candidate_name="JOE'S PIZZA LIMITED",
        candidate_address="12 Queen St, Auckland",
    )
    assert score == 1.0
    assert reasons == ("name matches exactly", "same street address")


def test_exact_name_at_another_address_still_reaches_the_threshold() -> None:
    score, reasons = score_candidate(
        trading_name="Joe's Pizza",
        legal_name_guess=None,
        street_address="12 Queen Street",
        candidate_name="Joe's Pizza Limited",
        candidate_address="1 Accountants Lane, Wellington",
    )
    assert score == 0.85
    assert reasons == ("name matches exactly", "different address")


def test_near_miss_name_is_similar_not_exact() -> None:
    score, reasons = score_candidate(
        trading_name="Joe's Pizza",
        legal_name_guess=None,
        street_address=None,
        candidate_name="Joe's Pizzeria Limited",
        candidate_address=None,
    )
    assert 0.5 < score < 0.85
    assert reasons[0].startswith("name similar (0.")


def test_legal_name_guess_counts_when_it_is_the_better_match() -> None:
    score, reasons = score_candidate(
        trading_name="Joe's",
        legal_name_guess="Giuseppe Holdings Limited",
        street_address=None,
        candidate_name="GIUSEPPE HOLDINGS LIMITED",
        candidate_address=None,
    )
    assert score == 0.85
    assert reasons == ("name matches exactly",)


def test_unrelated_company_at_the_same_address_scores_low() -> None:
    score, reasons = score_candidate(
        trading_name="Joe's Pizza",
        legal_name_guess=None,
        street_address="12 Queen Street",
        candidate_name="Harbour Accounting Services Limited",
        candidate_address="12 Queen Street",
    )
    assert score < 0.5
    assert reasons[0].startswith("name differs (")
    assert reasons[1] == "same street address"


def test_same_street_with_another_number_gets_partial_credit() -> None:
    same_street, reasons = score_candidate(
        trading_name="Joe's Pizza",
        legal_name_guess=None,
        street_address="12 Queen Street",
        candidate_name="Joe's Pizza Limited",
        candidate_address="40 Queen Street",
    )
    assert 0.85 < same_street < 1.0
    assert reasons[1] == "same street, different number"


def test_without_any_name_the_score_rests_on_the_address() -> None:
    score, reasons = score_candidate(
        trading_name=None,
        legal_name_guess="  ",
        street_address="12 Queen Street",
        candidate_name="Joe's Pizza Limited",
        candidate_address="12 Queen Street",
    )
    assert score == 0.15
    assert reasons == ("no name to compare", "same street address")


def test_several_companies_at_one_address_preselect_the_one_with_the_name() -> None:
    candidates = {
        "joes": ("JOE'S PIZZA LIMITED", "12 Queen Street"),
        "accountants": ("HARBOUR ACCOUNTING LIMITED", "12 Queen Street"),
        "landlord": ("QUEEN STREET PROPERTIES LIMITED", "12 Queen Street"),
    }
    scored = [
        (
            candidate_id,
            score_candidate(
                trading_name="Joe's Pizza",
                legal_name_guess=legal_name_guess("Joe's Pizza"),
                street_address="12 Queen Street",
                candidate_name=name,
                candidate_address=address,
            )[0],
        )
        for candidate_id, (name, address) in candidates.items()
    ]
    assert preselect(scored) == "joes"


def test_near_miss_names_side_by_side_preselect_nothing() -> None:
    scored = [
        (
            name,
            score_candidate(
                trading_name="Joe's Pizza",
                legal_name_guess=None,
                street_address="12 Queen Street",
                candidate_name=name,
                candidate_address="12 Queen Street",
            )[0],
        )
        for name in ("JOE'S PIZZA LIMITED", "JOE'S PIZZA (2019) LIMITED")
    ]
    assert scored[0][1] == scored[1][1] == 1.0
    assert preselect(scored) is None


@pytest.mark.parametrize(
    ("trading_name", "guess"),
    [
        ("Joe's Pizza", "Joe's Pizza Limited"),
        ("  Joe's   Pizza  ", "Joe's Pizza Limited"),
        ("Joe's Pizza Ltd", "Joe's Pizza Ltd"),
        ("JOE'S PIZZA LIMITED", "JOE'S PIZZA LIMITED"),
        ("Joe's Pizza.", "Joe's Pizza Limited"),
        ("", ""),
    ],
)
def test_legal_name_guess_appends_limited_once(trading_name: str, guess: str) -> None:
    assert legal_name_guess(trading_name) == guess


@pytest.mark.parametrize(
    ("scored", "expected"),
    [
        ([], None),
        ([("a", 0.9)], "a"),
        ([("a", 0.84)], None),
        ([("a", 0.85)], "a"),
        ([("a", 1.0), ("b", 0.85)], "a"),
        ([("b", 0.8), ("a", 0.95)], "a"),
        ([("a", 0.95), ("b", 0.81)], None),
        ([("a", 0.9), ("b", 0.9)], None),
    ],
)
def test_preselect_needs_the_threshold_and_the_margin(
    scored: list[tuple[str, float]], expected: str | None
) -> None:
    assert preselect(scored) == expected


def test_preselect_thresholds_are_adjustable() -> None:
    assert preselect([("a", 0.7), ("b", 0.2)], threshold=0.6, margin=0.5) == "a"
    assert preselect([("a", 0.7), ("b", 0.3)], threshold=0.6, margin=0.5) is None


names = st.text(alphabet=st.characters(codec="ascii", categories=["L", "N", "P", "Zs"]), max_size=30)


@given(left=names, right=names)
def test_name_similarity_is_symmetric_and_between_zero_and_one(left: str, right: str) -> None:
    similarity = name_similarity(left, right)
    assert 0.0 <= similarity <= 1.0
    assert similarity == pytest.approx(name_similarity(right, left))


@given(name=names, address=names)
def test_score_is_between_zero_and_one(name: str, address: str) -> None:
    score, reasons = score_candidate(
        trading_name=name,
        legal_name_guess=None,
        street_address=address,
        candidate_name="Joe's Pizza Limited",
        candidate_address="12 Queen Street",
    )
    assert 0.0 <= score <= 1.0
    assert reasons


@given(name=names)
def test_normalising_twice_changes_nothing_more(name: str) -> None:
    once = normalise_company_name(name)
    assert normalise_company_name(once) == once
