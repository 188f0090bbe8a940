"""Menus: the canonical shape and the pure edits that item-tag, option-set, CSV-import, merge and bulk-update
jobs make to ``restaurants.menu``."""

from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import io
import json
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onboardflow.adapters import wire
from onboardflow.adapters.extraction import catalogue
from onboardflow.adapters.extraction.protocol import Menu, MenuCategory, MenuItem, MenuOption, OptionGroup
from onboardflow.adapters.extraction.simulated import generate_menu
from onboardflow.domain.menus import (
    apply_item_tags,
    apply_option_sets,
    bulk_update,
    infer_tags,
    merge_menus,
    normalise_menu,
    parse_menu_csv,
)
from onboardflow.errors import InvalidInput


def sample_menu() -> dict[str, Any]:
    """A small raw menu close to the extraction's output (a fresh copy every call)."""
    return {
        "currency": "NZD",
        "categories": [
            {
                "name": "Pizzas",
                "items": [
                    {
                        "name": "Margherita",
                        "description": "Tomato, fior di latte, basil (V)",
                        "price": "18.00",
                        "image_url": "https://img.example/margherita.jpg",
                        "option_groups": [
                            {
                                "name": "Size",
                                "required": True,
                                "min_select": 1,
                                "max_select": 1,
                                "options": [
                                    {"name": "Small", "price_delta": "-4.00"},
                                    {"name": "Large", "price_delta": "6.00"},
                                ],
                            }
                        ],
                    },
                    {"name": "Diavola", "description": "Hot salami, chilli", "price": "23.50"},
                    {"name": "Veggie Supreme", "price": 21},
                ],
            },
            {
                "name": "Drinks",
                "items": [
                    {"name": "Coke", "price": "4.50", "tags": ["Cold"]},
                    {"name": "Flat White", "price": "5.00"},
                ],
            },
        ],
    }


def items_by_name(menu: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for category in menu["categories"] for item in category["items"]}


def field_of(call: Callable[[], object]) -> str:
    with pytest.raises(InvalidInput) as caught:
        call()
    return caught.value.field


# --- hypothesis strategies ---------------------------------------------------------------------------

NAMES = ["Margherita", "margherita ", "Café Latte", "cafe-latte", "Fish & Chips", "Coke", "Pad Thai", "🍕"]
CATEGORY_NAMES = ["Pizzas", "pizzas", "Drinks", "Sides", "Café", "cafe"]
TAG_NAMES = ["Vegan", "vegan", "spicy", "Gluten Free", "popular", "house_special"]
OPTION_NAMES = ["Small", "Large", "Extra cheese", "Oat milk", "Tofu"]

cents = st.integers(min_value=0, max_value=9_999_99)
money = st.one_of(
    cents.map(lambda c: f"{c // 100}.{c % 100:02d}"),
    cents.map(lambda c: Decimal(c) / 100),
    st.integers(min_value=0, max_value=9999),
)


@st.composite
def option_groups(draw: st.DrawFn) -> dict[str, Any]:
    options = draw(
        st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(OPTION_NAMES)},
                optional={"price_delta": st.integers(-500, 500).map(lambda c: Decimal(c) / 100)},
            ),
            min_size=1,
            max_size=3,
            unique_by=lambda option: option["name"],
        )
    )
    minimum = draw(st.integers(0, len(options)))
    maximum = draw(st.integers(max(1, minimum), len(options) + 1))
    keys = draw(st.sampled_from([("min", "max"), ("min_select", "max_select")]))
    return {
        "name": draw(st.sampled_from(["Size", "Extras", "Milk"])),
        "required": draw(st.booleans()),
        keys[0]: minimum,
        keys[1]: maximum,
        "options": options,
    }


raw_items = st.fixed_dictionaries(
    {"name": st.sampled_from(NAMES), "price": money},
    optional={
        "description": st.one_of(st.none(), st.text(max_size=30)),
        "image_url": st.sampled_from([None, "", "https://img.example/a.jpg"]),
        "tags": st.lists(st.sampled_from(TAG_NAMES), max_size=3),
        "option_groups": st.lists(option_groups(), max_size=2, unique_by=lambda group: group["name"]),
    },
)
raw_menus = st.fixed_dictionaries(
    {
        "categories": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(CATEGORY_NAMES), "items": st.lists(raw_items, max_size=4)}
            ),
            max_size=4,
        )
    },
    optional={"currency": st.sampled_from(["NZD", "aud", "JPY"])},
).filter(lambda menu: menu.get("currency") != "JPY" or _whole_prices(menu))


def _whole_prices(menu: dict[str, Any]) -> bool:
    return all(
        Decimal(str(item["price"])) == Decimal(str(item["price"])).to_integral_value()
        and all(
            Decimal(str(option.get("price_delta", 0))).as_integer_ratio()[1] == 1
            for group in item.get("option_groups", [])
            for option in group["options"]
        )
        for category in menu["categories"]
        for item in category["items"]
    )


