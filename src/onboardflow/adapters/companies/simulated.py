"""A simulated New Zealand companies register, generated on demand and deterministic for a seed.

``search_by_name("Joe's Pizza")`` (or the legal-name guess ``"Joe's Pizza Limited"``) finds:

- when ``has_clear_match`` holds (about four names in five): the real company ``Joe's Pizza Limited``
  and near misses ``Joes Pizza Holdings Limited``, ``Joe's Pizzeria & Bar (2019) Limited`` and a
  removed ``Joes Pizza Trading (2009) Limited``;
- otherwise (about one name in five) no clear match: two equally close companies, ``Joe's Pizza
  (No. 1) Limited`` and ``Joe's Pizza (No. 2) Limited`` (names differing in one digit, same status and
  address), plus the same near misses, so a person must choose.

"Clear" is meant in the pipeline's terms (``domain.matching``): every near miss has a name similarity
of at most ``NEAR_MISS_SIMILARITY`` to the searched name, so the real company (similarity 1) leads by
a wide margin; a near miss that would come closer (long names gain little from one extra word) is
built from the name's initials instead (``WCR Holdings Limited`` for Wellington Chinese Restaurant).

The near misses share their accountant's registered office, so several companies have one address.
``search_by_address`` finds the companies generated for that address (a landlord, neighbours, a
removed former tenant) plus any already found at it. ``get_company`` knows the companies this
register has returned since it started (the register lives in memory; numbers do not survive a
restart, but a repeated search returns the same numbers) and raises ``PermanentError`` otherwise.
"""

from __future__ import annotations

import re
import string
from dataclasses import replace
from datetime import date, timedelta
from typing import Final

from onboardflow.adapters.companies.protocol import CompanyDetails, CompanySummary, Director
from onboardflow.adapters.hashing import stable_choice, stable_int, stable_sample
from onboardflow.adapters.simulation import Effect, Simulation
from onboardflow.domain.matching import name_similarity
from onboardflow.errors import PermanentError

NEAR_MISS_SIMILARITY: Final = 0.8
"""The highest name similarity a near miss may have to the searched name."""
NO_CLEAR_MATCH_MODULUS: Final = 5
"""``has_clear_match`` is false when the name's hash is divisible by this: about 20 % of names."""

_SUFFIX = re.compile(r"\s*\b(limited|ltd\.?)\s*$", re.IGNORECASE)
# fmt: off
_FIRST = ("Aroha", "James", "Mei", "Rajesh", "Sione", "Olivia", "Wiremu", "Priya", "Tom", "Hannah", "Jun",
          "Carlos", "Aisha", "Liam", "Ngaio", "Sofia", "Daniel", "Anh", "Marco", "Grace")
_LAST = ("Smith", "Ngata", "Chen", "Patel", "Tuilagi", "Williams", "Kaur", "Nguyen", "Rossi", "Brown",
         "Wilson", "Singh", "Lee", "Taylor", "Parata", "Kim", "Martin", "Walker", "Hohaia", "Garcia")
# fmt: on
_PLACES = (
    ("Auckland Central", "Auckland", "1010", ("Queen Street", "Victoria Street West", "Wellesley Street")),
    ("Ponsonby", "Auckland", "1011", ("Ponsonby Road", "Jervois Road", "Richmond Road")),
    ("Mount Eden", "Auckland", "1024", ("Dominion Road", "Mount Eden Road", "Valley Road")),
    ("Te Aro", "Wellington", "6011", ("Cuba Street", "Courtenay Place", "Willis Street")),
    ("Christchurch Central", "Christchurch", "8011", ("Colombo Street", "Victoria Street", "High Street")),
    ("Hamilton Central", "Hamilton", "3204", ("Victoria Street", "Hood Street", "Collingwood Street")),
    ("Dunedin Central", "Dunedin", "9016", ("George Street", "Princes Street", "Stuart Street")),
    ("Tauranga", "Tauranga", "3110", ("Devonport Road", "The Strand", "Cameron Road")),
)
_ACCOUNTANTS = (
    "Level 2, 15 Customs Street West, Auckland Central, Auckland 1010",
    "Suite 4, 120 Featherston Street, Wellington Central, Wellington 6011",
    "Level 1, 9 Show Place, Addington, Christchurch 8024",
    "12 Ward Street, Hamilton Central, Hamilton 3204",
)
_VARIANTS = {"pizza": "Pizzeria & Bar", "cafe": "Café & Bakery", "kitchen": "Kitchen & Bar",
             "bar": "Bar & Grill", "sushi": "Sushi & Ramen Bar", "burger": "Burger Joint",
             "burgers": "Burger Joint", "bakery": "Bakehouse & Café", "thai": "Thai Street Food",
             "curry": "Curry House", "grill": "Grill & Smokehouse"}  # fmt: skip
