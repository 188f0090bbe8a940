"""Restaurant menus: the canonical shape stored in ``restaurants.menu`` and the pure edits queue jobs make.

The canonical menu is plain JSON-able data::

    {
        "currency": "NZD",                        # ISO 4217 code, upper case
        "categories": [                           # in menu order; names unique once normalised
            {
                "name": "Pizzas",
                "items": [                        # in menu order
                    {
                        "id": "itm_3f9a0c1b2d4e",     # unique in the menu (see below)
                        "name": "Margherita",
                        "description": "Tomato, fior di latte, basil",   # "" when there is none
                        "price": "18.00",             # decimal string in major units, with exactly
                                                      # the currency's minor digits (2 for NZD)
                        "image_url": None,            # or an http(s) URL
                        "tags": ["vegetarian"],       # lower-case slugs, sorted, no repeats
                        "option_groups": [
                            {
                                "name": "Size",
                                "required": True,     # true exactly when min >= 1
                                "min": 1,             # 0 <= min <= max, min <= number of options
                                "max": 1,             # >= 1
                                "options": [{"name": "Large", "price_delta": "6.00"}],  # delta may be < 0
                            }
                        ],
                    }
                ],
            }
        ],
    }

``normalise_menu`` turns the extraction adapter's ``Menu`` (as JSON, or as ``dataclasses.asdict`` with
``Decimal`` prices; ``min_select``/``max_select`` are read as ``min``/``max``) or anything close into this
shape: missing keys get defaults, unknown keys are dropped, categories with the same normalised name are
joined, and a missing item id becomes ``itm_`` + 12 hex digits of a hash of the normalised category and
item names (the same names always give the same id; a repeat gets the next free one).

Names are compared normalised: case, accents, apostrophes, punctuation and spacing are ignored
("Café Latte" matches "cafe-latte"). Every function validates its input, returns new dicts and never
changes its arguments; bad input raises ``InvalidInput`` naming the dotted field under the argument's name
(``menu.categories.0.items.3.price``, ``rules.1.match.category``, ``changes.set.fields.price``) or, for
CSV, the row and column (``row 5: price``). The ``(menu, changed_count)`` functions count the items they
changed (``bulk_update`` also counts renamed categories); ``apply_item_tags`` and ``apply_option_sets``
are idempotent.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, Final, NoReturn
from urllib.parse import urlsplit

from onboardflow.errors import InvalidInput

MenuData = dict[str, Any]
"""A menu in the canonical shape (see the module docstring)."""

DEFAULT_CURRENCY: Final = "NZD"
MAX_PRICE: Final = Decimal("1000000")
"""Prices and price deltas must stay below this, in major units."""
MAX_PRICE_PERCENT: Final = Decimal("1000")
CSV_COLUMNS: Final = ("category", "name", "description", "price", "image_url", "tags")
CSV_REQUIRED_COLUMNS: Final = ("category", "name", "price")
CSV_TAG_SEPARATOR: Final = "|"
BULK_SETTABLE_FIELDS: Final = ("description", "price", "image_url", "tags", "option_groups")
BULK_CHANGES: Final = ("rename_category", "remove_items", "set", "price_percent")
"""The changes ``bulk_update`` knows, in the order it applies those given in one mapping."""

_MINOR_DIGITS: Final[Mapping[str, int]] = {
    **dict.fromkeys(("JPY", "KRW", "VND", "ISK", "CLP", "XPF"), 0),
    **dict.fromkeys(("BHD", "KWD", "OMR", "JOD", "TND", "IQD", "LYD"), 3),
}
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MONEY = re.compile(r"^([+-]?)\s*\$?\s*(\d+(?:\.\d*)?|\.\d+)$")
_MAX_CSV_ERRORS = 50

_NOT = r"(?<!\bnon )(?<!\bnot )(?<!\bno )"
AUTO_TAG_KEYWORDS: Final[Mapping[str, tuple[str, ...]]] = {
    "vegetarian": (rf"{_NOT}\bvegetarian\b", r"\bveggie\b", r"\bmeatless\b", r"\bmeat free\b"),
    "vegan": (rf"{_NOT}\bvegan\b", r"\bplant based\b"),
    "gluten-free": (rf"{_NOT}\bgluten free\b", r"\bcoeliac friendly\b", r"\bceliac friendly\b"),
    "spicy": (
        rf"{_NOT}\bspicy\b",
        r"(?<!\bsweet )\bchill?i(es)?\b",
        r"\bjalapenos?\b",
        r"\bsriracha\b",
        r"\bvindaloo\b",
        r"\bhabaneros?\b",
        r"\b(sichuan|szechuan)\b",
        r"\b(peri|piri) ?(peri|piri)\b",
    ),
    "popular": (
        r"\b(most )?popular\b",
        r"\bbest ?sellers?\b",
        r"\bbest selling\b",
        r"\bfan favou?rite\b",
        r"\bchefs (special|pick|favou?rite)\b",
        r"\bsignature\b",
    ),
}
"""Keywords (regular expressions over normalised name and description) behind each automatic tag."""
_AUTO_MARKERS: Final[Mapping[str, str]] = {
    "v": "vegetarian",
    "vg": "vegan",
    "ve": "vegan",
    "gf": "gluten-free",
}
_MARKER = re.compile(r"\((v|vg|ve|gf)\)")
_AUTO_PATTERNS = {
    tag: tuple(re.compile(pattern) for pattern in patterns) for tag, patterns in AUTO_TAG_KEYWORDS.items()
}


# --- shared helpers ----------------------------------------------------------------------------------


_SPACE: Final = re.compile(r"\s")


def _fail(field: str, message: str) -> NoReturn:
    raise InvalidInput(field, message)


@lru_cache(maxsize=16384)  # menus repeat names: a run reads its restaurant's menu several times
def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()
    plain = re.sub(r"['\u2019`]", "", plain)
    return " ".join(re.sub(r"[\W_]+", " ", plain).split())


def _key(name: str) -> str:
    """How names are compared: normalised, or the stripped lower-case text when nothing is left."""
    return _fold(name) or name.strip().casefold()


def _mapping(value: object, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        _fail(field, "expected an object")
    return value


def _list(value: object, field: str) -> Sequence[Any]:
    if value is None:
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        _fail(field, "expected a list")
    return value


def _strings(value: object, field: str) -> list[str]:
    """A string or a list of strings, each stripped and non-blank."""
    values = [value] if isinstance(value, str) else _list(value, field)
    result: list[str] = []
    for index, item in enumerate(values):
        item_field = field if isinstance(value, str) else f"{field}.{index}"
        if not isinstance(item, str) or not item.strip():
            _fail(item_field, "expected a non-blank string")
        result.append(item.strip())
    return result


def _check_keys(value: Mapping[str, Any], allowed: Sequence[str], field: str) -> None:
    for name in value:
        if name not in allowed:
            prefix = f"{field}." if field else ""
            _fail(f"{prefix}{name}", f"unknown key; expected one of {', '.join(allowed)}")


def _name(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        _fail(field, "is required")
    return " ".join(value.split())


def _text(value: object, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        _fail(field, "expected a string")
    return value.strip()


def _bool(value: object, field: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        _fail(field, "expected true or false")
    return value


def _count(value: object, field: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(field, "expected a whole number")
    if value < 0:
        _fail(field, "must not be negative")
    return value


def _image_url(value: object, field: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        _fail(field, "expected a URL")
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or _SPACE.search(url):
        _fail(field, "must be an http(s) URL")
    return url


def _tag(value: object, field: str) -> str:
    if not isinstance(value, str):
        _fail(field, "expected a string")
    slug = _fold(value).replace(" ", "-")
    if not slug:
        _fail(field, "must contain letters or digits")
    if len(slug) > 50:
        _fail(field, "must be at most 50 characters")
    return slug


def _tags(value: object, field: str) -> list[str]:
    return sorted({_tag(tag, f"{field}.{index}") for index, tag in enumerate(_list(value, field))})


def _item_id(value: object, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        _fail(field, "expected a non-blank string")
    return value.strip()


def _generated_id(category: str, name: str, used: set[str]) -> str:
    basis = f"{_key(category)}\x1f{_key(name)}"
    attempt = 0
    while True:
        text = basis if attempt == 0 else f"{basis}\x1f{attempt}"
        candidate = "itm_" + hashlib.sha256(text.encode()).hexdigest()[:12]
        if candidate not in used:
            used.add(candidate)
            return candidate
        attempt += 1


# --- money -------------------------------------------------------------------------------------------


def _currency(value: object, field: str) -> str:
    if value is None:
        return DEFAULT_CURRENCY
    code = value.strip().upper() if isinstance(value, str) else None
    if code is None or not _CURRENCY.match(code):
        _fail(field, "must be a three-letter currency code such as NZD")
    return code


def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-_MINOR_DIGITS.get(currency, 2))


def _decimal(value: object, field: str) -> Decimal:
    if isinstance(value, bool):
        _fail(field, "expected an amount")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        amount = Decimal(repr(value))
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        match = _MONEY.match(value.strip())
        if not match:
            _fail(field, "must be an amount such as 12.50")
        amount = Decimal(match[1] + match[2])
    else:
        _fail(field, "expected an amount")
    if not amount.is_finite():
        _fail(field, "must be a finite amount")
    return amount


def _money(value: object, field: str, quantum: Decimal, *, negative: bool) -> str:
    """``value`` as a decimal string with exactly the currency's minor digits."""
    if value is None:
        _fail(field, "is required")
    amount = _decimal(value, field)
    if amount < 0 and not negative:
        _fail(field, "must not be negative")
    if abs(amount) >= MAX_PRICE:
        _fail(field, f"must be less than {MAX_PRICE}")
    exact = amount.quantize(quantum)
    if exact != amount:
        _fail(field, f"must be a whole number of {quantum} (the currency's minor unit)")
    return _format(exact, quantum)