tag_rules = st.lists(
    st.one_of(
        st.just({"auto": True}),
        st.fixed_dictionaries(
            {
                "tag": st.sampled_from(TAG_NAMES),
                "match": st.one_of(
                    st.fixed_dictionaries({"category": st.sampled_from(CATEGORY_NAMES)}),
                    st.fixed_dictionaries(
                        {"name_contains": st.lists(st.sampled_from(["a", "latte"]), min_size=1)}
                    ),
                ),
            }
        ),
    ),
    max_size=3,
)


# --- normalise_menu ----------------------------------------------------------------------------------


def test_normalise_menu_fills_defaults_and_formats_prices_as_decimal_strings() -> None:
    menu = normalise_menu(sample_menu())

    assert menu["currency"] == "NZD"
    assert [category["name"] for category in menu["categories"]] == ["Pizzas", "Drinks"]
    supreme = items_by_name(menu)["Veggie Supreme"]
    assert supreme == {
        "id": supreme["id"],
        "name": "Veggie Supreme",
        "description": "",
        "price": "21.00",
        "image_url": None,
        "tags": [],
        "option_groups": [],
    }
    assert items_by_name(menu)["Margherita"]["option_groups"] == [
        {
            "name": "Size",
            "required": True,
            "min": 1,
            "max": 1,
            "options": [{"name": "Small", "price_delta": "-4.00"}, {"name": "Large", "price_delta": "6.00"}],
        }
    ]
    assert items_by_name(menu)["Coke"]["tags"] == ["cold"]


def test_normalise_menu_accepts_the_extraction_menu_as_json_and_as_asdict() -> None:
    extracted = Menu(
        restaurant_name="Joe's",
        source_url="https://marketplace.example/joes",
        categories=(
            MenuCategory(
                name="Pizzas",
                items=(
                    MenuItem(
                        name="Margherita",
                        price=Decimal("18.5"),
                        description="Basil",
                        image_url="https://img.example/m.jpg",
                        tags=("Vegetarian",),
                        option_groups=(
                            OptionGroup(
                                name="Extras",
                                min_select=0,
                                max_select=2,
                                options=(
                                    MenuOption(name="Olives", price_delta=Decimal("1.50")),
                                    MenuOption(name="Cheese"),
                                ),
                            ),
                        ),
                    ),
                ),
            ),
        ),
    )

    from_json = normalise_menu(wire.dump(extracted))

    assert from_json == normalise_menu(dataclasses.asdict(extracted))
    item = from_json["categories"][0]["items"][0]
    assert (item["price"], item["tags"], item["image_url"]) == (
        "18.50",
        ["vegetarian"],
        "https://img.example/m.jpg",
    )
    assert item["option_groups"][0] == {
        "name": "Extras",
        "required": False,
        "min": 0,
        "max": 2,
        "options": [{"name": "Olives", "price_delta": "1.50"}, {"name": "Cheese", "price_delta": "0.00"}],
    }
    assert set(from_json) == {"currency", "categories"}


@pytest.mark.parametrize("cuisine", sorted(catalogue.CUISINES))
def test_normalise_menu_accepts_every_simulated_extraction(cuisine: str) -> None:
    extracted = generate_menu(
        "https://marketplace.example/joes", restaurant_name="Joe's", cuisine=cuisine, seed=7
    )

    menu = normalise_menu(wire.dump(extracted))

    assert [item["name"] for category in menu["categories"] for item in category["items"]] == [
        item.name for item in extracted.items
    ]
    assert [Decimal(item["price"]) for _, item in _pairs(menu)] == [item.price for item in extracted.items]


def _pairs(menu: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(category["name"], item) for category in menu["categories"] for item in category["items"]]


def test_generated_item_ids_depend_only_on_category_and_item_names() -> None:
    first = normalise_menu(sample_menu())
    reordered = sample_menu()
    reordered["categories"].reverse()
    reordered["categories"][1]["items"][0]["price"] = "19.00"

    assert (
        items_by_name(first)["Margherita"]["id"]
        == items_by_name(normalise_menu(reordered))["Margherita"]["id"]
    )
    assert items_by_name(first)["Margherita"]["id"].startswith("itm_")
    assert len(items_by_name(first)["Margherita"]["id"]) == len("itm_") + 12


def test_repeated_item_names_get_distinct_ids_and_explicit_ids_are_kept() -> None:
    raw = {
        "categories": [
            {
                "name": "Sides",
                "items": [
                    {"name": "Fries", "price": 5},
                    {"name": "fries", "price": 7},
                    {"id": "pos-17", "name": "Salad", "price": 9},
                ],
            }
        ]
    }

    ids = [item["id"] for item in normalise_menu(raw)["categories"][0]["items"]]

    assert ids[2] == "pos-17"
    assert len(set(ids)) == 3


