"""The companies register contract, run against every implementation: simulated and http (sandbox)."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from onboardflow.adapters.companies.protocol import CompaniesRegister, CompanyDetails, CompanySummary
from onboardflow.adapters.companies.simulated import has_clear_match, normalise_name, nzbn_check_digit
from onboardflow.adapters.hashing import stable_choice
from onboardflow.domain.matching import legal_name_guess, score_candidate
from onboardflow.errors import JobError, PermanentError, RetryableError
from tests.adapters.conftest import Factory, rule

CLEAR = "Joe's Pizza"
AMBIGUOUS = "Curry Palace"
ADDRESS = "12 Queen Street, Auckland Central, Auckland 1010"


def test_the_examples_used_here_fall_on_the_documented_sides_of_the_rule() -> None:
    assert has_clear_match(CLEAR)
    assert not has_clear_match(AMBIGUOUS)
    assert has_clear_match("joes pizza"), "the rule ignores spelling"
    assert has_clear_match("JOE'S PIZZA LIMITED"), "the rule ignores the legal suffix"


def test_about_one_name_in_five_has_no_clear_match() -> None:
    words = ["Golden", "Dragon", "Pizza", "Sushi", "Cafe", "Thai", "Curry", "Burger", "House", "Kitchen"]
    names = [f"{stable_choice(words, i, 'a')} {stable_choice(words, i, 'b')} {i}" for i in range(2000)]
    share = sum(not has_clear_match(name) for name in names) / len(names)
    assert 0.17 <= share <= 0.23


async def test_a_trading_name_finds_the_real_company_and_near_misses(
    make_companies: Factory[CompaniesRegister],
) -> None:
    register = (await make_companies(seed=1)).service
    found = await register.search_by_name(CLEAR)
    assert all(isinstance(company, CompanySummary) for company in found)
    names = [company.name for company in found]
    assert names[0] == "Joe's Pizza Limited"
    assert "Joes Pizza Holdings Limited" in names
    assert any(name.startswith("Joe's Pizzeria") for name in names)
    assert {company.status for company in found} == {"Registered", "Removed"}
    shared = Counter(company.registered_address for company in found).most_common(1)[0][1]
    assert shared >= 2, "several companies share one address"


async def test_a_legal_name_guess_finds_the_same_companies(
    make_companies: Factory[CompaniesRegister],
) -> None:
    register = (await make_companies()).service
    assert await register.search_by_name("Joe's Pizza Limited") == await register.search_by_name(CLEAR)


async def test_without_a_clear_match_two_equally_close_companies_are_found(
    make_companies: Factory[CompaniesRegister],
) -> None:
    register = (await make_companies()).service
    found = await register.search_by_name(AMBIGUOUS)
    names = [company.name for company in found]
    assert "Curry Palace Limited" not in names
    twins = [c for c in found if re.fullmatch(r"Curry Palace \(No\. \d\) Limited", c.name)]
    assert len(twins) == 2
    assert len({(c.status, c.registered_address, len(c.name)) for c in twins}) == 1


@pytest.mark.parametrize("seed", [0, 1, 2])
async def test_the_pipeline_scorer_sees_a_clear_match_exactly_when_the_rule_says_so(
    make_companies: Factory[CompaniesRegister], seed: int
) -> None:
    """With domain.matching's score and its pre-selection defaults (at least 0.85, 0.15 ahead)."""
    register = (await make_companies(seed=seed)).service
    names = ["Joe's Pizza", "Curry Palace", "Wellington Chinese Restaurant", "Sal's Authentic New York Pizza",
             "Big Fat Burger", "The Indian Kitchen", "KFC", "Mumbai Curry", "Best Ugly Bagels", "Bao Down",
             "Little Tokyo Sushi Bar", "Dumpling Queen", "Hell Pizza", "Cafe Hanoi", "Mexico"]  # fmt: skip
    for name in names:
        scores = sorted(
            (
                score_candidate(
                    trading_name=name,
                    legal_name_guess=legal_name_guess(name),
                    street_address=ADDRESS,
                    candidate_name=company.name,
                    candidate_address=company.registered_address,
                )[0]
                for company in await register.search_by_name(name)
            ),
            reverse=True,
        )
        clear = scores[0] >= 0.85 and scores[0] - scores[1] >= 0.15 - 1e-9
        assert clear == has_clear_match(name), name