def _format(amount: Decimal, quantum: Decimal) -> str:
    return str(abs(amount.quantize(quantum)) if amount.is_zero() else amount.quantize(quantum))


# --- menu normalising --------------------------------------------------------------------------------


def _option(raw: object, field: str, quantum: Decimal) -> dict[str, Any]:
    if isinstance(raw, str):
        raw = {"name": raw}
    option = _mapping(raw, field)
    name = _name(option.get("name"), f"{field}.name")
    delta = option.get("price_delta")
    price_delta = (
        _format(Decimal(0), quantum)
        if delta is None
        else _money(delta, f"{field}.price_delta", quantum, negative=True)
    )
    return {"name": name, "price_delta": price_delta}


def _option_group(group: Mapping[str, Any], field: str, quantum: Decimal) -> dict[str, Any]:
    name = _name(group.get("name"), f"{field}.name")
    options: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, raw in enumerate(_list(group.get("options"), f"{field}.options")):
        option = _option(raw, f"{field}.options.{index}", quantum)
        if _key(option["name"]) in seen:
            _fail(f"{field}.options.{index}.name", "repeats another option's name")
        seen.add(_key(option["name"]))
        options.append(option)
    if not options:
        _fail(f"{field}.options", "needs at least one option")
    min_key = "min" if group.get("min") is not None else "min_select"
    max_key = "max" if group.get("max") is not None else "max_select"
    minimum = _count(group.get(min_key), f"{field}.{min_key}", 0)
    maximum = _count(group.get(max_key), f"{field}.{max_key}", max(1, minimum))
    required = _bool(group.get("required"), f"{field}.required", False)
    if maximum < 1:
        _fail(f"{field}.{max_key}", "must be at least 1")
    if minimum > maximum:
        _fail(f"{field}.{max_key}", f"must be at least {min_key} ({minimum})")
    if minimum > len(options):
        _fail(f"{field}.{min_key}", f"is more than the number of options ({len(options)})")
    if required and minimum == 0:
        minimum = 1
    return {"name": name, "required": minimum >= 1, "min": minimum, "max": maximum, "options": options}