def test_categories_with_the_same_normalised_name_are_joined() -> None:
    raw = {
        "categories": [
            {"name": "Drinks", "items": [{"name": "Coke", "price": 4}]},
            {"name": "Sides", "items": []},
            {"name": " drinks ", "items": [{"name": "Sprite", "price": 4}]},
        ]
    }

    menu = normalise_menu(raw)

    assert [(c["name"], [i["name"] for i in c["items"]]) for c in menu["categories"]] == [
        ("Drinks", ["Coke", "Sprite"]),
        ("Sides", []),
    ]


def test_a_required_group_needs_at_least_one_choice() -> None:
    raw = {
        "categories": [
            {
                "name": "Pizzas",
                "items": [
                    {
                        "name": "Margherita",
                        "price": 18,
                        "option_groups": [
                            {
                                "name": "Size",
                                "required": True,
                                "min": 0,
                                "max": 1,
                                "options": ["Small", "Large"],
                            },
                            {"name": "Base", "min": 1, "max": 1, "options": ["Thin"]},
                        ],
                    }
                ],
            }
        ]
    }

    groups = normalise_menu(raw)["categories"][0]["items"][0]["option_groups"]

    assert [(g["required"], g["min"]) for g in groups] == [(True, 1), (True, 1)]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda m: m["categories"][0]["items"][1].update(price="abc"), "menu.categories.0.items.1.price"),
        (lambda m: m["categories"][0]["items"][1].update(price=-1), "menu.categories.0.items.1.price"),
        (lambda m: m["categories"][0]["items"][1].update(price="12.345"), "menu.categories.0.items.1.price"),
        (lambda m: m["categories"][0]["items"][1].update(price=True), "menu.categories.0.items.1.price"),
        (
            lambda m: m["categories"][0]["items"][1].update(price=float("nan")),
            "menu.categories.0.items.1.price",
        ),
        (lambda m: m["categories"][0]["items"][1].pop("price"), "menu.categories.0.items.1.price"),
        (lambda m: m["categories"][1]["items"][1].update(name="  "), "menu.categories.1.items.1.name"),
        (lambda m: m["categories"][1].update(name=None), "menu.categories.1.name"),
        (lambda m: m["categories"][1].update(items="Coke"), "menu.categories.1.items"),
        (
            lambda m: m["categories"][1]["items"][0].update(image_url="ftp://x/y"),
            "menu.categories.1.items.0.image_url",
        ),
        (lambda m: m["categories"][1]["items"][0].update(tags=["!!"]), "menu.categories.1.items.0.tags.0"),
        (lambda m: m.update(currency="dollars"), "menu.currency"),
        (lambda m: m.update(categories={"name": "x"}), "menu.categories"),
        (
            lambda m: m["categories"][0]["items"][0]["option_groups"][0].update(min_select=2, max_select=1),
            "menu.categories.0.items.0.option_groups.0.max_select",
        ),
        (
            lambda m: m["categories"][0]["items"][0]["option_groups"][0].update(min_select=3, max_select=3),
            "menu.categories.0.items.0.option_groups.0.min_select",
        ),
        (
            lambda m: m["categories"][0]["items"][0]["option_groups"][0].update(options=[]),
            "menu.categories.0.items.0.option_groups.0.options",
        ),
        (
            lambda m: m["categories"][0]["items"][0]["option_groups"][0]["options"][1].update(name="small"),
            "menu.categories.0.items.0.option_groups.0.options.1.name",
        ),
        (
            lambda m: m["categories"][0]["items"][0]["option_groups"][0]["options"][1].update(
                price_delta="x"
            ),
            "menu.categories.0.items.0.option_groups.0.options.1.price_delta",
        ),
        (
            lambda m: [item.update(id="same") for item in m["categories"][1]["items"]],
            "menu.categories.1.items.1.id",
        ),
    ],
)
def test_normalise_menu_names_the_bad_field(change: Callable[[dict[str, Any]], object], field: str) -> None:
    raw = sample_menu()
    change(raw)

    assert field_of(lambda: normalise_menu(raw)) == field


def test_prices_follow_the_currency_minor_unit() -> None:
    raw: dict[str, Any] = {
        "currency": "jpy",
        "categories": [{"name": "Ramen", "items": [{"name": "Shoyu", "price": "980"}]}],
    }

    menu = normalise_menu(raw)

    assert (menu["currency"], menu["categories"][0]["items"][0]["price"]) == ("JPY", "980")
    raw["categories"][0]["items"][0]["price"] = "980.5"
    assert field_of(lambda: normalise_menu(raw)) == "menu.categories.0.items.0.price"


@given(raw_menus)
def test_normalise_menu_is_idempotent_json_able_and_leaves_its_input_alone(raw: dict[str, Any]) -> None:
    before = copy.deepcopy(raw)

    menu = normalise_menu(raw)

    assert raw == before
    assert normalise_menu(menu) == menu
    assert json.loads(json.dumps(menu)) == menu
    ids = [item["id"] for _, item in _pairs(menu)]
    assert len(ids) == len(set(ids))


# --- apply_item_tags ---------------------------------------------------------------------------------