async def test_register_numbers_are_valid_and_deterministic_for_a_seed(
    make_companies: Factory[CompaniesRegister],
) -> None:
    one = await (await make_companies(seed=5)).service.search_by_name(CLEAR)
    two = await (await make_companies(seed=5)).service.search_by_name(CLEAR)
    other = await (await make_companies(seed=6)).service.search_by_name(CLEAR)
    assert one == two
    assert [c.company_number for c in one] != [c.company_number for c in other]
    for company in one:
        assert re.fullmatch(r"\d{7}", company.company_number)
        assert re.fullmatch(r"9429\d{9}", company.nzbn)
        assert company.nzbn[-1] == nzbn_check_digit(company.nzbn[:12])


def test_the_nzbn_check_digit_is_gs1_mod_10() -> None:
    assert nzbn_check_digit("400638133393") == "1"  # the GS1 worked example, EAN-13 4006381333931


async def test_an_address_finds_several_companies_registered_there(
    make_companies: Factory[CompaniesRegister],
) -> None:
    register = (await make_companies()).service
    found = await register.search_by_address(ADDRESS)
    assert len(found) >= 3
    assert {company.registered_address for company in found} == {ADDRESS}
    assert any("Queen Street" in company.name for company in found)


async def test_companies_found_by_name_are_also_found_at_their_address(
    make_companies: Factory[CompaniesRegister],
) -> None:
    register = (await make_companies()).service
    holdings = next(c for c in await register.search_by_name(CLEAR) if "Holdings" in c.name)
    at_office = await register.search_by_address(holdings.registered_address)
    assert holdings.company_number in {c.company_number for c in at_office}


async def test_details_of_a_found_company(make_companies: Factory[CompaniesRegister]) -> None:
    register = (await make_companies()).service
    summary = (await register.search_by_name(CLEAR))[0]
    details = await register.get_company(summary.company_number)
    assert isinstance(details, CompanyDetails)
    assert (details.legal_name, details.nzbn, details.registered_address) == (
        summary.name,
        summary.nzbn,
        summary.registered_address,
    )
    assert details.directors
    assert all(d.appointed_on >= details.incorporated_on for d in details.directors)
    assert details.contact_email
    assert details.contact_email.endswith("@joespizza.co.nz")
    assert details.contact_phone
    assert details.contact_phone.startswith("+64 ")


@pytest.mark.parametrize("number", ["9999999", "not-a-number"])
async def test_an_unknown_company_number_is_permanent(
    make_companies: Factory[CompaniesRegister], number: str
) -> None:
    register = (await make_companies()).service
    with pytest.raises(PermanentError):
        await register.get_company(number)


async def test_a_blank_search_is_permanent(make_companies: Factory[CompaniesRegister]) -> None:
    register = (await make_companies()).service
    with pytest.raises(PermanentError):
        await register.search_by_name("  ")


@pytest.mark.parametrize(
    ("kind", "error"),
    [("server_error", RetryableError), ("rate_limited", RetryableError), ("timeout", RetryableError)],
)
async def test_injected_faults_become_typed_errors(
    make_companies: Factory[CompaniesRegister], kind: str, error: type[JobError]
) -> None:
    harness = await make_companies(rule("companies", "search_by_name", kind), timeout=1.0)
    with pytest.raises(error):
        await harness.service.search_by_name(CLEAR)
    assert await harness.service.search_by_name(CLEAR)


def test_names_normalise_without_suffix_case_or_punctuation() -> None:
    assert normalise_name("JOE'S  Pizza Ltd.") == normalise_name("joes pizza limited") == "joes pizza"
