"""Unified social credit codes (统一社会信用代码, GB 32100-2015).

An 18-character code: registration authority (1), entity type (1), administrative division
(6), organisation code (9) and a check character computed over the first 17 with weights
``3**i mod 31``. The alphabet has 31 symbols: digits and upper-case letters without
I, O, S, V and Z, which are too easily confused with digits.
"""

from __future__ import annotations

import operator

CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {ch: i for i, ch in enumerate(CREDIT_CODE_ALPHABET)}
_ALLOWED = frozenset(CREDIT_CODE_ALPHABET)
# The standard's weights are 3**i mod 31 for positions 0..16.
_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))


def credit_code_check_char(first17: str) -> str:
    """The check character for the first 17 characters of a code.

    Examples
    --------
    >>> credit_code_check_char("91440300192203821")
    '6'
    """
    try:
        values = [_VALUE[ch] for ch in first17]
    except KeyError:
        values = []
    if len(values) != 17:
        raise ValueError(f"need 17 characters from {CREDIT_CODE_ALPHABET}, got {first17!r}")
    total = sum(map(operator.mul, values, _WEIGHTS))
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def credit_code_problem(code: str) -> str | None:
    """Why ``code`` is not a valid unified social credit code, or ``None`` when it is.

    Examples
    --------
    >>> credit_code_problem("914403001922038216") is None  # a published company code
    True
    >>> credit_code_problem("914403001922038217")
    "credit code '914403001922038217': check character should be '6', not '7'"
    """
    if len(code) != 18:
        # Quote a long cell only in part: a reason must stay readable (and fit a CSV field).
        shown = repr(code) if len(code) <= 40 else f"{code[:40]!r}…"
        return f"credit code {shown}: must have 18 characters, has {len(code)}"
    bad = sorted(set(code) - _ALLOWED)
    if bad:
        return (
            f"credit code {code!r}: characters {''.join(bad)!r} are not allowed "
            f"(allowed: digits and {CREDIT_CODE_ALPHABET[10:]})"
        )
    expected = credit_code_check_char(code[:17])
    if code[17] != expected:
        return f"credit code {code!r}: check character should be {expected!r}, not {code[17]!r}"
    return None
