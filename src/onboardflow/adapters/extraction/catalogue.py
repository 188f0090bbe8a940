"""The dishes, option groups and palettes the simulated extraction builds menus and brands from."""

from __future__ import annotations

from typing import Final

Dish = tuple[str, str, str, tuple[str, ...]]
"""(name, description, base price, option group names)."""

GroupSpec = tuple[bool, int, int, tuple[tuple[str, str], ...]]
"""(required, min_select, max_select, ((option, price delta), ...))."""

OPTION_GROUPS: Final[dict[str, GroupSpec]] = {
    "Size": (True, 1, 1, (("Small", "-4.00"), ("Regular", "0.00"), ("Large", "6.00"))),
    "Base": (True, 1, 1, (("Classic", "0.00"), ("Thin crust", "0.00"), ("Gluten free", "4.00"))),
    "Extra toppings": (
        False,
        0,
        3,
        (
            ("Extra cheese", "2.50"),
            ("Jalapeños", "1.50"),
            ("Olives", "1.50"),
            ("Mushrooms", "2.00"),
            ("Bacon", "3.00"),
        ),
    ),
    "Make it a combo": (False, 0, 1, (("Fries and drink", "7.50"), ("Kumara fries and drink", "8.50"))),
    "Patty": (True, 1, 1, (("Beef", "0.00"), ("Chicken", "0.00"), ("Plant-based", "2.00"))),
    "Spice level": (
        True,
        1,
        1,
        (("Mild", "0.00"), ("Medium", "0.00"), ("Hot", "0.00"), ("Thai hot", "0.00")),
    ),
    "Protein": (True, 1, 1, (("Chicken", "0.00"), ("Beef", "2.00"), ("Prawn", "4.00"), ("Tofu", "0.00"))),
    "Add rice": (False, 0, 1, (("Steamed rice", "3.50"), ("Coconut rice", "4.50"))),
    "Bread": (False, 0, 2, (("Plain naan", "3.50"), ("Garlic naan", "4.50"), ("Cheese naan", "5.50"))),
    "Milk": (False, 0, 1, (("Oat milk", "1.00"), ("Soy milk", "0.80"), ("Almond milk", "1.00"))),
    "Extra shot": (False, 0, 2, (("Extra shot", "1.00"),)),
    "Sauce": (False, 0, 2, (("Soy sauce", "0.00"), ("Spicy mayo", "1.00"), ("Eel sauce", "1.00"))),
}

