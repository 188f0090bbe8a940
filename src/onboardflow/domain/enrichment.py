"""What the pipeline's steps 2 to 5 derive from what is known so far (SPEC §3), as pure functions:
the prefilled search terms, the scored candidates, the chosen company's record and contact, and the
prefilled Yolo Mode configuration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from onboardflow.domain.matching import legal_name_guess, preselect, score_candidate
from onboardflow.domain.yolo_config import merge_config

MATCHED_BY_NAME, MATCHED_BY_ADDRESS, MATCHED_BY_BOTH = "name", "address", "name+address"


def prefill_search_terms(restaurant: Mapping[str, Any]) -> dict[str, str | None]:
    """The company search terms offered for confirmation: the trading name, a legal-name guess and
    the street address (the part before the first comma) of the restaurant."""
    name = (restaurant.get("name") or "").strip()
    address = (restaurant.get("address") or "").strip()
    street = address.split(",", 1)[0].strip() if address else ""
    return {
        "trading_name": name or None,
        "legal_name": legal_name_guess(name) or None if name else None,
        "street_address": street or None,
    }


def rank_candidates(
    terms: Mapping[str, Any],
    by_name: Iterable[Mapping[str, Any]],
    by_address: Iterable[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Every company found by name or by address once, scored against ``terms`` (``score_candidate``)
    with its reasons and how it was found, best first (ties by name).

    Each hit is a mapping with ``company_number``, ``name``, ``registered_address`` (and whatever
    else the register returned, kept as ``raw``).
    """
    found: dict[str, dict[str, Any]] = {}
    for matched_by, hits in ((MATCHED_BY_NAME, by_name), (MATCHED_BY_ADDRESS, by_address)):
        for hit in hits:
            number = str(hit["company_number"])
            if number in found:
                if found[number]["matched_by"] != matched_by:
                    found[number]["matched_by"] = MATCHED_BY_BOTH
                continue
            score, reasons = score_candidate(
                trading_name=terms.get("trading_name"),
                legal_name_guess=terms.get("legal_name"),
                street_address=terms.get("street_address"),
                candidate_name=str(hit["name"]),
                candidate_address=hit.get("registered_address"),
            )
            found[number] = {
                "company_number": number,
                "nzbn": hit.get("nzbn"),
                "name": str(hit["name"]),
                "status": hit.get("status"),
                "registered_address": hit.get("registered_address"),
                "score": score,
                "match_reasons": list(reasons),
                "matched_by": matched_by,
                "raw": dict(hit),
            }
    return sorted(found.values(), key=candidate_order)


def candidate_order(candidate: Mapping[str, Any]) -> tuple[float, str, str]:
    """The order candidates are shown in: best score first, then by name, then by company number
    (the store reads them in the same order)."""
    return (-float(candidate["score"]), str(candidate["name"]), str(candidate["company_number"]))


def preselected_candidate(candidates: Sequence[Mapping[str, Any]]) -> Any | None:
    """The id of the candidate that is clearly the one (``matching.preselect`` over the candidates'
    ``id`` and ``score``), or ``None``."""
    return preselect([(c["id"], float(c["score"])) for c in candidates])


def company_record(details: Mapping[str, Any]) -> dict[str, Any]:
    """What the restaurant keeps about its company (from the register's full record)."""
    return {
        "legal_name": details.get("legal_name"),
        "company_number": details.get("company_number"),
        "nzbn": details.get("nzbn"),
        "status": details.get("status"),
        "incorporated_on": details.get("incorporated_on"),
        "registered_address": details.get("registered_address"),
        "directors": [dict(d) for d in details.get("directors") or []],
        "contact_email": details.get("contact_email"),
        "contact_phone": details.get("contact_phone"),
    }


def contact_fields(restaurant: Mapping[str, Any], company: Mapping[str, Any]) -> dict[str, Any]:
    """The restaurant's contact person, email and phone filled from the company: the first director
    and the company's email and phone, only where the restaurant has none yet."""
    directors = company.get("directors") or []
    filled = {
        "contact_name": directors[0].get("name") if directors else None,
        "contact_email": company.get("contact_email"),
        "contact_phone": company.get("contact_phone"),
    }
    return {key: value for key, value in filled.items() if value and not restaurant.get(key)}


def _drop_empty(value: Any) -> Any:
    if isinstance(value, Mapping):
        cleaned = {k: _drop_empty(v) for k, v in value.items() if v not in (None, "", {})}
        return {k: v for k, v in cleaned.items() if v not in (None, "", {})}
    return value


def prefill_yolo_config(
    restaurant: Mapping[str, Any], defaults: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The Yolo Mode configuration offered for approval: the organisation's saved ``defaults`` with
    what is known of this restaurant (its fields, branding, company contact) over them.

    Unknown values are left out rather than guessed, so that the answer (or the defaults) must
    supply them; the answer is merged over this and validated as a whole.
    """
    company = restaurant.get("company") or {}
    branding = restaurant.get("branding") or {}
    email = restaurant.get("email") or restaurant.get("contact_email") or company.get("contact_email")
    phone = restaurant.get("phone") or restaurant.get("contact_phone") or company.get("contact_phone")
    has_menu = bool((restaurant.get("menu") or {}).get("categories"))
    derived = _drop_empty(
        {
            "account": {"email": email, "phone": phone},
            "restaurant": {
                "name": restaurant.get("name"),
                "address": restaurant.get("address"),
                "city": restaurant.get("city"),
                "phone": phone,
                "email": email,
                "cuisine": restaurant.get("cuisine"),
            },
            "website": {
                "primary_colour": branding.get("primary_colour"),
                "secondary_colour": branding.get("secondary_colour"),
                "logo_url": branding.get("cdn_logo_url") or branding.get("logo_url"),
            },
        }
    )
    derived["menu"] = {"import_menu": has_menu, "source": "extracted" if has_menu else "none"}
    return merge_config(dict(defaults or {}), derived)