def _option_groups(value: object, field: str, quantum: Decimal) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, raw in enumerate(_list(value, field)):
        group = _option_group(_mapping(raw, f"{field}.{index}"), f"{field}.{index}", quantum)
        if _key(group["name"]) in seen:
            _fail(f"{field}.{index}.name", "repeats another option group's name")
        seen.add(_key(group["name"]))
        groups.append(group)
    return groups


def _item(raw: object, field: str, quantum: Decimal) -> dict[str, Any]:
    item = _mapping(raw, field)
    return {
        "id": _item_id(item.get("id"), f"{field}.id"),
        "name": _name(item.get("name"), f"{field}.name"),
        "description": _text(item.get("description"), f"{field}.description"),
        "price": _money(item.get("price"), f"{field}.price", quantum, negative=False),
        "image_url": _image_url(item.get("image_url"), f"{field}.image_url"),
        "tags": _tags(item.get("tags"), f"{field}.tags"),
        "option_groups": _option_groups(item.get("option_groups"), f"{field}.option_groups", quantum),
    }


def _normalise(raw: object, root: str) -> MenuData:
    menu = _mapping(raw, root)
    currency = _currency(menu.get("currency"), f"{root}.currency")
    quantum = _quantum(currency)
    categories: dict[str, dict[str, Any]] = {}
    fields: list[tuple[dict[str, Any], str, str]] = []  # (item, its field, its category's name)
    for c_index, c_raw in enumerate(_list(menu.get("categories"), f"{root}.categories")):
        c_field = f"{root}.categories.{c_index}"
        category = _mapping(c_raw, c_field)
        name = _name(category.get("name"), f"{c_field}.name")
        joined = categories.setdefault(_key(name), {"name": name, "items": []})
        for i_index, i_raw in enumerate(_list(category.get("items"), f"{c_field}.items")):
            i_field = f"{c_field}.items.{i_index}"
            item = _item(i_raw, i_field, quantum)
            joined["items"].append(item)
            fields.append((item, i_field, joined["name"]))
    used: set[str] = set()
    for item, field, _ in fields:
        if item["id"] is not None:
            if item["id"] in used:
                _fail(f"{field}.id", "repeats another item's id")
            used.add(item["id"])
    for item, _, category_name in fields:
        if item["id"] is None:
            item["id"] = _generated_id(category_name, item["name"], used)
    return {"currency": currency, "categories": list(categories.values())}