def test_tag_rules_add_the_tag_to_items_matching_every_given_criterion() -> None:
    rules = [
        {"tag": "House Special", "match": {"category": "pizzas", "name_contains": ["marg", "DIAV"]}},
        {"tag": "cold", "match": {"name_contains": "coke"}},
        {
            "tag": "coffee",
            "match": {"item_ids": [items_by_name(normalise_menu(sample_menu()))["Flat White"]["id"]]},
        },
        {"tag": "never", "match": {"category": "Drinks", "name_contains": ["margherita"]}},
        {"tag": "ghost", "match": {"item_ids": ["no-such-item"]}},
    ]

    menu, changed = apply_item_tags(sample_menu(), rules)

    tags = {name: item["tags"] for name, item in items_by_name(menu).items()}
    assert tags == {
        "Margherita": ["house-special"],
        "Diavola": ["house-special"],
        "Veggie Supreme": [],
        "Coke": ["cold"],
        "Flat White": ["coffee"],
    }
    assert changed == 3


def test_auto_rule_infers_tags_from_names_and_descriptions() -> None:
    menu, changed = apply_item_tags(sample_menu(), [{"auto": True}])

    tags = {name: item["tags"] for name, item in items_by_name(menu).items()}
    assert tags["Margherita"] == ["vegetarian"]
    assert tags["Diavola"] == ["spicy"]
    assert tags["Veggie Supreme"] == ["vegetarian"]
    assert tags["Flat White"] == []
    assert changed == 3


@pytest.mark.parametrize(
    ("name", "description", "tags"),
    [
        ("Tofu Bowl", "Vegan, gluten-free", ["gluten-free", "vegan", "vegetarian"]),
        ("Chicken Curry", "Non-vegetarian, not spicy", []),
        ("Wedges", "Sour cream and sweet chilli", []),
        ("Dan Dan Noodles", "Sichuan pepper", ["spicy"]),
        ("Jalapeño Poppers", "", ["spicy"]),
        ("Falafel Wrap (VG)", "", ["vegan", "vegetarian"]),
        ("Steak (GF)", "Our best seller", ["gluten-free", "popular"]),
        ("Chef's Special Ramen", "", ["popular"]),
        ("Vegetable Soup", "", []),
    ],
)
def test_infer_tags_uses_the_keyword_table(name: str, description: str, tags: list[str]) -> None:
    assert infer_tags(name, description) == tags


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ([{"tag": "vegan"}], "rules.0.match"),
        ([{"auto": True}, {"match": {"category": "Drinks"}}], "rules.1.tag"),
        ([{"tag": "vegan", "match": {}}], "rules.0.match"),
        ([{"tag": "vegan", "match": {"name_contains": []}}], "rules.0.match"),
        ([{"tag": "vegan", "match": {"catgory": "Drinks"}}], "rules.0.match.catgory"),
        ([{"tag": "vegan", "match": {"name_contains": [" "]}}], "rules.0.match.name_contains.0"),
        ([{"tag": "?", "match": {"category": "Drinks"}}], "rules.0.tag"),
        ([{"auto": "yes"}], "rules.0.auto"),
        ([{"auto": True, "tag": "vegan"}], "rules.0.tag"),
        (["vegan"], "rules.0"),
    ],
)
def test_bad_tag_rules_name_the_field(rules: list[Any], field: str) -> None:
    assert field_of(lambda: apply_item_tags(sample_menu(), rules)) == field


@settings(max_examples=50)
@given(raw_menus, tag_rules)
def test_applying_tag_rules_twice_changes_nothing_the_second_time(
    raw: dict[str, Any], rules: list[Any]
) -> None:
    before = copy.deepcopy(raw)

    once, _ = apply_item_tags(raw, rules)
    twice, changed = apply_item_tags(once, rules)

    assert (twice, changed) == (once, 0)
    assert raw == before


# --- apply_option_sets -------------------------------------------------------------------------------

SIZE_FOR_DRINKS = {
    "name": "size",
    "required": True,
    "min": 1,
    "max": 1,
    "options": [{"name": "Regular"}, {"name": "Large", "price_delta": "1.50"}],
    "applies_to": {"category": "drinks"},
}


def test_option_sets_attach_to_matching_items_and_replace_a_group_of_the_same_name() -> None:
    pizza_size = {
        **SIZE_FOR_DRINKS,
        "name": "Size",
        "applies_to": {"name_contains": ["margherita", "diavola"]},
    }

    menu, changed = apply_option_sets(sample_menu(), [SIZE_FOR_DRINKS, pizza_size])

    items = items_by_name(menu)
    expected = {
        "name": "Size",
        "required": True,
        "min": 1,
        "max": 1,
        "options": [{"name": "Regular", "price_delta": "0.00"}, {"name": "Large", "price_delta": "1.50"}],
    }
    assert items["Margherita"]["option_groups"] == [expected]
    assert items["Diavola"]["option_groups"] == [expected]
    assert items["Coke"]["option_groups"] == [{**expected, "name": "size"}]
    assert items["Veggie Supreme"]["option_groups"] == []
    assert changed == 4


