"""Docker's random IDs, and container names: adjective_surname (a short selection of moby's namesgenerator)."""

from __future__ import annotations

import os
import random
import re

VALID_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")

_LEFT = ("admiring", "agitated", "amazing", "blissful", "bold", "brave", "charming", "clever", "cool", "dreamy",
         "eager", "ecstatic", "elegant", "festive", "focused", "gifted", "happy", "jolly", "keen", "loving",
         "modest", "nice", "peaceful", "quirky", "relaxed", "serene", "sharp", "stoic", "tender", "vibrant")
_RIGHT = ("albattani", "babbage", "bohr", "curie", "darwin", "dijkstra", "einstein", "euclid", "feynman", "gauss",
          "hopper", "hypatia", "kepler", "knuth", "lamarr", "lovelace", "mccarthy", "meitner", "newton", "noether",
          "pascal", "ritchie", "shannon", "thompson", "torvalds", "turing", "wozniak", "yonath", "wright", "wu")


def random_name(attempt: int = 0) -> str:
    name = f"{random.choice(_LEFT)}_{random.choice(_RIGHT)}"
    return name + str(random.randint(0, 10)) if attempt else name


def new_id() -> str:
    """A container's or network's ID: 32 random bytes in hex, as moby's stringid (``secrets.token_hex``'s bytes,
    without the hmac and OpenSSL ``secrets`` imports at every ``create``)."""
    return os.urandom(32).hex()