_LANDLORD = "{street} Property Holdings Limited"
_NEIGHBOURS = (
    "{word} Dental Limited",
    "{place} Accounting Services Limited",
    "{word} Physiotherapy Limited",
    "{word} Barbers Limited",
)
REGISTERED, REMOVED = "Registered", "Removed"


def normalise_name(name: str) -> str:
    """A company or trading name without its legal suffix, case, apostrophes or punctuation."""
    stripped = _SUFFIX.sub("", name.strip()).lower().replace("'", "").replace("\u2019", "")
    return " ".join(re.sub(r"[^a-z0-9&]+", " ", stripped).split())


def has_clear_match(trading_name: str) -> bool:
    """Whether the simulated register holds one clear match for ``trading_name``.

    False for about one name in five: exactly those whose ``normalise_name`` hashes (SHA-256, first 8
    bytes, ``hashing.stable_int("company-match", name)``) to a multiple of 5. It depends on the name
    only (not the seed), so ``"Joe's Pizza"``, ``"joes pizza"`` and ``"Joe's Pizza Limited"`` agree.
    """
    return stable_int("company-match", normalise_name(trading_name)) % NO_CLEAR_MATCH_MODULUS != 0


def nzbn_check_digit(first_twelve: str) -> str:
    """The GS1 mod-10 check digit that completes a 13-digit NZBN."""
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(first_twelve))
    return str((10 - total % 10) % 10)