def test_an_option_set_is_appended_after_the_item_groups_with_other_names() -> None:
    extras = {
        "name": "Extras",
        "max": 2,
        "options": ["Olives", "Anchovies"],
        "applies_to": {"category": "Pizzas"},
    }

    menu, _ = apply_option_sets(sample_menu(), [extras])

    assert [group["name"] for group in items_by_name(menu)["Margherita"]["option_groups"]] == [
        "Size",
        "Extras",
    ]


@settings(max_examples=50)
@given(raw_menus, st.lists(option_groups(), min_size=1, max_size=2))
def test_applying_option_sets_twice_changes_nothing_the_second_time(
    raw: dict[str, Any], groups: list[dict[str, Any]]
) -> None:
    raw["currency"] = "NZD"
    sets = [{**group, "applies_to": {"name_contains": ["a"]}} for group in groups]
    before = copy.deepcopy(sets)

    once, _ = apply_option_sets(raw, sets)
    twice, changed = apply_option_sets(once, sets)

    assert (twice, changed) == (once, 0)
    assert sets == before


@pytest.mark.parametrize(
    ("option_set", "field"),
    [
        ({k: v for k, v in SIZE_FOR_DRINKS.items() if k != "applies_to"}, "option_sets.0.applies_to"),
        ({**SIZE_FOR_DRINKS, "options": []}, "option_sets.0.options"),
        ({**SIZE_FOR_DRINKS, "min": 2, "max": 1}, "option_sets.0.max"),
        ({**SIZE_FOR_DRINKS, "max": 0}, "option_sets.0.max"),
        (
            {**SIZE_FOR_DRINKS, "options": [{"name": "Large", "price_delta": "1.555"}]},
            "option_sets.0.options.0.price_delta",
        ),
        ({**SIZE_FOR_DRINKS, "applies_to": {"everything": True}}, "option_sets.0.applies_to.everything"),
        ({**SIZE_FOR_DRINKS, "item_names": ["Coke"]}, "option_sets.0.item_names"),
    ],
)
def test_bad_option_sets_name_the_field(option_set: dict[str, Any], field: str) -> None:
    assert field_of(lambda: apply_option_sets(sample_menu(), [option_set])) == field


# --- parse_menu_csv ----------------------------------------------------------------------------------


def test_parse_menu_csv_reads_categories_in_order_with_tags_and_quoted_cells() -> None:
    text = (
        "\ufeffCategory, Name ,description,price,image_url,tags\r\n"
        'Pizzas,Margherita,"Tomato, basil",18.5,https://img.example/m.jpg,Vegetarian|popular\r\n'
        'Drinks,Coke,"Ice-cold\nclassic",$4.50,,\r\n'
        ",,,,,\r\n"
        "pizzas,Diavola,,23,,spicy| \r\n"
    )

    menu = parse_menu_csv(text)

    assert menu["currency"] == "NZD"
    assert [
        (c, i["name"], i["description"], i["price"], i["image_url"], i["tags"]) for c, i in _pairs(menu)
    ] == [
        (
            "Pizzas",
            "Margherita",
            "Tomato, basil",
            "18.50",
            "https://img.example/m.jpg",
            ["popular", "vegetarian"],
        ),
        ("Pizzas", "Diavola", "", "23.00", None, ["spicy"]),
        ("Drinks", "Coke", "Ice-cold\nclassic", "4.50", None, []),
    ]
    assert menu == normalise_menu(menu)


def test_parse_menu_csv_accepts_columns_in_any_order_and_without_optional_ones() -> None:
    menu = parse_menu_csv("price,name,category\n9.90,Fries,Sides\n", currency="aud")

    assert menu["currency"] == "AUD"
    assert _pairs(menu)[0][1]["price"] == "9.90"


def test_parse_menu_csv_reports_every_bad_cell_naming_row_and_column() -> None:
    text = (
        "category,name,description,price\n"
        "Pizzas,Margherita,,18\n"
        "Pizzas,Diavola,,twenty\n"
        ",Coke,,4\n"
        "Drinks,,,4\n"
        "Drinks,Water,,1,extra\n"
    )

    with pytest.raises(InvalidInput) as caught:
        parse_menu_csv(text)

    assert caught.value.field == "row 3: price"
    assert [error["field"] for error in caught.value.errors] == [
        "row 3: price",
        "row 4: category",
        "row 5: name",
        "row 6",
    ]
    assert "and 3 more" in caught.value.message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("", "row 1"),
        ("\n\n", "row 1"),
        ("category,name,price\n", "row 2"),
        ("category,name\nPizzas,Margherita\n", "row 1: price"),
        ("category,name,price,colour\n", "row 1: colour"),
        ("category,name,price,name\n", "row 1: name"),
        ("category,name,price,tags\nA,B,1,good|?\n", "row 2: tags"),
        ("category,name,price,image_url\nA,B,1,not a url\n", "row 2: image_url"),
        ("category,name,price\nA,B,-3\n", "row 2: price"),
        ('category,name,price\nA,"B\n', "row 2"),
    ],
)
def test_parse_menu_csv_names_the_row_and_column_of_an_error(text: str, field: str) -> None:
    assert field_of(lambda: parse_menu_csv(text)) == field


