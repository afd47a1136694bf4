"""How precisely a point is known."""

from __future__ import annotations

from enum import StrEnum


class Precision(StrEnum):
    """How precisely a provider's point is known.

    ``exact`` is a surveyed or geocoded address; ``street`` and ``district`` are stand-in
    points (a street or district centre) that must never be presented as the real place.
    """

    EXACT = "exact"
    STREET = "street"
    DISTRICT = "district"