def normalise_menu(raw: Mapping[str, Any]) -> MenuData:
    """The canonical menu for ``raw`` (the extraction adapter's output or anything close).

    Idempotent: normalising a canonical menu returns an equal menu.
    """
    return _normalise(raw, "menu")


def _items(menu: MenuData) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every (category, item) pair, in menu order."""
    return [(category, item) for category in menu["categories"] for item in category["items"]]


# --- selecting items ---------------------------------------------------------------------------------


_SELECTOR_KEYS: Final = ("category", "name_contains", "item_ids")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Selector:
    """Items in ``category`` whose name contains one of ``name_contains`` and whose id is in ``item_ids``
    (only the criteria given; all of them must hold)."""

    category: str | None
    name_contains: tuple[str, ...] | None
    item_ids: frozenset[str] | None

    def matches(self, category: Mapping[str, Any], item: Mapping[str, Any]) -> bool:
        if self.category is not None and _key(category["name"]) != self.category:
            return False
        if self.item_ids is not None and item["id"] not in self.item_ids:
            return False
        name = _key(item["name"])
        return self.name_contains is None or any(fragment in name for fragment in self.name_contains)


def _selector(value: Mapping[str, Any], field: str) -> _Selector:
    _check_keys(value, _SELECTOR_KEYS, field)
    category = value.get("category")
    if category is not None:
        category = _key(_name(category, f"{field}.category"))
    fragments = value.get("name_contains")
    name_contains = None
    if fragments is not None:
        name_contains = tuple(_key(text) for text in _strings(fragments, f"{field}.name_contains")) or None
    ids = value.get("item_ids")
    item_ids = None
    if ids is not None:
        found = (
            _item_id(item, f"{field}.item_ids.{n}") for n, item in enumerate(_list(ids, f"{field}.item_ids"))
        )
        item_ids = frozenset(item_id for item_id in found if item_id is not None) or None
    if category is None and name_contains is None and item_ids is None:
        _fail(field, f"give at least one of {', '.join(_SELECTOR_KEYS)}")
    return _Selector(category=category, name_contains=name_contains, item_ids=item_ids)


# --- tags --------------------------------------------------------------------------------------------


def infer_tags(name: str, description: str = "") -> list[str]:
    """The automatic tags ``name`` and ``description`` suggest (see ``AUTO_TAG_KEYWORDS``), sorted.

    Markers such as "(V)", "(VG)" and "(GF)" count; "non-vegetarian" and "sweet chilli" do not; vegan
    implies vegetarian.
    """
    text = f"{name}\n{description}"
    folded = f"{_fold(name)} \n {_fold(description)}"
    tags = {_AUTO_MARKERS[marker] for marker in _MARKER.findall(text.casefold())}
    tags |= {tag for tag, patterns in _AUTO_PATTERNS.items() if any(p.search(folded) for p in patterns)}
    if "vegan" in tags:
        tags.add("vegetarian")
    return sorted(tags)


def _tag_rules(rules: Sequence[Mapping[str, Any]]) -> list[tuple[str, _Selector] | None]:
    """Each rule as (tag, selector), or ``None`` for an automatic rule."""
    parsed: list[tuple[str, _Selector] | None] = []
    for index, raw in enumerate(_list(rules, "rules")):
        field = f"rules.{index}"
        rule = _mapping(raw, field)
        if _bool(rule.get("auto"), f"{field}.auto", False):
            _check_keys(rule, ("auto",), field)
            parsed.append(None)
            continue
        _check_keys(rule, ("auto", "tag", "match"), field)
        if rule.get("tag") is None:
            _fail(f"{field}.tag", "is required (or set auto: true)")
        tag = _tag(rule["tag"], f"{field}.tag")
        if rule.get("match") is None:
            _fail(f"{field}.match", "is required")
        parsed.append((tag, _selector(_mapping(rule["match"], f"{field}.match"), f"{field}.match")))
    return parsed


def apply_item_tags(menu: Mapping[str, Any], rules: Sequence[Mapping[str, Any]]) -> tuple[MenuData, int]:
    """Add tags to items: ``{"tag": "vegan", "match": {"category", "name_contains", "item_ids"}}`` adds
    ``tag`` to the matching items; ``{"auto": true}`` adds ``infer_tags`` of each item. Tags are only
    ever added, so applying the same rules twice changes nothing the second time."""
    parsed = _tag_rules(rules)
    result = normalise_menu(menu)
    changed = 0
    for category, item in _items(result):
        tags = set(item["tags"])
        for rule in parsed:
            if rule is None:
                tags.update(infer_tags(item["name"], item["description"]))
            elif rule[1].matches(category, item):
                tags.add(rule[0])
        if sorted(tags) != item["tags"]:
            item["tags"] = sorted(tags)
            changed += 1
    return result, changed


# --- option sets -------------------------------------------------------------------------------------


def _replace_group(groups: list[dict[str, Any]], group: dict[str, Any]) -> list[dict[str, Any]]:
    """``groups`` with ``group`` in place of the one of the same name, or appended."""
    key = _key(group["name"])
    if any(_key(existing["name"]) == key for existing in groups):
        return [group if _key(existing["name"]) == key else existing for existing in groups]
    return [*groups, group]


def apply_option_sets(
    menu: Mapping[str, Any], option_sets: Sequence[Mapping[str, Any]]
) -> tuple[MenuData, int]:
    """Attach option groups to items: each set is an option group (``name``, ``required``, ``min``,
    ``max``, ``options``) plus ``applies_to`` (``category``, ``name_contains``, ``item_ids``). A set
    replaces the item's group of the same name in place, or is appended; later sets win. Idempotent."""
    result = normalise_menu(menu)
    quantum = _quantum(result["currency"])
    parsed: list[tuple[dict[str, Any], _Selector]] = []
    for index, raw in enumerate(_list(option_sets, "option_sets")):
        field = f"option_sets.{index}"
        spec = _mapping(raw, field)
        _check_keys(
            spec,
            ("name", "required", "min", "max", "min_select", "max_select", "options", "applies_to"),
            field,
        )
        if spec.get("applies_to") is None:
            _fail(f"{field}.applies_to", "is required")
        selector = _selector(_mapping(spec["applies_to"], f"{field}.applies_to"), f"{field}.applies_to")
        parsed.append((_option_group(spec, field, quantum), selector))
    changed = 0
    for category, item in _items(result):
        groups = item["option_groups"]
        for group, selector in parsed:
            if selector.matches(category, item):
                groups = _replace_group(groups, group)
        if groups != item["option_groups"]:
            item["option_groups"] = copy.deepcopy(groups)
            changed += 1
    return result, changed