def _to_csv(menu: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["category", "name", "description", "price", "image_url", "tags"])
    for category, item in _pairs(menu):
        writer.writerow(
            [
                category,
                item["name"],
                item["description"],
                item["price"],
                item["image_url"] or "",
                "|".join(item["tags"]),
            ]
        )
    return out.getvalue()


@given(raw_menus)
def test_a_menu_written_as_csv_parses_back_to_itself_without_option_groups(raw: dict[str, Any]) -> None:
    for category in raw["categories"]:
        for item in category["items"]:
            item.pop("option_groups", None)
    menu = normalise_menu(raw)
    if not _pairs(menu):
        return

    assert parse_menu_csv(_to_csv(menu), currency=menu["currency"]) == {
        "currency": menu["currency"],
        "categories": [category for category in menu["categories"] if category["items"]],
    }


# --- merge_menus -------------------------------------------------------------------------------------


def test_merge_menus_prefers_later_prices_and_descriptions_and_keeps_earlier_images() -> None:
    first = sample_menu()
    second = {
        "categories": [
            {
                "name": "PIZZAS",
                "items": [
                    {
                        "name": "margherita",
                        "description": "",
                        "price": "19.00",
                        "tags": ["popular"],
                        "option_groups": [
                            {
                                "name": "size",
                                "min": 1,
                                "max": 1,
                                "options": [{"name": "Large", "price_delta": "7.00"}, {"name": "Family"}],
                            },
                            {"name": "Crust", "options": ["Thin"]},
                        ],
                    },
                    {
                        "name": "Diavola",
                        "description": "Hot salami",
                        "price": "24.00",
                        "image_url": "https://img.example/d.jpg",
                    },
                    {"name": "Calzone", "price": "22.00"},
                ],
            },
            {"name": "Desserts", "items": [{"name": "Tiramisu", "price": "11.00"}]},
        ]
    }

    merged = merge_menus([first, second])

    assert [(c, i["name"]) for c, i in _pairs(merged)] == [
        ("Pizzas", "Margherita"),
        ("Pizzas", "Diavola"),
        ("Pizzas", "Veggie Supreme"),
        ("Pizzas", "Calzone"),
        ("Drinks", "Coke"),
        ("Drinks", "Flat White"),
        ("Desserts", "Tiramisu"),
    ]
    items = items_by_name(merged)
    margherita = items["Margherita"]
    assert (margherita["price"], margherita["description"]) == ("19.00", "Tomato, fior di latte, basil (V)")
    assert margherita["image_url"] == "https://img.example/margherita.jpg"
    assert margherita["tags"] == ["popular"]
    assert margherita["id"] == items_by_name(normalise_menu(first))["Margherita"]["id"]
    assert margherita["option_groups"] == [
        {
            "name": "size",
            "required": True,
            "min": 1,
            "max": 1,
            "options": [
                {"name": "Small", "price_delta": "-4.00"},
                {"name": "Large", "price_delta": "7.00"},
                {"name": "Family", "price_delta": "0.00"},
            ],
        },
        {
            "name": "Crust",
            "required": False,
            "min": 0,
            "max": 1,
            "options": [{"name": "Thin", "price_delta": "0.00"}],
        },
    ]
    assert (items["Diavola"]["description"], items["Diavola"]["image_url"]) == (
        "Hot salami",
        "https://img.example/d.jpg",
    )


def test_merge_menus_gives_a_clashing_later_item_id_a_new_one() -> None:
    first = {"categories": [{"name": "A", "items": [{"id": "x1", "name": "Fries", "price": 5}]}]}
    second = {"categories": [{"name": "B", "items": [{"id": "x1", "name": "Salad", "price": 9}]}]}

    merged = merge_menus([first, second])

    assert [item["id"] == "x1" for _, item in _pairs(merged)] == [True, False]


@pytest.mark.parametrize(
    ("menus", "field"),
    [
        ([], "menus"),
        ([{"currency": "NZD"}, {"currency": "AUD"}], "menus.1.currency"),
        (
            [{}, {"categories": [{"name": "A", "items": [{"name": "B"}]}]}],
            "menus.1.categories.0.items.0.price",
        ),
    ],
)
def test_merge_menus_names_the_bad_field(menus: list[dict[str, Any]], field: str) -> None:
    assert field_of(lambda: merge_menus(menus)) == field


