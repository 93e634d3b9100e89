"""Movement reference numbers (MRN) for registered ENS filings (domain/ics2.md "Messages": IE3R01
carries an MRN of exactly 18 characters).

Structure (Union Customs Code, Delegated Regulation (EU) 2015/2446 Annex B, data element "MRN"):

====== ===== ====================================================================
field  chars  content
====== ===== ====================================================================
1      2      last two digits of the year of registration
2      2      ISO 3166-1 alpha-2 code of the registering country
3      12     unique identifier per year and country (here derived from a sequence)
4      1      procedure identifier (a letter; ``T`` = entry summary declaration only)
5      1      check digit
====== ===== ====================================================================

Field 3 is deterministic: the sequence number is mixed by an invertible affine map modulo 36^12
(Fibonacci-hashing multiplier, coprime to 36), then written in base 36 with ``0-9A-Z``,
zero-padded to 12 characters.
Distinct sequences therefore give distinct MRNs, and the same scenario gives the same MRNs
(DESIGN.md "Deterministic"), while consecutive MRNs do not look consecutive.

Check digit (field 5), computed as for ISO 6346 container numbers, which EU MRNs use:
  1. map each of the first 17 characters to a number: digits keep their value; letters take the
     values 10..38 in alphabetical order, skipping multiples of 11 (A=10, B=12, ... K=21, L=23, ...
     U=32, V=34, ... Z=38);
  2. multiply the value at position i (0-based, left to right) by 2**i and sum;
  3. take the sum modulo 11; a remainder of 10 becomes 0. That digit is the 18th character.
The procedure letter ``T`` is our reading of the UCC table (unverified): pass ``procedure`` to change it.
"""

from __future__ import annotations

import math
import re
import string
from typing import Final

__all__ = [
    "DEFAULT_PROCEDURE",
    "MRN_PATTERN",
    "check_digit",
    "is_valid_mrn",
    "iso6346_check_digit",
    "make_mrn",
]

DEFAULT_PROCEDURE: Final = "T"
MRN_PATTERN: Final = re.compile(r"[0-9]{2}[A-Z]{2}[A-Z0-9]{13}[0-9]")

_ALPHABET: Final = string.digits + string.ascii_uppercase
_UNIQUE_LENGTH: Final = 12
_MODULUS: Final = 36**_UNIQUE_LENGTH


def _golden_multiplier() -> int:
    # Fibonacci hashing: ~ modulus / golden ratio spreads consecutive sequences over the whole range;
    # nudged up until coprime with 36 so that the affine map stays a bijection.
    multiplier = _MODULUS * 618_033_988_749 // 1_000_000_000_000
    while math.gcd(multiplier, 36) != 1:
        multiplier += 1
    return multiplier


_MULTIPLIER: Final = _golden_multiplier()
_OFFSET: Final = 0x2545F4914F6CDD1D % _MODULUS


def _letter_values() -> dict[str, int]:
    values: dict[str, int] = {digit: int(digit) for digit in string.digits}
    value = 10
    for letter in string.ascii_uppercase:
        if value % 11 == 0:
            value += 1
        values[letter] = value
        value += 1
    return values


_VALUES: Final = _letter_values()


def iso6346_check_digit(chars: str) -> str:
    """ISO 6346 check digit of ``chars`` (any length): values x 2**i, summed, mod 11, 10 -> 0."""
    try:
        total = sum(_VALUES[char] << position for position, char in enumerate(chars))
    except KeyError as exc:
        raise ValueError(f"character {exc.args[0]!r} is not allowed") from None
    return str(total % 11 % 10)


def check_digit(first17: str) -> str:
    """Check digit of the first 17 MRN characters (see module docstring)."""
    if len(first17) != 17:
        raise ValueError(f"expected 17 characters, got {len(first17)}")
    return iso6346_check_digit(first17)


def _base36(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 36)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def make_mrn(year: int, country: str, sequence: int, procedure: str = DEFAULT_PROCEDURE) -> str:
    """The MRN for the ``sequence``-th registration of ``year`` in ``country``.

    ``year`` may be given with four digits (2024) or two (24); ``country`` is 2 upper-case letters,
    ``procedure`` one upper-case letter, ``0 <= sequence < 36**12``.
    """
    if not 0 <= year <= 9999:
        raise ValueError(f"year out of range: {year}")
    if re.fullmatch(r"[A-Z]{2}", country) is None:
        raise ValueError(f"country must be 2 upper-case letters: {country!r}")
    if re.fullmatch(r"[A-Z]", procedure) is None:
        raise ValueError(f"procedure must be 1 upper-case letter: {procedure!r}")
    if not 0 <= sequence < _MODULUS:
        raise ValueError(f"sequence out of range: {sequence}")
    unique = _base36((sequence * _MULTIPLIER + _OFFSET) % _MODULUS, _UNIQUE_LENGTH)
    first17 = f"{year % 100:02d}{country}{unique}{procedure}"
    return first17 + check_digit(first17)


def is_valid_mrn(value: str) -> bool:
    """True if ``value`` has the 18-character MRN form and a correct check digit."""
    if not isinstance(value, str) or MRN_PATTERN.fullmatch(value) is None:
        return False
    return check_digit(value[:17]) == value[17]