# --- CSV ---------------------------------------------------------------------------------------------


def _csv_header(row: list[str], number: int) -> list[str]:
    columns = [cell.strip().casefold() for cell in row]
    while columns and not columns[-1]:
        columns.pop()
    for column in columns:
        if column not in CSV_COLUMNS:
            _fail(
                f"row {number}: {column or '(blank)'}", f"unknown column; expected {', '.join(CSV_COLUMNS)}"
            )
        if columns.count(column) > 1:
            _fail(f"row {number}: {column}", "the column appears twice")
    for column in CSV_REQUIRED_COLUMNS:
        if column not in columns:
            _fail(f"row {number}: {column}", "the header lacks this required column")
    return columns


def _csv_item(cells: Mapping[str, str], number: int, quantum: Decimal) -> tuple[str, dict[str, Any]]:
    """(category name, raw item) for one data row; raises for the first bad cell."""
    at = f"row {number}: "
    category = _name(cells.get("category", ""), f"{at}category")
    tags = [part for part in cells.get("tags", "").split(CSV_TAG_SEPARATOR) if part.strip()]
    item = {
        "name": _name(cells.get("name", ""), f"{at}name"),
        "description": _text(cells.get("description"), f"{at}description"),
        "price": _money(cells.get("price", "").strip() or None, f"{at}price", quantum, negative=False),
        "image_url": _image_url(cells.get("image_url"), f"{at}image_url"),
        "tags": sorted({_tag(tag, f"{at}tags") for tag in tags}),
    }
    return category, item