@settings(max_examples=50)
@given(raw_menus, raw_menus)
def test_merge_menus_is_deterministic_and_merging_a_menu_with_itself_changes_nothing(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    if first.get("currency", "NZD") != second.get("currency", "NZD"):
        first["currency"] = second["currency"] = "NZD"
    menu = normalise_menu(first)
    before = copy.deepcopy((first, second))

    assert merge_menus([first]) == menu
    assert merge_menus([menu, menu]) == menu
    assert merge_menus([first, second]) == merge_menus([first, second])
    merged = merge_menus([first, second])
    assert (first, second) == before
    assert normalise_menu(merged) == merged
    assert len(_pairs(merged)) >= max(len(_pairs(menu)), len(_pairs(normalise_menu(second))))
    assert merge_menus([merged, second]) == merged


# --- bulk_update -------------------------------------------------------------------------------------


def test_price_percent_moves_every_price_rounding_half_up_to_cents() -> None:
    raw = {
        "categories": [
            {
                "name": "A",
                "items": [
                    {"name": n, "price": p}
                    for n, p in [("a", "10.00"), ("b", "9.99"), ("c", "0.10"), ("d", "0")]
                ],
            }
        ]
    }

    menu, changed = bulk_update(raw, {"price_percent": 5})

    assert [item["price"] for _, item in _pairs(menu)] == ["10.50", "10.49", "0.11", "0.00"]
    assert changed == 3


@given(st.lists(cents, min_size=1, max_size=5), st.decimals(min_value=-99, max_value=200, places=2))
def test_price_percent_matches_the_rounded_formula(prices: list[int], percent: Decimal) -> None:
    raw = {
        "categories": [
            {
                "name": "A",
                "items": [{"name": f"i{n}", "price": Decimal(c) / 100} for n, c in enumerate(prices)],
            }
        ]
    }

    menu, _ = bulk_update(raw, {"price_percent": str(percent)})

    expected = [
        (Decimal(c) / 100 * (100 + percent) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        for c in prices
    ]
    assert [Decimal(item["price"]) for _, item in _pairs(menu)] == expected


def test_set_replaces_the_given_fields_of_the_selected_items() -> None:
    menu, changed = bulk_update(
        sample_menu(),
        {"set": {"category": "drinks", "fields": {"tags": ["Cold", "drink"], "description": "Chilled"}}},
    )

    items = items_by_name(menu)
    assert [(items[n]["tags"], items[n]["description"]) for n in ("Coke", "Flat White")] == [
        (["cold", "drink"], "Chilled"),
        (["cold", "drink"], "Chilled"),
    ]
    assert items["Margherita"]["tags"] == []
    assert changed == 2
    assert bulk_update(menu, {"set": {"category": "drinks", "fields": {"tags": ["drink", "cold"]}}})[1] == 0


def test_set_option_groups_gives_each_item_its_own_copy() -> None:
    groups = [{"name": "Milk", "options": ["Oat"]}]

    menu, _ = bulk_update(sample_menu(), {"set": {"category": "Drinks", "fields": {"option_groups": groups}}})

    coke, flat_white = items_by_name(menu)["Coke"], items_by_name(menu)["Flat White"]
    assert coke["option_groups"] == flat_white["option_groups"]
    assert coke["option_groups"][0] is not flat_white["option_groups"][0]
    assert coke["option_groups"][0]["options"][0] is not flat_white["option_groups"][0]["options"][0]


def test_rename_category_keeps_item_ids_and_repeating_it_changes_nothing() -> None:
    before = normalise_menu(sample_menu())
    change = {"rename_category": {"from": "drinks", "to": "Beverages"}}

    menu, changed = bulk_update(before, change)

    assert [c["name"] for c in menu["categories"]] == ["Pizzas", "Beverages"]
    assert menu["categories"][1]["items"] == before["categories"][1]["items"]
    assert changed == 1
    assert bulk_update(menu, change) == (menu, 0)


def test_rename_category_to_another_category_name_is_refused() -> None:
    change = {"rename_category": {"from": "Drinks", "to": "pizzas"}}

    assert field_of(lambda: bulk_update(sample_menu(), change)) == "changes.rename_category.to"


def test_remove_items_ignores_unknown_ids_so_repeating_it_changes_nothing() -> None:
    coke_id = items_by_name(normalise_menu(sample_menu()))["Coke"]["id"]

    menu, changed = bulk_update(sample_menu(), {"remove_items": [coke_id, "no-such-item"]})

    assert "Coke" not in items_by_name(menu)
    assert changed == 1
    assert bulk_update(menu, {"remove_items": [coke_id]}) == (menu, 0)


def test_a_list_of_changes_applies_in_order() -> None:
    changes: list[dict[str, Any]] = [
        {"rename_category": {"from": "Drinks", "to": "Beverages"}},
        {"set": {"category": "Beverages", "fields": {"price": "3"}}},
        {"price_percent": 10},
    ]

    menu, changed = bulk_update(sample_menu(), changes)

    assert [items_by_name(menu)[n]["price"] for n in ("Coke", "Margherita")] == ["3.30", "19.80"]
    assert changed == 1 + 2 + 5


def test_one_mapping_applies_rename_then_remove_then_set_then_price_percent() -> None:
    changes = {
        "price_percent": 100,
        "set": {"category": "Beverages", "fields": {"price": "1"}},
        "rename_category": {"from": "Drinks", "to": "Beverages"},
    }

    menu, _ = bulk_update(sample_menu(), changes)

    assert items_by_name(menu)["Coke"]["price"] == "2.00"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({}, "changes"),
        ({"price_percent": -100}, "changes.price_percent"),
        ({"price_percent": "lots"}, "changes.price_percent"),
        ({"price_percent": None}, "changes.price_percent"),
        ({"discount": 5}, "changes.discount"),
        ({"set": {"fields": {"price": 1}}}, "changes.set"),
        ({"set": {"category": "Drinks"}}, "changes.set.fields"),
        ({"set": {"category": "Drinks", "fields": {}}}, "changes.set.fields"),
        ({"set": {"category": "Drinks", "fields": {"name": "Pop"}}}, "changes.set.fields.name"),
        ({"set": {"category": "Drinks", "fields": {"price": "-2"}}}, "changes.set.fields.price"),
        ({"set": {"category": "Drinks", "fields": {"tags": "cold"}}}, "changes.set.fields.tags"),
        ({"remove_items": "abc"}, "changes.remove_items"),
        ({"rename_category": {"from": "Drinks"}}, "changes.rename_category.to"),
        ([{"price_percent": 5}, {"price_percent": 2000}], "changes.1.price_percent"),
        ([{"price_percent": 5}, "oops"], "changes.1"),
    ],
)
def test_bad_bulk_changes_name_the_field(changes: Any, field: str) -> None:
    assert field_of(lambda: bulk_update(sample_menu(), changes)) == field


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: apply_item_tags(m, [{"auto": True}, {"tag": "x", "match": {"category": "Pizzas"}}]),
        lambda m: apply_option_sets(m, [SIZE_FOR_DRINKS]),
        lambda m: merge_menus([m, m]),
        lambda m: bulk_update(
            m, {"price_percent": 5, "set": {"category": "Drinks", "fields": {"tags": ["x"]}}}
        ),
        lambda m: bulk_update(m, {"rename_category": {"from": "Drinks", "to": "Bar"}, "remove_items": ["x"]}),
    ],
)
def test_edits_never_change_the_menu_they_are_given(edit: Callable[[dict[str, Any]], object]) -> None:
    for menu in (sample_menu(), normalise_menu(sample_menu())):
        before = copy.deepcopy(menu)
        edit(menu)
        assert menu == before