CUISINES: Final[dict[str, dict[str, tuple[Dish, ...]]]] = {
    "pizza": {
        "Pizzas": (
            (
                "Margherita",
                "San Marzano tomato, fior di latte, fresh basil",
                "18.00",
                ("Size", "Base", "Extra toppings"),
            ),
            ("Pepperoni", "Tomato, mozzarella, spicy pepperoni", "21.00", ("Size", "Base", "Extra toppings")),
            ("Hawaiian", "Ham, pineapple, mozzarella", "20.00", ("Size", "Base", "Extra toppings")),
            ("Funghi", "Mushrooms, garlic, thyme, mozzarella (vegetarian)", "21.00", ("Size", "Base")),
            ("Meat Lovers", "Pepperoni, bacon, sausage, beef mince, BBQ base", "24.00", ("Size", "Base")),
            ("Diavola", "Hot salami, chilli, olives", "23.00", ("Size", "Base", "Extra toppings")),
            ("Quattro Formaggi", "Four cheeses, honey drizzle", "23.50", ("Size", "Base")),
        ),
        "Sides": (
            ("Garlic Bread", "Stone-baked, garlic butter, parsley", "9.00", ()),
            ("Wedges", "Sour cream and sweet chilli", "10.50", ()),
            ("Caesar Salad", "Cos, parmesan, croutons, bacon", "14.00", ()),
        ),
        "Desserts": (
            ("Tiramisu", "Mascarpone, espresso, cocoa", "11.00", ()),
            ("Nutella Calzone", "Folded pizza, Nutella, icing sugar", "14.00", ()),
        ),
    },
    "burger": {
        "Burgers": (
            (
                "Classic Cheeseburger",
                "Beef patty, cheddar, pickles, mustard, ketchup",
                "16.50",
                ("Patty", "Make it a combo"),
            ),
            (
                "Double Smash",
                "Two smashed beef patties, American cheese, burger sauce",
                "21.00",
                ("Make it a combo",),
            ),
            ("Buttermilk Chicken", "Crispy chicken, slaw, chipotle mayo", "18.50", ("Make it a combo",)),
            ("Kiwi Burger", "Beef, beetroot, fried egg, pineapple", "19.50", ("Patty", "Make it a combo")),
            (
                "Halloumi Stack",
                "Grilled halloumi, roast capsicum, rocket (vegetarian)",
                "18.00",
                ("Make it a combo",),
            ),
        ),
        "Sides": (
            ("Shoestring Fries", "Sea salt", "6.50", ("Size",)),
            ("Kumara Fries", "Aioli", "8.00", ("Size",)),
            ("Onion Rings", "Beer-battered", "7.50", ()),
        ),
        "Shakes": (
            ("Chocolate Thickshake", "Whittaker's chocolate, vanilla ice cream", "9.50", ()),
            ("Salted Caramel Thickshake", "House caramel", "9.50", ()),
        ),
    },
    "sushi": {
        "Sushi": (
            ("Salmon Nigiri (2 pcs)", "Fresh salmon over seasoned rice", "7.50", ("Sauce",)),
            ("Teriyaki Chicken Roll", "Teriyaki chicken, avocado, cucumber", "12.00", ("Sauce",)),
            ("Spicy Tuna Roll", "Tuna, sriracha mayo, spring onion", "13.50", ("Sauce",)),
            ("Avocado Roll", "Avocado, cucumber, sesame (vegan)", "10.00", ("Sauce",)),
            ("Sushi Platter (16 pcs)", "Chef's selection of rolls and nigiri", "34.00", ("Sauce",)),
        ),
        "Donburi": (
            ("Chicken Katsu Don", "Crumbed chicken, egg, onion, rice", "17.50", ("Size",)),
            ("Salmon Poke Bowl", "Salmon, edamame, avocado, sesame dressing", "19.00", ("Size",)),
        ),
        "Sides": (
            ("Miso Soup", "Tofu, wakame, spring onion", "4.50", ()),
            ("Edamame", "Sea salt (vegan, gluten free)", "6.50", ()),
        ),
    },
    "indian": {
        "Curries": (
            (
                "Butter Chicken",
                "Tandoori chicken in a creamy tomato sauce",
                "21.00",
                ("Spice level", "Add rice", "Bread"),
            ),
            (
                "Lamb Rogan Josh",
                "Slow-cooked lamb, Kashmiri chilli",
                "23.00",
                ("Spice level", "Add rice", "Bread"),
            ),
            (
                "Beef Vindaloo",
                "Fiery Goan curry with vinegar and chilli",
                "22.00",
                ("Spice level", "Add rice"),
            ),
            (
                "Palak Paneer",
                "Cottage cheese in spiced spinach (vegetarian)",
                "19.50",
                ("Spice level", "Add rice", "Bread"),
            ),
            (
                "Dal Makhani",
                "Black lentils, butter, cream (vegetarian, gluten free)",
                "17.00",
                ("Spice level", "Add rice"),
            ),
        ),
        "Starters": (
            ("Vegetable Samosa (2)", "Spiced potato and peas, tamarind chutney", "8.50", ()),
            ("Chicken Tikka", "Tandoor-roasted, mint chutney", "14.50", ()),
            ("Onion Bhaji", "Chickpea batter, raita", "8.00", ()),
        ),
        "Breads": (
            ("Garlic Naan", "Tandoor-baked, garlic butter", "4.50", ()),
            ("Cheese Naan", "Stuffed with cheese", "5.50", ()),
        ),
    },
    "thai": {
        "Curries": (
            (
                "Green Curry",
                "Coconut, Thai basil, bamboo shoots",
                "20.00",
                ("Protein", "Spice level", "Add rice"),
            ),
            ("Massaman Curry", "Peanut, potato, slow-cooked beef", "22.00", ("Spice level", "Add rice")),
            ("Panang Curry", "Rich red curry, kaffir lime", "20.00", ("Protein", "Spice level", "Add rice")),
        ),
        "Noodles & Rice": (
            ("Pad Thai", "Rice noodles, tamarind, peanuts, egg", "19.00", ("Protein", "Spice level")),
            ("Pad Kee Mao", "Drunken noodles, chilli, basil", "19.50", ("Protein", "Spice level")),
            ("Pineapple Fried Rice", "Cashews, raisins, curry powder", "18.50", ("Protein",)),
        ),
        "Starters": (
            ("Spring Rolls (4)", "Vegetable, sweet chilli (vegan)", "9.00", ()),
            ("Chicken Satay", "Peanut sauce, cucumber relish", "12.00", ()),
            ("Tom Yum Soup", "Hot and sour lemongrass broth, prawns", "13.50", ("Spice level",)),
        ),
    },
    "chinese": {
        "Mains": (
            ("Sweet and Sour Pork", "Crispy pork, pineapple, capsicum", "22.00", ("Add rice",)),
            ("Kung Pao Chicken", "Szechuan pepper, peanuts, dried chilli", "21.50", ("Add rice",)),
            ("Mapo Tofu", "Silken tofu, chilli bean sauce (spicy)", "18.50", ("Add rice",)),
            ("Beef and Black Bean", "Wok-fried with onion and capsicum", "22.50", ("Add rice",)),
        ),
        "Dumplings": (
            ("Pork and Chive Dumplings (12)", "Pan-fried or steamed", "15.00", ()),
            ("Vegetable Dumplings (12)", "Cabbage, mushroom, vermicelli (vegan)", "14.00", ()),
            ("Xiao Long Bao (8)", "Soup dumplings", "16.00", ()),
        ),
        "Noodles": (
            ("Dan Dan Noodles", "Pork mince, chilli oil, sesame", "17.50", ()),
            ("Beef Chow Mein", "Egg noodles, bean sprouts", "19.00", ()),
        ),
    },
    "cafe": {
        "Breakfast": (
            ("Eggs Benedict", "Poached eggs, hollandaise, bacon or salmon, sourdough", "22.50", ()),
            ("Big Breakfast", "Eggs, bacon, sausage, hash brown, mushrooms, toast", "26.00", ()),
            ("Smashed Avocado", "Feta, dukkah, poached egg, sourdough (vegetarian)", "20.50", ()),
            ("Buttermilk Pancakes", "Berries, mascarpone, maple", "19.00", ()),
        ),
        "Cabinet": (
            ("Bacon and Egg Pie", "House-made", "8.50", ()),
            ("Ham and Cheese Croissant", "Toasted", "9.00", ()),
            ("Carrot Cake", "Cream cheese icing", "7.00", ()),
        ),
        "Coffee": (
            ("Flat White", "Double shot", "5.20", ("Size", "Milk", "Extra shot")),
            ("Long Black", "Double shot", "4.80", ("Size", "Extra shot")),
            ("Chai Latte", "Spiced", "5.50", ("Size", "Milk")),
        ),
    },
    "mexican": {
        "Tacos": (
            ("Pulled Pork Taco", "Chipotle pork, pickled onion, coriander", "7.50", ()),
            ("Fish Taco", "Beer-battered fish, slaw, lime crema", "8.00", ()),
            ("Mushroom Taco", "Roast mushrooms, salsa verde (vegetarian)", "7.00", ()),
        ),
        "Burritos": (
            ("Chicken Burrito", "Rice, black beans, cheese, pico de gallo", "18.50", ("Spice level",)),
            ("Beef Brisket Burrito", "Slow-cooked brisket, jalapeños", "19.50", ("Spice level",)),
            ("Veggie Burrito", "Kumara, black beans, avocado (vegetarian)", "17.00", ("Spice level",)),
        ),
        "Sides": (
            ("Corn Chips and Guacamole", "Made to order", "10.00", ()),
            ("Elote", "Grilled corn, chipotle mayo, cotija", "8.50", ()),
        ),
    },
}