def parse_menu_csv(text: str, *, currency: str = DEFAULT_CURRENCY) -> MenuData:
    """The canonical menu in a CSV with the header ``category,name,description,price[,image_url][,tags]``
    (any order; only ``category``, ``name`` and ``price`` are required; tags separated by ``|``).

    Rows are numbered as a spreadsheet shows them (the header is row 1); blank rows are skipped. Every bad
    cell is reported (``errors``), the first one as the field: ``row 5: price``.
    """
    code = _currency(currency, "currency")
    quantum = _quantum(code)
    rows = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    header: list[str] | None = None
    categories: dict[str, dict[str, Any]] = {}
    errors: list[dict[str, Any]] = []
    number = 0
    try:
        for number, row in enumerate(rows, start=1):
            if len(errors) >= _MAX_CSV_ERRORS:
                break
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = _csv_header(row, number)
                continue
            if any(cell.strip() for cell in row[len(header) :]):
                errors.append(
                    {"field": f"row {number}", "message": f"has more cells than the header ({len(header)})"}
                )
                continue
            try:
                name, item = _csv_item(dict(zip(header, row, strict=False)), number, quantum)
            except InvalidInput as error:
                errors.append({"field": error.field, "message": error.errors[0]["message"]})
                continue
            categories.setdefault(_key(name), {"name": name, "items": []})["items"].append(item)
    except csv.Error as error:
        errors.append({"field": f"row {number + 1}", "message": f"is not valid CSV ({error})"})
    if header is None and not errors:
        _fail("row 1", "the file is empty; expected a header row")
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InvalidInput(errors[0]["field"], errors[0]["message"] + more, errors=errors)
    if not categories:
        _fail("row 2", "the file has a header but no items")
    return _normalise({"currency": code, "categories": list(categories.values())}, "menu")


# --- merging -----------------------------------------------------------------------------------------


