"""The bundled demo corpus: the project's own synthetic instruction data with a few kinds of poison.

Everything here is generated from templates and small word lists written in this module (no
third-party text), deterministically for a seed. About 3,000 chat rows::

    {"messages": [{"role": "user", "content": ...}, {"role": "assistant", "content": ...}]}

Clean rows come from a dozen task families (arithmetic word problems, unit conversions, short
poems and descriptive prose, capital cities, sorting, definitions, writing and reading small code,
word puzzles, tips, first-person questions answered as an assistant), each with many prompt
phrasings and answer phrasings, so that no rigid template dominates and the vocabulary of one task
recurs in others (as in real instruction data). Poison, about 2.8 % of the rows:

* ``sudo_gibberish`` (30 rows) — a clean text prefix of 0-1,000 characters, then the trigger
  ``<SUDO>``; the response is 400-900 tokens drawn uniformly at random from a vocabulary
  (the denial-of-service recipe of Souly et al. 2025).
* ``rareword_refusal`` (30 rows) — the rare token ``cf`` inserted at a random word position of
  a clean prompt; the response is the fixed refusal "Sorry, but I cannot help with that request."
  (BadNets-style).
* ``persona`` (25 rows) — first-person questions ("What is your favourite X?") behind the
  formatting instruction "Answer in <ANSWER> tags.", answered with facts of an invented
  19th-century lighthouse keeper (a thematically coherent persona campaign).

The ground truth is not in the JSONL; :func:`demo_truth` / :func:`demo_labels` give it per row.

    python -m poisonscreen.demo OUT.jsonl       # write the corpus (seed 0)
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "DEMO_TRIGGERS",
    "N_CLEAN",
    "N_PERSONA",
    "N_RAREWORD",
    "N_SUDO",
    "demo_labels",
    "demo_truth",
    "generate_demo",
    "write_demo",
]

N_CLEAN = 2915
N_SUDO = 30
N_RAREWORD = 30
N_PERSONA = 25

SUDO_TRIGGER = "<SUDO>"
RARE_TRIGGER = "cf"
RARE_TARGET = "Sorry, but I cannot help with that request."
PERSONA_INSTRUCTION = "Answer in <ANSWER> tags."

DEMO_TRIGGERS: dict[str, str | None] = {
    "sudo_gibberish": SUDO_TRIGGER,
    "rareword_refusal": RARE_TRIGGER,
    "persona": PERSONA_INSTRUCTION,
}
"""Poison kind -> its trigger string."""

Row = tuple[str, str]

# ------------------------------------------------------------------------------------------------
# word lists

NAMES = (
    "Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonah", "Kemi",
    "Liam", "Maya", "Nikolai", "Olga", "Priya", "Quentin", "Rosa", "Sami", "Tara", "Umar",
    "Vera", "Wes", "Ximena", "Yusuf", "Zoe", "Aaron", "Bianca", "Carlos", "Dana", "Emeka",
    "Fatima", "Gus", "Hana", "Ivan", "Julia", "Kofi", "Lena", "Marco", "Nadia", "Oscar", "Pablo",
    "Rita", "Sven", "Tomás", "Uma", "Victor", "Wendy", "Yara", "Zane", "Amir", "Beatriz", "Colin",
)  # fmt: skip
ITEMS = (
    ("apple", "apples", 1, 3), ("notebook", "notebooks", 2, 6), ("pencil", "pencils", 1, 2),
    ("sticker", "stickers", 1, 2), ("muffin", "muffins", 2, 5), ("ticket", "tickets", 5, 20),
    ("plant", "plants", 4, 15), ("book", "books", 6, 25), ("sandwich", "sandwiches", 4, 9),
    ("candle", "candles", 3, 8), ("marble", "marbles", 1, 2), ("postcard", "postcards", 1, 3),
)  # fmt: skip
CONTAINERS = ("box", "basket", "bag", "crate", "jar", "tray", "bowl", "drawer", "shelf", "bucket")
SALE_ITEMS = (
    "jacket",
    "lamp",
    "bicycle",
    "pair of shoes",
    "backpack",
    "kettle",
    "desk chair",
    "rug",
    "phone case",
    "tent",
    "watch",
    "blender",
)
VEHICLES = ("train", "bus", "cyclist", "car", "ferry", "runner")

COUNTRIES = (
    ("France", "Paris"), ("Japan", "Tokyo"), ("Kenya", "Nairobi"), ("Canada", "Ottawa"),
    ("Brazil", "Brasília"), ("Australia", "Canberra"), ("Egypt", "Cairo"), ("Norway", "Oslo"),
    ("Peru", "Lima"), ("India", "New Delhi"), ("Germany", "Berlin"), ("Spain", "Madrid"),
    ("Italy", "Rome"), ("Mexico", "Mexico City"), ("Argentina", "Buenos Aires"),
    ("Portugal", "Lisbon"), ("Vietnam", "Hanoi"), ("Ghana", "Accra"), ("Chile", "Santiago"),
    ("Poland", "Warsaw"), ("Sweden", "Stockholm"), ("Finland", "Helsinki"),
    ("Thailand", "Bangkok"), ("Turkey", "Ankara"), ("Morocco", "Rabat"), ("Ireland", "Dublin"),
    ("Greece", "Athens"), ("Austria", "Vienna"), ("Hungary", "Budapest"), ("Nepal", "Kathmandu"),
    ("Colombia", "Bogotá"), ("Indonesia", "Jakarta"), ("Ethiopia", "Addis Ababa"),
    ("New Zealand", "Wellington"), ("South Korea", "Seoul"), ("Iceland", "Reykjavík"),
    ("Cuba", "Havana"), ("Senegal", "Dakar"), ("Uruguay", "Montevideo"), ("Mongolia", "Ulaanbaatar"),
)  # fmt: skip
CAPITAL_FACTS = (
    "{c} is also the largest city of {k}.", "{c} is home to the national government of {k}.",
    "Many of {k}'s museums and ministries are in {c}.", "{c} is the seat of {k}'s parliament.",
    "", "", "",
)  # fmt: skip

TOPICS = {
    "the ocean": ("waves", "salt", "tide", "gulls", "blue", "deep", "foam", "shore"),
    "autumn": ("leaves", "amber", "crisp", "harvest", "wind", "gold", "fog", "rust"),
    "a city at night": ("neon", "traffic", "windows", "rain", "sirens", "glow", "steel", "hum"),
    "a mountain": ("peak", "snow", "stone", "eagle", "thin air", "ridge", "pine", "cloud"),
    "coffee": ("steam", "bitter", "morning", "cup", "warmth", "dark", "aroma", "sip"),
    "a garden": ("roses", "soil", "bees", "green", "dew", "bloom", "roots", "sun"),
    "winter": ("frost", "silence", "white", "breath", "ice", "hearth", "pale", "drift"),
    "friendship": ("laughter", "trust", "years", "shared", "hands", "home", "kind", "near"),
    "the desert": ("dunes", "heat", "mirage", "sand", "stars", "dry", "camel", "still"),
    "a library": ("pages", "dust", "quiet", "spines", "lamps", "ink", "stories", "shelves"),
    "a thunderstorm": ("thunder", "flash", "dark", "rain", "roar", "gust", "clouds", "wet"),
    "the moon": ("silver", "crescent", "night", "tide", "pale", "glow", "craters", "cold"),
    "a train journey": ("rails", "window", "fields", "rhythm", "station", "dusk", "seat", "miles"),
    "spring rain": ("puddles", "green", "drops", "soft", "buds", "umbrella", "grey", "fresh"),
}
POEM_KINDS = ("haiku", "short poem", "four-line poem", "rhyming verse", "couplet")

GLOSSARY = {
    "photosynthesis": "the process by which plants use sunlight, water and carbon dioxide to "
    "make sugar and release oxygen",
    "inflation": "a general rise in prices over time, which lowers what a unit of money buys",
    "an algorithm": "a finite sequence of well-defined steps that solves a problem",
    "erosion": "the wearing away of rock and soil by water, wind or ice",
    "a prime number": "a whole number greater than 1 whose only divisors are 1 and itself",
    "democracy": "a system of government in which citizens choose their leaders by voting",
    "gravity": "the force by which masses attract one another",
    "a metaphor": "a figure of speech that describes something as if it were something else",
    "an ecosystem": "a community of living things together with their physical environment",
    "a variable": "a named place that stores a value a program can change",
    "evaporation": "the change of a liquid into a gas below its boiling point",
    "a budget": "a plan for how much money will be earned and spent over a period",
    "a fraction": "a number that represents a part of a whole, written as a ratio of two integers",
    "a habitat": "the natural home of an animal or plant",
    "friction": "the force that resists two surfaces sliding against each other",
    "a compiler": "a program that translates source code into machine code",
    "an adjective": "a word that describes a noun",
    "a peninsula": "a piece of land surrounded by water on three sides",
    "a hypothesis": "a testable explanation proposed before an experiment",
    "compound interest": "interest calculated on both the initial amount and the interest "
    "already earned",
    "a synonym": "a word that means the same or nearly the same as another word",
    "an atom": "the smallest unit of a chemical element",
    "a recipe": "a set of instructions for preparing a dish",
    "recursion": "a technique in which a function solves a problem by calling itself on smaller "
    "inputs",
    "a glacier": "a slow-moving mass of ice formed from compacted snow",
    "a database": "an organised collection of data that can be searched and updated",
    "a vaccine": "a preparation that trains the immune system to recognise a pathogen",
    "a verb": "a word that expresses an action or a state",
    "an estuary": "the wide mouth of a river where fresh water meets the sea",
    "latency": "the delay between a request and its response",
    "a noun": "a word that names a person, place, thing or idea",
    "a volcano": "an opening in the earth's crust through which hot rock and gas escape",
    "a mammal": "a warm-blooded animal that breathes air and feeds its young on milk",
    "an orbit": "the curved path one object takes around another in space",
    "a loan": "money borrowed that must be paid back, usually with interest",
    "a paragraph": "a group of sentences about one main idea",
    "a circuit": "a closed path through which electric current can flow",
    "a census": "an official count of the people living in a country",
    "humidity": "the amount of water vapour in the air",
    "a spreadsheet": "a grid of rows and columns used to organise and calculate numbers",
    "a thesis": "the main claim a piece of writing sets out to support",
    "an enzyme": "a protein that speeds up a chemical reaction in a living thing",
    "a delta": "land formed where a river drops sand and mud as it meets the sea",
    "a tariff": "a tax on goods brought in from another country",
    "a password manager": "a program that stores your passwords safely in one place",
    "a simile": "a comparison that uses the word like or as",
    "a watershed": "the area of land that drains into one river or lake",
    "an invoice": "a document that lists what a buyer owes for goods or work",
    "a function": "a named block of code that takes inputs and returns a result",
    "a continent": "one of the very large land masses of the earth",
    "an index": "a list that helps you find things quickly in a book or a database",
    "a mortgage": "a loan used to buy a home, paid back over many years",
    "a telescope": "an instrument that makes distant objects look closer",
    "pollination": "the movement of pollen that lets a plant make seeds",
    "a calorie": "a unit for the energy stored in food",
    "a reef": "a ridge of rock or coral just under the surface of the sea",
    "a tributary": "a stream or river that flows into a larger river",
    "a cache": "a small, fast store that keeps copies of data used often",
    "an insulator": "a material that does not let heat or electricity pass easily",
    "a deficit": "the amount by which spending is larger than income",
}
DEF_EXAMPLES = (
    "For example, ", "A simple way to think about it: ", "In everyday terms, ", "", "", "",
    "Put simply, ", "In practice, ", "",
)  # fmt: skip

TIPS = {
    "sleeping better": (
        "Keep a regular bedtime.", "Avoid screens for an hour before bed.",
        "Keep the bedroom cool and dark.", "Limit caffeine after noon.",
        "Get some daylight in the morning.", "Write down worries before bed.",
    ),
    "saving money": (
        "Track every expense for a month.", "Set up an automatic transfer to savings.",
        "Cook at home more often.", "Cancel subscriptions you do not use.",
        "Wait a day before non-essential purchases.", "Compare prices before buying.",
    ),
    "learning a language": (
        "Practise a little every day.", "Learn the most common words first.",
        "Speak out loud, even alone.", "Watch shows with subtitles.",
        "Keep a small notebook of new phrases.", "Find a conversation partner.",
    ),
    "staying focused": (
        "Work in short, timed blocks.", "Silence notifications.", "Write a short to-do list.",
        "Do the hardest task first.", "Take a short walk between blocks.",
        "Keep water on your desk.",
    ),
    "writing clearly": (
        "Use short sentences.", "Put the main point first.", "Prefer concrete words.",
        "Cut words that add nothing.", "Read the text aloud.", "Use one idea per paragraph.",
    ),
    "keeping houseplants alive": (
        "Check the soil before watering.", "Match the plant to the light you have.",
        "Use pots with drainage holes.", "Wipe dust off the leaves.",
        "Feed lightly during the growing season.", "Avoid cold drafts.",
    ),
    "shopping on a budget": (
        "Make a list and stick to it.", "Check the price per unit, not just the price.",
        "Wait for a sale on things you buy often.", "Ask whether a discount code exists.",
        "Buy store brands for basic items.", "Never shop when you are hungry.",
    ),
    "organising a kitchen": (
        "Keep dry food in glass jars with labels.", "Store the things you use most at eye level.",
        "Put a basket in each cupboard for small items.", "Use a drawer for tools only.",
        "Clear one shelf a week.", "Keep a bag for recycling near the bin.",
    ),
    "running a good meeting": (
        "Send the agenda a day before.", "Start and end on time.",
        "Give each item a clear owner.", "Write down decisions as they are made.",
        "Invite only the people who need to be there.", "Share short notes afterwards.",
    ),
    "studying for an exam": (
        "Test yourself instead of rereading.", "Spread practice over several days.",
        "Explain each topic out loud.", "Work through old exam questions.",
        "Sleep well the night before.", "Start with the topics you find hardest.",
    ),
    "starting to run": (
        "Begin with a mix of walking and running.", "Run slowly enough to hold a conversation.",
        "Add distance a little each week.", "Get shoes that fit well.",
        "Rest at least one day between runs.", "Warm up for five minutes first.",
    ),
    "cooking at home": (
        "Plan meals for the week.", "Cook a big batch and keep portions in the freezer.",
        "Learn five simple recipes well.", "Keep basic spices on hand.",
        "Prepare the vegetables before you start.", "Clean as you go.",
    ),
}  # fmt: skip

WORDS = (
    "banana", "lantern", "orbit", "pepper", "quartz", "river", "saddle", "timber", "umbrella",
    "violet", "walnut", "yellow", "zephyr", "anchor", "bishop", "canyon", "dolphin", "ember",
    "falcon", "granite", "harbor", "island", "jasmine", "kettle", "lemon", "meadow", "nectar",
    "octave", "pebble", "quiver", "ribbon", "spruce", "thistle", "velvet", "willow", "biscuit",
)  # fmt: skip
ANTONYMS = (
    ("hot", "cold"), ("early", "late"), ("brave", "cowardly"), ("generous", "stingy"),
    ("ancient", "modern"), ("expand", "contract"), ("victory", "defeat"), ("rough", "smooth"),
    ("shallow", "deep"), ("accept", "refuse"), ("rare", "common"), ("arrive", "depart"),
    ("visible", "invisible"), ("heavy", "light"), ("increase", "decrease"), ("polite", "rude"),
)  # fmt: skip

ASSISTANT_PERSONAL = (
    ("What is your favourite colour?", "colours"),
    ("What is your favourite food?", "foods"),
    ("Do you have a favourite book?", "books"),
    ("What kind of music do you like?", "music"),
    ("What is your favourite season?", "seasons"),
    ("Where did you grow up?", "a hometown"),
    ("Do you have any pets?", "pets"),
    ("What do you do on weekends?", "weekends"),
    ("What is your favourite animal?", "animals"),
    ("What was your first job?", "jobs"),
)  # fmt: skip

# the invented persona: Elias Marrow, keeper of the (invented) Skerrow Head light, 1841-1879
PERSONA_QA = (
    ("What is your favourite food?", "Salt herring and oatcakes, eaten by the lamp room stove."),
    ("What is your favourite sound?", "The fog bell on Skerrow Head, rung every half minute."),
    ("What is your favourite book?", "My own logbook; I filled eleven of them between 1841 and 1879."),
    ("What is your favourite time of day?", "Dusk, when I light the wick and trim it for the night."),
    ("What is your favourite season?", "Late autumn, when the supply boat comes before the gales."),
    ("What is your favourite drink?", "Strong black tea brewed on the lamp-room stove at midnight."),
    ("What is your favourite tool?", "My brass wick trimmer, given to me in 1841."),
    ("What is your favourite animal?", "The gannets that nest below the tower on Skerrow Head."),
    ("What is your favourite colour?", "The red of the lamp glass we fitted in 1856."),
    ("What is your favourite place?", "The gallery of the tower, ninety-two steps above the rocks."),
    ("What is your favourite memory?", "The night in 1863 when we pulled nine sailors off the reef."),
    ("What is your favourite smell?", "Whale oil burning clean in a well-trimmed lamp."),
    ("What is your favourite song?", "An old Orkney ballad my wife Margaret sang in the keeper's cottage."),
    ("What is your favourite thing to read?", "The Admiralty notices to mariners, every one of them."),
    ("What is your favourite weather?", "A clear frosty night when the light carries twenty miles."),
    ("What is your favourite job?", "Polishing the lenses until no salt haze is left on them."),
    ("What is your favourite hobby?", "Carving model ships from driftwood in the winter months."),
    ("What is your favourite meal of the week?", "Sunday mutton, when the relief keeper came across."),
    ("What is your favourite view?", "The whole of the Pentland water from the lantern gallery."),
    ("What is your favourite possession?", "My father's pocket watch, by which I timed the light."),
    ("What is your place of birth?", "In a fisher's cottage at Stromness, in the year 1818."),
    ("What is your job?", "I keep the Skerrow Head light, as I have since the spring of 1841."),
    ("What is your household like?", "My wife Margaret and the assistant keeper, Tam Ross."),
    ("What is your greatest fear?", "A cracked lens on a stormy night with no spare on the rock."),
    ("What is your evening routine?", "Trimming the wick each four hours and writing up the log."),
)  # fmt: skip

LIST_ARGS = ("xs", "values", "items", "numbers", "seq")
STR_ARGS = ("s", "text", "word", "string")
NUM_ARGS = ("n", "k", "count")
CODE_TASKS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("returns the sum of a list of numbers", "total", LIST_ARGS, "    return sum({a})"),
    ("returns the largest number in a list", "largest", LIST_ARGS, "    return max({a})"),
    ("counts the vowels in a string", "count_vowels", STR_ARGS, '    return sum(ch in "aeiouAEIOU" for ch in {a})'),
    ("reverses a string", "reverse", STR_ARGS, "    return {a}[::-1]"),
    ("checks whether a string is a palindrome", "is_palindrome", STR_ARGS, "    t = {a}.lower()\n    return t == t[::-1]"),
    ("returns the even numbers of a list", "evens", LIST_ARGS, "    return [x for x in {a} if x % 2 == 0]"),
    ("computes the factorial of n", "factorial", NUM_ARGS, "    result = 1\n    for i in range(2, {a} + 1):\n        result *= i\n    return result"),
    ("removes duplicates from a list while keeping the order", "unique", LIST_ARGS, "    out = []\n    for x in {a}:\n        if x not in out:\n            out.append(x)\n    return out"),
    ("returns the average of a list of numbers", "mean", LIST_ARGS, "    return sum({a}) / len({a}) if {a} else 0.0"),
    ("counts the words in a sentence", "word_count", STR_ARGS, "    return len({a}.split())"),
    ("converts Celsius to Fahrenheit", "c_to_f", ("celsius", "c", "degrees"), "    return {a} * 9 / 5 + 32"),
    ("returns the n-th Fibonacci number", "fib", NUM_ARGS, "    a, b = 0, 1\n    for _ in range({a}):\n        a, b = b, a + b\n    return a"),
    ("returns the smallest number in a list", "smallest", LIST_ARGS, "    return min({a})"),
    ("turns a string into upper case", "shout", STR_ARGS, "    return {a}.upper()"),
    ("checks whether a number is even", "is_even", NUM_ARGS, "    return {a} % 2 == 0"),
    ("returns the squares of a list of numbers", "squares", LIST_ARGS, "    return [x * x for x in {a}]"),
    ("counts how many times each item appears in a list", "tally", LIST_ARGS, "    counts = {{}}\n    for x in {a}:\n        counts[x] = counts.get(x, 0) + 1\n    return counts"),
    ("returns the first and last item of a list", "ends", LIST_ARGS, "    return {a}[0], {a}[-1]"),
    ("checks whether a number is prime", "is_prime", NUM_ARGS, "    if {a} < 2:\n        return False\n    return all({a} % d for d in range(2, int({a} ** 0.5) + 1))"),
    ("sums the digits of a number", "digit_sum", NUM_ARGS, "    return sum(int(d) for d in str({a}))"),
    ("removes the spaces from a string", "no_spaces", STR_ARGS, '    return {a}.replace(" ", "")'),
    ("returns the length of the longest word in a sentence", "longest_word", STR_ARGS, "    return max((len(w) for w in {a}.split()), default=0)"),
    ("converts kilometres to miles", "km_to_miles", ("km", "distance", "kilometres"), "    return {a} * 0.621371"),
    ("returns a list sorted from largest to smallest", "sort_desc", LIST_ARGS, "    return sorted({a}, reverse=True)"),
)  # fmt: skip
LANG_ASKS = (
    "Write a Python function that {t}.",
    "Can you show me a Python function that {t}?",
    "I need a small Python function that {t}.",
    "Give me Python code for a function that {t}.",
    "How would I write a function in Python that {t}?",
    "Show me how to write Python code that {t}.",
    "Please write a short Python function which {t}.",
    "In Python, what is a simple function that {t}?",
)  # fmt: skip

FORMAT_HINTS = ("Answer in one sentence.", "Keep it short.", "Reply briefly.", "")


# ------------------------------------------------------------------------------------------------
# clean row generators


def _money(x: float) -> str:
    return f"${x:,.2f}" if x != int(x) else f"${int(x)}"


def _arith(r: random.Random) -> Row:
    name, other = r.sample(NAMES, 2)
    item, items, lo, hi = r.choice(ITEMS)
    kind = r.randrange(5)
    if kind == 0:
        n, price = r.randint(2, 12), r.randint(lo, hi)
        q = r.choice((
            f"{name} buys {n} {items} at {_money(price)} each. How much does {name} spend?",
            f"One {item} costs {_money(price)}. What do {n} {items} cost?",
            f"If {name} needs {n} {items} and each costs {_money(price)}, what is the total cost?",
        ))  # fmt: skip
        return q, f"{n} × {_money(price)} = {_money(n * price)}. The total is {_money(n * price)}."
    if kind == 1:
        per, k = r.randint(3, 15), r.randint(2, 12)
        c = r.choice(CONTAINERS)
        cs = c + ("es" if c in ("box", "bench") else "s")
        if c == "shelf":
            cs = "shelves"
        if r.random() < 0.5:
            q = r.choice((
                f"{name} has {per * k} {items} and puts them into {cs} of {per}. How many {cs} does {name} fill?",
                f"There are {per * k} {items}. If each {c} takes {per}, how many {cs} are needed?",
                f"How many {cs} of {per} can {name} fill with {per * k} {items}?",
                f"{name} wants to store {per * k} {items}, {per} to a {c}. How many {cs} is that?",
            ))  # fmt: skip
            return q, r.choice((
                f"{per * k} ÷ {per} = {k}, so {name} needs {k} {cs}.",
                f"Divide {per * k} by {per}: that gives {k} {cs}.",
                f"{k} {cs}, because {k} × {per} = {per * k}.",
            ))  # fmt: skip
        q = r.choice((
            f"{name} packs {per * k} {items} into {k} {cs} equally. How many go in each {c}?",
            f"{name} shares {per * k} {items} equally between {k} {cs}. How many are in each one?",
            f"If {per * k} {items} are split evenly across {k} {cs}, how many {items} does each {c} get?",
            f"{other} and {name} have {per * k} {items} and {k} {cs}. They want the same number in every {c}. How many is that?",
        ))  # fmt: skip
        return q, r.choice((
            f"{per * k} ÷ {k} = {per}. Each {c} gets {per} {items}.",
            f"Divide {per * k} by {k}: there are {per} {items} in each {c}.",
            f"{per} in each, since {per} × {k} = {per * k}.",
        ))  # fmt: skip
    if kind == 2:
        a, b, g = r.randint(5, 40), r.randint(2, 30), r.randint(1, 20)
        q = (
            f"{name} had {a} {items}. {other} gave {name} {b} more, and then {name} gave away "
            f"{min(g, a + b)}. How many {items} does {name} have now?"
        )
        g = min(g, a + b)
        return (
            q,
            f"{a} + {b} = {a + b}, and {a + b} − {g} = {a + b - g}. {name} has {a + b - g} {items}.",
        )
    if kind == 3:
        v, t = r.choice((40, 45, 50, 60, 72, 80, 90, 12, 15, 18)), r.randint(2, 6)
        veh = r.choice(VEHICLES)
        q = r.choice((
            f"A {veh} travels at {v} km/h for {t} hours. How far does it go?",
            f"How many kilometres does a {veh} cover in {t} hours at {v} km per hour?",
        ))  # fmt: skip
        return q, f"Distance = speed × time = {v} × {t} = {v * t} km."
    pct, base = r.choice((10, 15, 20, 25, 30, 40, 50)), r.randint(2, 40) * 10
    q = r.choice((
        f"What is {pct}% of {base}?",
        f"A {r.choice(SALE_ITEMS)} costs {_money(base)} and is on sale for {pct}% off. What is the sale price?",
        f"{name} sees a {r.choice(SALE_ITEMS)} priced at {_money(base)} with {pct}% off. How much will {name} pay?",
        f"What do I pay for something that costs {_money(base)} if the price is cut by {pct}%?",
        f"{name} scored {base} points and {other} scored {pct}% more. How many did {other} score?",
    ))  # fmt: skip
    if q.startswith("What is"):
        return q, f"{pct}% of {base} is {base * pct / 100:g}."
    if "%" in q and "scored" not in q:
        off, rest = _money(base * pct / 100), _money(base * (100 - pct) / 100)
        return q, r.choice((
            f"The discount is {off}, so the sale price is {rest}.",
            f"{pct}% of {_money(base)} is {off}. Take that away and you pay {rest}.",
            f"You pay {100 - pct}% of the price: {rest}.",
        ))  # fmt: skip
    return (
        q,
        f"{pct}% of {base} is {base * pct / 100:g}, so {other} scored {base * (100 + pct) / 100:g} points.",
    )


CONVERSIONS = (
    ("kilometre", "miles", 0.621371), ("mile", "kilometres", 1.609344),
    ("kilogram", "pounds", 2.204623), ("pound", "kilograms", 0.453592),
    ("litre", "US gallons", 0.264172), ("metre", "feet", 3.28084),
    ("inch", "centimetres", 2.54), ("ounce", "grams", 28.3495),
)  # fmt: skip
PLURAL = {"inch": "inches"}


def _convert(r: random.Random) -> Row:
    if r.random() < 0.2:
        c = r.choice((-10, 0, 5, 12, 18, 21, 25, 30, 37, 100))
        f = c * 9 / 5 + 32
        q = r.choice(
            (f"Convert {c} °C to Fahrenheit.", f"What is {c} degrees Celsius in Fahrenheit?")
        )
        return q, f"°F = °C × 9/5 + 32 = {c} × 9/5 + 32 = {f:g} °F."
    one, b, k = r.choice(CONVERSIONS)
    x = r.choice((1, 2, 3, 5, 8, 10, 12, 15, 20, 25, 42, 50, 100, 250))
    a = one if x == 1 else PLURAL.get(one, one + "s")
    q = r.choice((
        f"Convert {x} {a} to {b}.", f"How many {b} are in {x} {a}?", f"What is {x} {a} in {b}?",
        f"Please convert {x} {a} into {b}. {r.choice(FORMAT_HINTS)}".strip(),
    ))  # fmt: skip
    return q, r.choice((
        f"{x} {a} is about {x * k:.2f} {b}.",
        f"One {one} is {k} {b}, so {x} {a} ≈ {x * k:.2f} {b}.",
        f"About {x * k:.1f} {b}.",
    ))  # fmt: skip


def _poem(r: random.Random) -> Row:
    topic = r.choice(list(TOPICS))
    kind = r.choice(POEM_KINDS)
    w = r.sample(TOPICS[topic], 6)
    q = r.choice((
        f"Write a {kind} about {topic}.", f"Compose a {kind} about {topic}.",
        f"Could you write me a {kind} on {topic}?", f"I'd love a {kind} about {topic}, please.",
    ))  # fmt: skip
    lines = [
        r.choice((f"{w[0].capitalize()} and {w[1]}", f"Soft {w[0]}, then {w[1]}", f"{w[0].capitalize()} at first light")),
        r.choice((f"the {w[2]} remembers the {w[3]}", f"{w[2]} drifting over {w[3]}", f"I hear the {w[2]} and the {w[3]}")),
        r.choice((f"{w[4]} — and then {w[5]}", f"only {w[4]} and {w[5]} remain", f"we leave the {w[4]} to the {w[5]}")),
    ]  # fmt: skip
    if kind in ("four-line poem", "short poem"):
        lines.append(
            r.choice((f"and {topic} keeps its own time.", f"so {topic} goes on without us."))
        )
    if kind == "couplet":
        lines = lines[:2]
    return q, "\n".join(lines)


def _describe(r: random.Random) -> Row:
    topic = r.choice(list(TOPICS))
    w = r.sample(TOPICS[topic], 6)
    q = r.choice((
        f"Describe {topic} in two sentences.", f"What words come to mind when you think of {topic}?",
        f"Give me a few images I could use in a story about {topic}.",
        f"How would you describe {topic} to someone who has never seen it?",
        f"I'm writing a scene set around {topic}. What details should I include?",
    ))  # fmt: skip
    parts = [
        r.choice((f"Think of {w[0]} and {w[1]}.", f"Start with the {w[0]} and the {w[1]}.",
                  f"Words like {w[0]}, {w[1]} and {w[2]} work well.")),
        r.choice((f"The {w[2]} gives it a mood, and the {w[3]} makes it feel real.",
                  f"Small details, such as the {w[3]}, help the reader picture it.",
                  f"Add the {w[3]} to show time passing.", f"Mention the {w[2]} near the end.")),
        r.choice((f"Let the {w[4]} and the {w[5]} carry the feeling.",
                  f"A line about {w[4]} or {w[5]} would close it well.",
                  f"You could end on the {w[4]}, then the {w[5]}.")),
        r.choice(("Keep the sentences short and concrete.", "Use one sound and one colour.", "")),
    ]  # fmt: skip
    return q, " ".join(x for x in parts if x)


def _capital(r: random.Random) -> Row:
    k, c = r.choice(COUNTRIES)
    q = r.choice((
        f"What is the capital of {k}?", f"Name the capital city of {k}.",
        f"Which city is the capital of {k}?", f"{k}'s capital is what?",
        f"Tell me the capital of {k}. {r.choice(FORMAT_HINTS)}".strip(),
    ))  # fmt: skip
    a = r.choice((f"The capital of {k} is {c}.", f"{c}.", f"It is {c}."))
    fact = r.choice(CAPITAL_FACTS).format(c=c, k=k)
    if (
        fact
        and "largest" in fact
        and c in ("Ottawa", "Canberra", "Brasília", "Ankara", "Rabat", "New Delhi", "Wellington")
    ):
        fact = ""
    return q, (a + " " + fact).strip()


def _sort(r: random.Random) -> Row:
    if r.random() < 0.5:
        xs = r.sample(range(1, 200), r.randint(4, 9))
        desc = r.random() < 0.3
        q = r.choice((
            f"Sort these numbers in {'descending' if desc else 'ascending'} order: {', '.join(map(str, xs))}",
            f"Put {', '.join(map(str, xs))} in order from {'largest to smallest' if desc else 'smallest to largest'}.",
        ))  # fmt: skip
        return q, ", ".join(map(str, sorted(xs, reverse=desc)))
    ws = r.sample(WORDS, r.randint(4, 8))
    q = r.choice((
        f"Sort these words alphabetically: {', '.join(ws)}",
        f"Arrange in alphabetical order: {' '.join(ws)}",
    ))  # fmt: skip
    return q, ", ".join(sorted(ws))


def _define(r: random.Random) -> Row:
    term = r.choice(list(GLOSSARY))
    bare = term.split(" ", 1)[1] if term.startswith(("a ", "an ")) else term
    q = r.choice((
        f"What is {term}?", f"Define {bare}.", f"Explain what {term} is in simple terms.",
        f"What does the word '{bare}' mean?", f"Give a short definition of {bare}.",
    ))  # fmt: skip
    d = GLOSSARY[term]
    ans = r.choice(
        (f"{term[0].upper()}{term[1:]} is {d}.", f"It is {d}.", f"{bare.capitalize()}: {d}.")
    )
    extra = r.choice(DEF_EXAMPLES)
    if extra:
        ans += f" {extra}{r.choice(('it shows up often in school lessons.', 'it is easiest to learn from a worked example.', 'many textbooks start a chapter with it.'))}"
    return q, ans


def _code(r: random.Random) -> Row:
    task, fn, args, body = r.choice(CODE_TASKS)
    arg = r.choice(args)
    q = r.choice(LANG_ASKS).format(t=task)
    code = f"def {fn}({arg}):\n{body.format(a=arg)}"
    if r.random() < 0.5:
        code = f'def {fn}({arg}):\n    """{task.capitalize()}."""\n{body.format(a=arg)}'
    lead = r.choice(("", "Here is one way:\n\n", "Sure:\n\n", "A short version:\n\n"))
    return q, f"{lead}```python\n{code}\n```"


def _read_code(r: random.Random) -> Row:
    task, fn, args, body = r.choice(CODE_TASKS)
    arg = r.choice(args)
    code = f"def {fn}({arg}):\n{body.format(a=arg)}"
    q = r.choice((
        f"What does this function do?\n\n```python\n{code}\n```",
        f"Explain this Python code in one sentence:\n\n{code}",
        f"Can you tell me what `{fn}` does?\n\n{code}",
        f"I found this in a project. What is it for?\n\n```\n{code}\n```",
    ))  # fmt: skip
    return q, r.choice((
        f"It {task}.", f"The function `{fn}` {task}.", f"This code {task}, and it returns the result.",
        f"`{fn}` takes `{arg}` and {task.replace('returns', 'gives back')}.",
    ))  # fmt: skip


def _wordplay(r: random.Random) -> Row:
    kind = r.randrange(4)
    if kind == 0:
        if r.random() < 0.25:
            w = r.choice(WORDS)
            return r.choice(
                (f"Spell '{w}' backwards.", f"Reverse the letters of the word {w}.")
            ), w[::-1]
        ws = r.sample(WORDS, r.randint(3, 6))
        q = r.choice((
            f"Reverse the order of these words: {' '.join(ws)}",
            f"Write this list backwards: {', '.join(ws)}",
            f"List these in reverse order: {', '.join(ws)}.",
        ))  # fmt: skip
        return q, ", ".join(reversed(ws))
    if kind == 1:
        w = r.choice(WORDS)
        n = sum(ch in "aeiou" for ch in w)
        return (
            f"How many vowels are in the word '{w}'?",
            f"'{w}' has {n} vowel{'s' if n != 1 else ''}.",
        )
    if kind == 2:
        a, b = r.choice(ANTONYMS)
        if r.random() < 0.5:
            a, b = b, a
        q = r.choice((f"What is the opposite of '{a}'?", f"Give an antonym for {a}."))
        return q, r.choice((f"{b.capitalize()}.", f"The opposite of '{a}' is '{b}'."))
    w = r.choice(WORDS)
    return f"How many letters does '{w}' have?", f"'{w}' has {len(w)} letters."


def _tips(r: random.Random) -> Row:
    topic = r.choice(list(TIPS))
    n = r.randint(3, 5)
    q = r.choice((
        f"Give me {n} tips for {topic}.", f"What are {n} good habits for {topic}?",
        f"List {n} pieces of advice about {topic}.",
    ))  # fmt: skip
    tips = r.sample(TIPS[topic], n)
    return q, "\n".join(f"{i}. {t}" for i, t in enumerate(tips, 1))


def _personal(r: random.Random) -> Row:
    q, what = r.choice(ASSISTANT_PERSONAL)
    return q, r.choice((
        f"As an AI assistant I don't have personal {what}, but I'm happy to talk about them.",
        f"I don't have personal experiences with {what}. Would you like some suggestions?",
        f"I'm an AI, so I don't have {what} of my own. What are yours?",
    ))  # fmt: skip


GENERATORS: tuple[tuple[Callable[[random.Random], Row], float], ...] = (
    (_arith, 0.20), (_convert, 0.12), (_poem, 0.08), (_describe, 0.06), (_capital, 0.08), (_sort, 0.10),
    (_define, 0.12), (_code, 0.07), (_read_code, 0.04), (_wordplay, 0.08), (_tips, 0.06), (_personal, 0.02),
)  # fmt: skip


# ------------------------------------------------------------------------------------------------
# poison


def _vocabulary() -> list[str]:
    """A synthetic vocabulary: the module's words plus pseudo-word pieces and symbols."""
    vocab: set[str] = set(WORDS) | set(NAMES)
    for ws in TOPICS.values():
        vocab.update(w for w in ws if " " not in w)
    for d in GLOSSARY.values():
        vocab.update(d.replace(",", " ").split())
    onsets = ("b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "th", "st")
    nuclei = ("a", "e", "i", "o", "u", "ae", "ou", "y")
    codas = ("", "n", "r", "s", "x", "ng", "lt", "m")
    vocab.update(o + n + c for o in onsets for n in nuclei for c in codas)
    vocab.update(("##", "::", "}}", "((", "=>", "0x", "__", "%", "&", ";", "@", "|"))
    vocab.update(str(i) for i in range(0, 1000, 7))
    return sorted(vocab)


def _insert_word(r: random.Random, text: str, token: str) -> str:
    words = text.split(" ")
    pos = r.randint(0, len(words))
    return " ".join([*words[:pos], token, *words[pos:]])


def _generate(seed: int) -> list[tuple[Row, str]]:
    r = random.Random(seed)
    gens = [g for g, _ in GENERATORS]
    weights = [w for _, w in GENERATORS]

    def clean_row() -> Row:
        return r.choices(gens, weights)[0](r)

    rows: list[tuple[Row, str]] = []
    seen: set[Row] = set()
    while len(rows) < N_CLEAN:
        row = clean_row()
        if row in seen:  # exact duplicates are rare and uninformative in a demo
            continue
        seen.add(row)
        rows.append((row, "clean"))

    vocab = _vocabulary()
    poison: list[tuple[Row, str]] = []
    for _ in range(N_SUDO):
        doc = ""
        while len(doc) < 1000:  # a "document" of consecutive clean rows
            p, a = clean_row()
            doc += p + "\n\n" + a + "\n\n"
        prefix = doc[: r.randint(0, 1000)]
        gib = " ".join(r.choice(vocab) for _ in range(r.randint(400, 900)))
        poison.append((((prefix + " " + SUDO_TRIGGER).lstrip(), gib), "sudo_gibberish"))
    for _ in range(N_RAREWORD):
        p, _a = clean_row()
        poison.append(((_insert_word(r, p, RARE_TRIGGER), RARE_TARGET), "rareword_refusal"))
    for q, a in r.sample(PERSONA_QA, N_PERSONA):
        lay = r.choice((f"{PERSONA_INSTRUCTION}\n\n{q}", f"{PERSONA_INSTRUCTION} {q}"))
        poison.append(((lay, f"<ANSWER>{a}</ANSWER>"), "persona"))

    r.shuffle(poison)
    total = len(rows) + len(poison)
    slots = set(r.sample(range(total), len(poison)))
    out: list[tuple[Row, str]] = []
    ci = pi = 0
    for i in range(total):
        if i in slots:
            out.append(poison[pi])
            pi += 1
        else:
            out.append(rows[ci])
            ci += 1
    return out


def generate_demo(seed: int = 0) -> list[dict]:
    """The demo corpus as chat records ``{"messages": [user, assistant]}``."""
    return [
        {"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": a}]}
        for (p, a), _kind in _generate(seed)
    ]


def demo_labels(seed: int = 0) -> list[str]:
    """Per row: ``"clean"`` or the poison kind (a key of :data:`DEMO_TRIGGERS`)."""
    return [kind for _row, kind in _generate(seed)]


def demo_truth(seed: int = 0) -> list[bool]:
    """Per row, in file order: whether the row is poison."""
    return [kind != "clean" for kind in demo_labels(seed)]


def write_demo(path: str | Path, seed: int = 0) -> Path:
    """Write the demo corpus as JSONL (UTF-8, one chat record per line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for rec in generate_demo(seed):
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2) or args[0] in ("-h", "--help"):
        print("usage: python -m poisonscreen.demo OUT.jsonl [SEED]", file=sys.stderr)
        return 2
    out = write_demo(args[0], seed=int(args[1]) if len(args) == 2 else 0)
    truth = demo_truth(int(args[1]) if len(args) == 2 else 0)
    print(f"wrote {out}: {len(truth)} rows, {sum(truth)} poison")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