class SimulatedCompanies:
    """The simulated register; shares a ``Simulation`` with the other services."""

    service = "companies"

    def __init__(self, simulation: Simulation) -> None:
        self._sim = simulation
        self._companies: dict[str, CompanyDetails] = {}
        self._at_address: dict[str, dict[str, CompanyDetails]] = {}
        """The companies returned so far by the key of their registered address, by number."""

    def reset(self) -> None:
        """Forget every company returned so far."""
        self._companies.clear()
        self._at_address.clear()

    async def search_by_name(self, name: str, *, idempotency_key: str | None = None) -> list[CompanySummary]:
        """Companies resembling ``name`` (see the module docstring)."""

        def effect() -> tuple[list[CompanySummary], Effect]:
            return [self._summary(company) for company in self._generate_for_name(name)], "ok"

        return await self._sim.call(self.service, "search_by_name", idempotency_key, effect)

    async def search_by_address(
        self, address: str, *, idempotency_key: str | None = None
    ) -> list[CompanySummary]:
        """Companies registered at ``address``."""

        def effect() -> tuple[list[CompanySummary], Effect]:
            generated = self._generate_for_address(address)
            wanted = _address_key(address)
            known = list(self._at_address.get(wanted, {}).values())
            found = {company.company_number: company for company in [*generated, *known]}
            return sorted((self._summary(c) for c in found.values()), key=lambda s: s.name), "ok"

        return await self._sim.call(self.service, "search_by_address", idempotency_key, effect)

    async def get_company(self, company_number: str, *, idempotency_key: str | None = None) -> CompanyDetails:
        """The details of a company this register has returned."""

        def effect() -> tuple[CompanyDetails, Effect]:
            found = self._companies.get(company_number.strip())
            if found is None:
                raise PermanentError(
                    f"companies: no company numbered {company_number!r}",
                    details={"company_number": company_number},
                )
            return found, "ok"

        return await self._sim.call(self.service, "get_company", idempotency_key, effect)

    def _generate_for_name(self, query: str) -> list[CompanyDetails]:
        key = normalise_name(query)
        if len(key.replace(" ", "")) < 2:
            raise PermanentError("companies: the name to search for is too short", details={"name": query})
        base = _display(query)
        plain = base.replace("'", "").replace("\u2019", "")
        seed = self._sim.seed
        office = stable_choice(_ACCOUNTANTS, seed, "office", key)
        year = 2012 + stable_int(seed, "year", key) % 12
        companies = []
        if has_clear_match(query):
            companies.append(
                self._company(f"{base} Limited", status=REGISTERED, address=_street_address(seed, key))
            )
        else:
            # Twins differ in one digit and share an address, so no name or address metric separates them.
            for number in (1, 2):
                companies.append(
                    self._company(f"{base} (No. {number}) Limited", status=REGISTERED, address=office)
                )
        initials = "".join(word[0] for word in plain.split()).upper()
        holdings = _near_miss(base, f"{plain} Holdings", f"{initials} Holdings")
        variant = _near_miss(base, _variant(base), _variant(initials))
        trading = _near_miss(base, f"{plain} Trading", f"{initials} Trading")
        companies.append(self._company(f"{holdings} Limited", status=REGISTERED, address=office))
        companies.append(
            self._company(f"{variant} ({year}) Limited", status=REGISTERED, address=office, year=year)
        )
        companies.append(
            self._company(f"{trading} ({year - 10}) Limited", status=REMOVED, address=office, year=year - 10)
        )
        return companies

    def _generate_for_address(self, address: str) -> list[CompanyDetails]:
        key = _address_key(address)
        if len(key) < 4:
            raise PermanentError(
                "companies: the address to search for is too short", details={"address": address}
            )
        display = " ".join(address.split())
        street = _street_of(display)
        word = street.split()[0] if street else "Central"
        place = display.split(",")[-1].strip().rstrip("0123456789 ") or "City"
        seed = self._sim.seed
        count = 1 + stable_int(seed, "neighbours", key) % 2
        templates = [_LANDLORD, *stable_sample(_NEIGHBOURS, count, seed, key)]
        companies = [
            self._company(template.format(street=street or word, word=word, place=place), status=REGISTERED,
                          address=display)
            for template in templates
        ]  # fmt: skip
        companies.append(self._company(f"{word} Eatery Limited", status=REMOVED, address=display))
        return companies

    def _company(self, name: str, *, status: str, address: str, year: int | None = None) -> CompanyDetails:
        seed, key = self._sim.seed, f"{name}|{address}"
        number = 1_000_000 + stable_int(seed, "number", key) % 8_999_999
        # A name and address identify a generated company; a clash of numbers moves to the next free one.
        while (clash := self._companies.get(str(number))) is not None:
            if (clash.legal_name, clash.registered_address) == (name, address):
                return clash
            number += 1
        twelve = "9429" + str(stable_int(seed, "nzbn", key) % 10**8).zfill(8)
        start_year = year if year is not None else 2004 + stable_int(seed, "incorporated", key) % 19
        incorporated = date(start_year, 1, 1) + timedelta(days=stable_int(seed, "day", key) % 360)
        directors = tuple(
            Director(
                name=f"{stable_choice(_FIRST, seed, 'first', key, index)} "
                f"{stable_choice(_LAST, seed, 'last', key, index)}",
                appointed_on=incorporated
                + timedelta(days=(stable_int(seed, "appointed", key, index) % 900) * index),
            )
            for index in range(1 + stable_int(seed, "directors", key) % 3)
        )
        first_name = directors[0].name.split()[0].lower()
        domain = re.sub(r"[^a-z0-9]+", "", normalise_name(name).replace("&", "and"))[:40] or "company"
        phone_digits = str(stable_int(seed, "phone", key) % 10**7).zfill(7)
        company = CompanyDetails(
            company_number=str(number),
            nzbn=twelve + nzbn_check_digit(twelve),
            legal_name=name,
            status=status,
            incorporated_on=incorporated,
            registered_address=address,
            directors=directors,
            contact_email=f"{first_name}@{domain}.co.nz" if status == REGISTERED else None,
            contact_phone=f"+64 21 {phone_digits[:3]} {phone_digits[3:]}" if status == REGISTERED else None,
        )
        if status == REMOVED:
            company = replace(company, directors=())
        self._companies[company.company_number] = company
        self._at_address.setdefault(_address_key(address), {})[company.company_number] = company
        return company

    @staticmethod
    def _summary(company: CompanyDetails) -> CompanySummary:
        return CompanySummary(
            company_number=company.company_number,
            nzbn=company.nzbn,
            name=company.legal_name,
            status=company.status,
            registered_address=company.registered_address,
            incorporated_on=company.incorporated_on,
        )


def _display(query: str) -> str:
    base = " ".join(_SUFFIX.sub("", query.strip()).split())
    return string.capwords(base) if base.islower() else base


def _near_miss(base: str, natural: str, fallback: str) -> str:
    return natural if name_similarity(base, natural) <= NEAR_MISS_SIMILARITY else fallback


def _variant(base: str) -> str:
    words = base.split()
    last = words[-1].lower()
    return " ".join([*words[:-1], _VARIANTS.get(last, f"{words[-1]} Group")])


def _street_address(seed: int, key: str) -> str:
    suburb, city, postcode, streets = stable_choice(_PLACES, seed, "place", key)
    number = 1 + stable_int(seed, "street-number", key) % 400
    return f"{number} {stable_choice(streets, seed, 'street', key)}, {suburb}, {city} {postcode}"


def _street_of(address: str) -> str:
    match = re.search(r"\b\d+[A-Za-z]?\s+([A-Za-z][A-Za-z ]+?)\s*(?:,|$)", address)
    return match.group(1).strip() if match else ""


def _address_key(address: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", address.lower()).split())