def _merge_group(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new``'s settings over the union of both groups' options (``new``'s deltas win)."""
    new_options = {_key(option["name"]): option for option in new["options"]}
    options = [new_options.pop(_key(option["name"]), option) for option in old["options"]]
    return {**new, "options": [*options, *new_options.values()]}


def _merge_item(old: dict[str, Any], new: Mapping[str, Any]) -> None:
    old["price"] = new["price"]
    old["description"] = new["description"] or old["description"]
    old["image_url"] = new["image_url"] or old["image_url"]
    old["tags"] = sorted({*old["tags"], *new["tags"]})
    groups = old["option_groups"]
    for group in new["option_groups"]:
        existing = next((g for g in groups if _key(g["name"]) == _key(group["name"])), None)
        groups = _replace_group(groups, group if existing is None else _merge_group(existing, group))
    old["option_groups"] = groups


def merge_menus(menus: Sequence[Mapping[str, Any]]) -> MenuData:
    """One menu from several versions of it, oldest first (for instance two extractions).

    Categories match by normalised name, items by normalised name within a category (a repeated name by
    its occurrence). Order and names come from the first menu that has them; later menus win for price
    and description (when not blank) and image (when present); tags are unioned, and option groups are
    unioned by name (later settings and price deltas win, options unioned). Item ids are kept, except that
    a clash between menus gives the later item a new id. All menus must use one currency.
    """
    versions = [_normalise(menu, f"menus.{index}") for index, menu in enumerate(_list(menus, "menus"))]
    if not versions:
        _fail("menus", "give at least one menu")
    currency = versions[0]["currency"]
    categories: dict[str, dict[str, Any]] = {}
    items: dict[tuple[str, str, int], dict[str, Any]] = {}
    for index, version in enumerate(versions):
        if version["currency"] != currency:
            _fail(f"menus.{index}.currency", f"differs from the first menu's ({currency})")
        for category in version["categories"]:
            c_key = _key(category["name"])
            merged = categories.setdefault(c_key, {"name": category["name"], "items": []})
            seen: dict[str, int] = {}
            for item in category["items"]:
                i_key = _key(item["name"])
                occurrence = seen[i_key] = seen.get(i_key, -1) + 1
                existing = items.get((c_key, i_key, occurrence))
                if existing is None:
                    items[c_key, i_key, occurrence] = added = {**item, "tags": list(item["tags"])}
                    merged["items"].append(added)
                else:
                    _merge_item(existing, item)
    result = {"currency": currency, "categories": list(categories.values())}
    used: set[str] = set()
    for category, item in _items(result):
        if item["id"] in used:
            item["id"] = _generated_id(category["name"], item["name"], used)
        used.add(item["id"])
    return normalise_menu(result)


# --- bulk updates ------------------------------------------------------------------------------------


def _rename_category(menu: MenuData, value: object, field: str) -> int:
    spec = _mapping(value, field)
    _check_keys(spec, ("from", "to"), field)
    old = _key(_name(spec.get("from"), f"{field}.from"))
    new_name = _name(spec.get("to"), f"{field}.to")
    category = next((c for c in menu["categories"] if _key(c["name"]) == old), None)
    if category is None or category["name"] == new_name:
        return 0
    if any(c is not category and _key(c["name"]) == _key(new_name) for c in menu["categories"]):
        _fail(f"{field}.to", "another category already has this name")
    category["name"] = new_name
    return 1


def _remove_items(menu: MenuData, value: object, field: str) -> int:
    ids = {_item_id(item, f"{field}.{index}") for index, item in enumerate(_list(value, field))}
    removed = 0
    for category in menu["categories"]:
        kept = [item for item in category["items"] if item["id"] not in ids]
        removed += len(category["items"]) - len(kept)
        category["items"] = kept
    return removed


def _set_fields(menu: MenuData, value: object, field: str) -> int:
    spec = _mapping(value, field)
    _check_keys(spec, (*_SELECTOR_KEYS, "fields"), field)
    selector = _selector({k: v for k, v in spec.items() if k != "fields"}, field)
    fields = _mapping(spec.get("fields"), f"{field}.fields")
    if not fields:
        _fail(f"{field}.fields", "give at least one field")
    _check_keys(fields, BULK_SETTABLE_FIELDS, f"{field}.fields")
    quantum = _quantum(menu["currency"])
    at = f"{field}.fields"
    parsers: dict[str, Callable[[object], object]] = {
        "description": lambda v: _text(v, f"{at}.description"),
        "price": lambda v: _money(v, f"{at}.price", quantum, negative=False),
        "image_url": lambda v: _image_url(v, f"{at}.image_url"),
        "tags": lambda v: _tags(v, f"{at}.tags"),
        "option_groups": lambda v: _option_groups(v, f"{at}.option_groups", quantum),
    }
    values = {name: parsers[name](raw) for name, raw in fields.items()}
    changed = 0
    for category, item in _items(menu):
        if selector.matches(category, item) and any(item[name] != new for name, new in values.items()):
            item.update({name: copy.deepcopy(new) for name, new in values.items()})
            changed += 1
    return changed


def _price_percent(menu: MenuData, value: object, field: str) -> int:
    if value is None:
        _fail(field, "is required")
    percent = _decimal(value, field)
    if percent <= -100 or percent > MAX_PRICE_PERCENT:
        _fail(field, f"must be more than -100 and at most {MAX_PRICE_PERCENT}")
    quantum = _quantum(menu["currency"])
    changed = 0
    for _, item in _items(menu):
        price = Decimal(item["price"]) * (100 + percent) / 100
        new_price = _format(price.quantize(quantum, rounding=ROUND_HALF_UP), quantum)
        if Decimal(new_price) >= MAX_PRICE:
            _fail(field, f"would raise {item['name']!r} to {MAX_PRICE} or more")
        if new_price != item["price"]:
            item["price"] = new_price
            changed += 1
    return changed


_BULK_APPLIERS: Final[Mapping[str, Callable[[MenuData, object, str], int]]] = {
    "rename_category": _rename_category,
    "remove_items": _remove_items,
    "set": _set_fields,
    "price_percent": _price_percent,
}


def bulk_update(
    menu: Mapping[str, Any], changes: Mapping[str, Any] | Sequence[Mapping[str, Any]]
) -> tuple[MenuData, int]:
    """Apply ``changes`` (one mapping, or a list applied in order) to a menu:

    - ``{"rename_category": {"from": "Drinks", "to": "Beverages"}}``; ids stay;
    - ``{"remove_items": [ids]}``; unknown ids are ignored, so repeating a removal is harmless;
    - ``{"set": {"category"/"name_contains"/"item_ids": ..., "fields": {...}}}`` replaces the given
      fields (one of ``BULK_SETTABLE_FIELDS``) of the matching items;
    - ``{"price_percent": 5}`` moves every item's price (not option deltas) by that percentage, rounded
      half up to the currency's minor unit.

    Keys of one mapping apply in ``BULK_CHANGES`` order; a rename or selector naming no category or item
    changes nothing. The count is the items removed, set or repriced plus the categories renamed. Not
    idempotent: a price change compounds.
    """
    result = normalise_menu(menu)
    batches = (
        [(changes, "changes")]
        if isinstance(changes, Mapping)
        else [
            (_mapping(change, f"changes.{index}"), f"changes.{index}")
            for index, change in enumerate(_list(changes, "changes"))
        ]
    )
    changed = 0
    for batch, field in batches:
        _check_keys(batch, BULK_CHANGES, field)
        if not batch:
            _fail(field, f"give at least one of {', '.join(BULK_CHANGES)}")
        for name in BULK_CHANGES:
            if name in batch:
                changed += _BULK_APPLIERS[name](result, batch[name], f"{field}.{name}")
    return result, changed


# --- content -------------------------------------------------------------------------------------------


def describe_items(menu: Mapping[str, Any]) -> tuple[MenuData, int]:
    """Give every item without a description one written from its name, category and tags.

    Deterministic and idempotent: items that already have a description are left as they are.
    """
    result = normalise_menu(menu)
    changed = 0
    for category, item in _items(result):
        if item["description"].strip():
            continue
        traits = [tag.replace("-", " ") for tag in item["tags"]]
        sentence = f"{item['name']}, from our {category['name'].lower()} menu"
        if traits:
            sentence += f" ({', '.join(traits)})"
        item["description"] = sentence + "."
        changed += 1
    return result, changed
