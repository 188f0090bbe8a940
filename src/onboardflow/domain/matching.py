"""Matching companies-register candidates to a restaurant (SPEC §3, steps 2 and 3).

A candidate's score is ``0.85 * name similarity + 0.15 * address match``. The name carries most of
the weight because a company's registered address is often its accountant's office; an exact name on
its own reaches the default pre-selection threshold of 0.85, and a shared street address lifts a
near-miss name. Several companies at one address therefore score by their names.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from difflib import SequenceMatcher
from functools import lru_cache
from typing import TypeVar

NAME_WEIGHT = 0.85
ADDRESS_WEIGHT = 0.15
SAME_STREET_CREDIT = 0.3
"""Address credit for the same street with another (or no) number."""
SIMILAR_NAME = 0.6
"""Below this similarity the reason says the name differs."""

CandidateId = TypeVar("CandidateId")

_LEGAL_SUFFIXES = frozenset(
    {
        *("limited", "ltd", "nz", "new zealand", "co", "company", "and co", "and company"),
        *("inc", "incorporated", "llc", "pty", "plc"),
    }
)
_LEGAL_TAIL = re.compile(r"\b(limited|ltd)\.?\s*$", re.IGNORECASE)
_YEAR = re.compile(r"^(19|20)\d\d$")
_PARENTHESISED = re.compile(r"\(([^)]*)\)")
_STREET_WORDS = {
    "street": "st",
    "road": "rd",
    "avenue": "ave",
    "drive": "dr",
    "place": "pl",
    "lane": "ln",
    "terrace": "tce",
    "crescent": "cres",
    "boulevard": "blvd",
    "highway": "hwy",
    "parade": "pde",
    "square": "sq",
    "court": "ct",
}


def _fold(text: str) -> str:
    """Lower case without accents, ``&`` as ``and``, apostrophes dropped, other punctuation as spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char)).lower()
    plain = plain.replace("&", " and ").replace("'", "").replace("\u2019", "")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain).split())


@lru_cache(maxsize=4096)
def normalise_company_name(name: str) -> str:
    """A company name reduced to what distinguishes it: ``"The Joe's Pizza (2019) NZ Ltd."`` ->
    ``"joes pizza"``.

    Case, accents and punctuation are dropped; ``&`` reads ``and``; a leading ``the``, parenthesised
    years or legal words (``(2019)``, ``(NZ)``) and trailing legal suffixes (limited, ltd, nz, new
    zealand, co, company, inc, ...) and a trailing year are removed. Other parenthesised words stay.
    """

    def parenthesised(match: re.Match[str]) -> str:
        inner = _fold(match.group(1))
        if not inner or _YEAR.match(inner) or inner in _LEGAL_SUFFIXES:
            return " "
        return f" {inner} "

    tokens = _fold(_PARENTHESISED.sub(parenthesised, name)).split()
    while len(tokens) > 1 and tokens[0] == "the":
        tokens = tokens[1:]
    while len(tokens) > 1:
        if " ".join(tokens[-2:]) in _LEGAL_SUFFIXES:
            tokens = tokens[:-2]
        elif tokens[-1] in _LEGAL_SUFFIXES or _YEAR.match(tokens[-1]):
            tokens = tokens[:-1]
        else:
            break
    return " ".join(tokens)


def name_similarity(left: str, right: str) -> float:
    """Similarity 0..1 of two company names after normalisation: the better of a character-level
    ratio (``difflib``) and the same ratio over sorted words (so word order does not matter)."""
    return _similarity(normalise_company_name(left), normalise_company_name(right))


@lru_cache(maxsize=4096)  # a trading name and its legal-name guess normalise alike: scored once
def _similarity(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    in_order = _ratio(a, b)
    sorted_a, sorted_b = " ".join(sorted(a.split())), " ".join(sorted(b.split()))
    if (sorted_a, sorted_b) == (a, b):
        return in_order
    return max(in_order, _ratio(sorted_a, sorted_b))


def _ratio(a: str, b: str) -> float:
    # SequenceMatcher's ratio depends on argument order; take the better one so similarity is symmetric.
    return max(SequenceMatcher(None, a, b).ratio(), SequenceMatcher(None, b, a).ratio())


def normalise_street_address(address: str) -> str:
    """The street part of an address (before the first comma), folded, with street words abbreviated:
    ``"12 Queen Street, Auckland Central"`` -> ``"12 queen st"``."""
    street = address.split(",", 1)[0]
    return " ".join(_STREET_WORDS.get(word, word) for word in _fold(street).split())


def address_match(left: str, right: str) -> float:
    """1.0 for the same street address, ``SAME_STREET_CREDIT`` for the same street, else 0.0."""
    a, b = normalise_street_address(left), normalise_street_address(right)
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    street_a = [word for word in a.split() if not word[0].isdigit()]
    street_b = [word for word in b.split() if not word[0].isdigit()]
    return SAME_STREET_CREDIT if street_a and street_a == street_b else 0.0


def score_candidate(
    *,
    trading_name: str | None,
    legal_name_guess: str | None,
    street_address: str | None,
    candidate_name: str,
    candidate_address: str | None,
) -> tuple[float, tuple[str, ...]]:
    """Score one register candidate against the search terms: ``(score 0..1, reasons)``.

    The name similarity is the better of the trading name's and the legal-name guess's; the score is
    ``0.85 * name + 0.15 * address`` (see the module docstring), rounded to three decimals.
    """
    reasons: list[str] = []
    names = [name for name in (trading_name, legal_name_guess) if name and name.strip()]
    name_score = max((name_similarity(name, candidate_name) for name in names), default=0.0)
    if not names:
        reasons.append("no name to compare")
    elif name_score == 1.0:
        reasons.append("name matches exactly")
    elif name_score >= SIMILAR_NAME:
        reasons.append(f"name similar ({name_score:.2f})")
    else:
        reasons.append(f"name differs ({name_score:.2f})")

    address_score = 0.0
    if street_address and candidate_address:
        address_score = address_match(street_address, candidate_address)
        if address_score == 1.0:
            reasons.append("same street address")
        elif address_score > 0:
            reasons.append("same street, different number")
        else:
            reasons.append("different address")
    score = NAME_WEIGHT * name_score + ADDRESS_WEIGHT * address_score
    return round(min(1.0, max(0.0, score)), 3), tuple(reasons)


def legal_name_guess(trading_name: str) -> str:
    """A guess at the registered name behind a trading name: ``"Joe's Pizza"`` -> ``"Joe's Pizza Limited"``.

    Whitespace is collapsed; a name already ending in Limited or Ltd is returned as it is.
    """
    name = " ".join(trading_name.split()).rstrip(" .,;:-")
    if not name or _LEGAL_TAIL.search(name):
        return name
    return f"{name} Limited"


def preselect(
    scored: Sequence[tuple[CandidateId, float]], *, threshold: float = 0.85, margin: float = 0.15
) -> CandidateId | None:
    """The candidate to pre-select: the best one if it scores at least ``threshold`` and at least
    ``margin`` above the next best; otherwise ``None`` (the person chooses)."""
    if not scored:
        return None
    ranked = sorted(scored, key=lambda pair: pair[1], reverse=True)
    best_id, best = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else None
    tolerance = 1e-9  # scores are rounded floats: 1.0 - 0.85 must count as a margin of 0.15
    if best + tolerance < threshold:
        return None
    if runner_up is not None and best - runner_up + tolerance < margin:
        return None
    return best_id