def test_parse_menu_csv_stops_after_fifty_bad_rows() -> None:
    text = "category,name,price\n" + "Pizzas,Margherita,free\n" * 80

    with pytest.raises(InvalidInput) as caught:
        parse_menu_csv(text)

    assert len(caught.value.errors) == 50
    assert caught.value.errors[-1]["field"] == "row 51: price"


# --- any bad input ------------------------------------------------------------------------------------

KEYS = ["name", "price", "items", "categories", "options", "min", "max", "tags", "id", "currency", "fields"]
KEYS += ["category", "from", "to", "auto", "tag", "match", "applies_to", "name_contains", "item_ids", "set"]
KEYS += ["price_percent", "remove_items", "rename_category", "description", "image_url", "option_groups"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    max_leaves=10,
)


def _leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    children = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    )
    return [path, *(p for key, inner in children for p in _leaf_paths(inner, (*path, key)))]


@st.composite
def damaged_menus(draw: st.DrawFn) -> dict[str, Any]:
    """The sample menu with one value anywhere in it replaced by arbitrary JSON."""
    menu = sample_menu()
    *parents, last = draw(st.sampled_from(_leaf_paths(menu)[1:]))
    target: Any = menu
    for key in parents:
        target = target[key]
    target[last] = draw(json_values)
    return menu


@given(st.one_of(damaged_menus(), json_values), json_values)
def test_bad_input_only_ever_raises_invalid_input(menu: Any, argument: Any) -> None:
    calls: list[Callable[[], object]] = [
        lambda: normalise_menu(menu),
        lambda: merge_menus([sample_menu(), menu]),
        lambda: apply_item_tags(sample_menu(), argument),
        lambda: apply_option_sets(sample_menu(), argument),
        lambda: bulk_update(sample_menu(), argument),
    ]
    for call in calls:
        with contextlib.suppress(InvalidInput):
            call()


def test_describe_items_fills_only_missing_descriptions_and_is_idempotent() -> None:
    from onboardflow.domain.menus import describe_items

    menu = {
        "categories": [
            {
                "name": "Pizzas",
                "items": [
                    {"name": "Margherita", "price": "18.00", "tags": ["vegetarian"]},
                    {"name": "Pepperoni", "price": "20.00", "description": "Hot and spicy."},
                ],
            }
        ]
    }
    described, changed = describe_items(menu)
    items = described["categories"][0]["items"]
    assert changed == 1
    assert items[0]["description"] == "Margherita, from our pizzas menu (vegetarian)."
    assert items[1]["description"] == "Hot and spicy."
    assert describe_items(described) == (described, 0)
