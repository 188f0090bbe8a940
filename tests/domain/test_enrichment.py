"""What steps 2 to 5 derive: search terms, ranked candidates, pre-selection, contact and prefilled config."""

from __future__ import annotations

from onboardflow.domain.enrichment import (
    contact_fields,
    prefill_search_terms,
    prefill_yolo_config,
    preselected_candidate,
    rank_candidates,
)
from onboardflow.domain.yolo_config import merge_config, validate_yolo_config


def test_search_terms_are_the_name_a_legal_name_guess_and_the_street() -> None:
    terms = prefill_search_terms({"name": "Joe's Pizza", "address": "12 Queen Street, Auckland Central"})
    assert terms == {
        "trading_name": "Joe's Pizza",
        "legal_name": "Joe's Pizza Limited",
        "street_address": "12 Queen Street",
    }
    assert prefill_search_terms({"name": "X", "address": None})["street_address"] is None


def hit(number: str, name: str, address: str) -> dict[str, str]:
    return {"company_number": number, "name": name, "registered_address": address}


def test_candidates_found_twice_are_kept_once_scored_and_best_first() -> None:
    terms = {
        "trading_name": "Joe's Pizza",
        "legal_name": "Joe's Pizza Limited",
        "street_address": "12 Queen St",
    }
    ranked = rank_candidates(
        terms,
        [
            hit("1", "Joes Pizza Holdings Limited", "1 Other Rd"),
            hit("2", "Joe's Pizza Limited", "12 Queen Street"),
        ],
        [
            hit("2", "Joe's Pizza Limited", "12 Queen Street"),
            hit("3", "Queen Street Dental Limited", "12 Queen St"),
        ],
    )
    assert [c["company_number"] for c in ranked] == ["2", "1", "3"]
    assert ranked[0]["matched_by"] == "name+address"
    assert ranked[0]["score"] == 1.0
    assert "name matches exactly" in ranked[0]["match_reasons"]
    assert ranked[2]["matched_by"] == "address"


def test_a_clear_best_candidate_is_preselected_and_twins_are_not() -> None:
    assert preselected_candidate([{"id": "a", "score": 1.0}, {"id": "b", "score": 0.6}]) == "a"
    assert preselected_candidate([{"id": "a", "score": 0.95}, {"id": "b", "score": 0.94}]) is None
    assert preselected_candidate([]) is None


def test_contact_is_filled_from_the_company_only_where_empty() -> None:
    company = {
        "directors": [{"name": "Mei Chen"}],
        "contact_email": "mei@joes.co.nz",
        "contact_phone": "+64 21 1",
    }
    assert contact_fields({"contact_email": "own@x.nz"}, company) == {
        "contact_name": "Mei Chen",
        "contact_phone": "+64 21 1",
    }


def test_the_prefilled_config_with_a_password_is_a_valid_configuration() -> None:
    restaurant = {
        "name": "Joe's Pizza",
        "address": "12 Queen Street, Auckland",
        "city": "Auckland",
        "phone": "09 123 4567",
        "cuisine": "Pizza",
        "branding": {
            "primary_colour": "#112233",
            "secondary_colour": "#445566",
            "logo_url": "https://x.nz/l.png",
        },
        "company": {"contact_email": "mei@joes.co.nz"},
        "menu": {"categories": [{"name": "Pizza", "items": []}]},
    }
    defaults = {"services": {"dine_in": True}, "website": {"theme": "dark", "primary_colour": "#000000"}}
    prefilled = prefill_yolo_config(restaurant, defaults)
    assert prefilled["website"] == {
        "theme": "dark",
        "primary_colour": "#112233",
        "secondary_colour": "#445566",
        "logo_url": "https://x.nz/l.png",
    }
    assert prefilled["services"] == {"dine_in": True}
    assert prefilled["account"]["email"] == "mei@joes.co.nz"
    config = validate_yolo_config(merge_config(prefilled, {"account": {"password": "long-enough"}}))
    assert config.menu.import_menu


def test_unknown_values_are_left_out_not_guessed() -> None:
    prefilled = prefill_yolo_config({"name": "Nameless"})
    assert "email" not in prefilled["account"] if "account" in prefilled else True
    assert prefilled["menu"] == {"import_menu": False, "source": "none"}
