"""A small English corpus written here, deterministically, from templates: for head statistics and
notebook figures without downloading a data set.

``make_corpus(300)`` gives 300 varied sentences (statements, questions, lists with commas, relative
and subordinate clauses, quotes, two-sentence texts), each between about 5 and 30 words.
"""

from __future__ import annotations

import random

__all__ = ["make_corpus"]

_PEOPLE = [
    "the teacher",
    "my sister",
    "a young doctor",
    "the old farmer",
    "our neighbour",
    "the pilot",
    "a tired student",
    "the baker",
    "his grandmother",
    "the new manager",
    "a famous painter",
    "the young nurse",
]
_NAMES = ["Anna", "Marcus", "Li Wei", "Fatima", "Jonas", "Priya", "Tom", "Elena", "Kofi", "Sofia"]
_ANIMALS = ["the cat", "a small dog", "the horse", "an old parrot", "the fox", "a grey rabbit", "the goat"]
_PLACES = [
    "the station",
    "the market",
    "a quiet village",
    "the library",
    "the harbour",
    "the old bridge",
    "the museum",
    "a crowded cafe",
    "the garden",
    "the mountains",
]
_THINGS = [
    "a letter",
    "the keys",
    "a blue umbrella",
    "the report",
    "an apple",
    "the map",
    "a heavy box",
    "the photographs",
    "a birthday cake",
    "the broken radio",
]
_TIMES = [
    "yesterday",
    "on Monday",
    "last winter",
    "every morning",
    "after lunch",
    "at midnight",
    "in the spring",
    "before the storm",
    "two years ago",
    "this evening",
]
_VERBS = [
    ("found", "find"),
    ("carried", "carry"),
    ("painted", "paint"),
    ("forgot", "forget"),
    ("opened", "open"),
    ("sold", "sell"),
    ("borrowed", "borrow"),
    ("repaired", "repair"),
    ("hid", "hide"),
    ("described", "describe"),
]
_NOW = ["today", "in the morning", "at night", "in winter", "on Sundays", "after the rain"]
_UNTIL = ["midnight", "the evening", "the last train left", "the rain stopped", "Friday", "sunrise"]
_ADJ = ["quiet", "busy", "strange", "beautiful", "cold", "noisy", "empty", "bright", "ancient", "small"]
_FEEL = ["happy", "nervous", "surprised", "tired", "proud", "confused", "relieved", "angry"]
_TOPICS = [
    "the weather",
    "the election",
    "the new bridge",
    "the concert",
    "the price of bread",
    "the football match",
    "the experiment",
    "the missing painting",
]


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _sentence(r: random.Random) -> str:
    p, q = r.sample(_PEOPLE, 2)
    name = r.choice(_NAMES)
    animal = r.choice(_ANIMALS)
    place, place2 = r.sample(_PLACES, 2)
    thing = r.choice(_THINGS)
    t = r.choice(_TIMES)
    v, base = r.choice(_VERBS)
    now = r.choice(_NOW)
    until = r.choice(_UNTIL)
    adj = r.choice(_ADJ)
    feel = r.choice(_FEEL)
    topic = r.choice(_TOPICS)
    templates = [
        lambda: f"{_cap(p)} {v} {thing} at {place} {t}.",
        lambda: f"{_cap(t)}, {p} walked to {place} and {v} {thing}.",
        lambda: f"{name} said that {p} was {feel} about {topic}.",
        lambda: f"Why did {p} leave {thing} near {place}?",
        lambda: f"{_cap(animal)} slept in {place} while {q} {v} {thing}.",
        lambda: f"{_cap(p)}, who lives near {place}, {v} {thing} for {name}.",
        lambda: f"Although {place} was {adj}, {p} stayed there until {until}.",
        lambda: f"{name} bought bread, cheese, apples and milk at {place}.",
        lambda: f'"I never {base} {thing}," said {name}, looking {feel}.',
        lambda: f"The {adj} room at {place} smelled of coffee, paint and old books.",
        lambda: f"{_cap(p)} asked {q} whether {animal} had {v} {thing}.",
        lambda: f"If it rains {t}, {p} will take {thing} to {place2}.",
        lambda: f"{name} and {p} talked about {topic} for hours. Nobody agreed.",
        lambda: f"The box that {p} {v} {t} is still in {place}.",
        lambda: f"Because {q} was {feel}, {name} {v} {thing} alone.",
        lambda: f"Is {place} {adj} {now}, or is it always like this?",
        lambda: f"{_cap(animal)} followed {p} from {place} to {place2}.",
        lambda: f"{_cap(p)} was {feel}; {thing} had disappeared {t}.",
        lambda: f"Everyone at {place} knew that {name} {v} {thing}, but nobody said a word.",
        lambda: f"{name} read the news about {topic}, then went to {place}.",
    ]
    return r.choice(templates)()


def make_corpus(n: int = 300, seed: int = 0) -> list[str]:
    """``n`` distinct English sentences generated from templates with ``random.Random(seed)``: the same
    list every time for the same arguments."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    r = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 100 * n:
            raise ValueError(f"cannot make {n} distinct sentences from these templates")
        s = _sentence(r)
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out