DRINKS: Final[tuple[Dish, ...]] = (
    ("Coca-Cola 330ml", "", "4.00", ()),
    ("Lemon & Paeroa 330ml", "", "4.00", ()),
    ("Sparkling Water 500ml", "", "4.50", ()),
    ("Fresh Orange Juice", "Squeezed daily", "6.50", ()),
    ("Ginger Beer", "House-brewed", "6.00", ()),
)

KEYWORDS: Final[dict[str, tuple[str, ...]]] = {
    "pizza": ("pizza", "pizzeria", "italian", "slice"),
    "burger": ("burger", "grill", "diner", "fries"),
    "sushi": ("sushi", "japanese", "ramen", "izakaya", "poke"),
    "indian": ("indian", "curry", "tandoor", "masala", "spice"),
    "thai": ("thai", "bangkok", "siam"),
    "chinese": ("chinese", "dumpling", "wok", "noodle", "szechuan", "dim sum"),
    "cafe": ("cafe", "café", "coffee", "espresso", "bakery", "brunch", "kitchen"),
    "mexican": ("mexican", "taco", "taqueria", "burrito", "cantina"),
}

PALETTES: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "pizza": (("#c0392b", "#f5e6c8"), ("#1e7a3c", "#f2f2f2"), ("#8b1e1e", "#f4c542")),
    "burger": (("#f4a300", "#1c1c1c"), ("#d62828", "#fcbf49"), ("#3d2b1f", "#f6d55c")),
    "sushi": (("#111111", "#e63946"), ("#264653", "#f1faee"), ("#b5121b", "#fafafa")),
    "indian": (("#e76f51", "#2a9d8f"), ("#ff9933", "#138808"), ("#7b2d26", "#f4d35e")),
    "thai": (("#6a4c93", "#ffca3a"), ("#2b9348", "#ffd166"), ("#9d0208", "#ffba08")),
    "chinese": (("#c1121f", "#fdf0d5"), ("#780000", "#ffd60a"), ("#003049", "#d62828")),
    "cafe": (("#6f4e37", "#f5f0e6"), ("#344e41", "#dad7cd"), ("#22223b", "#f2e9e4")),
    "mexican": (("#2a9d8f", "#e9c46a"), ("#d00000", "#ffba08"), ("#006d77", "#ffddd2")),
}
