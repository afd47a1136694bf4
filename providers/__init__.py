"""The provider domain: model, credit codes, ids, ranking and the store contract.

Pure Python: nothing here imports FastAPI or SQLAlchemy (the backends in
``providers.stores`` do, and are imported on their own).
"""

from providers.credit_code import credit_code_problem
from providers.identity import company_id, station_id
from providers.model import (
    Category,
    Grade,
    InvalidProviderError,
    Kind,
    Precision,
    Provider,
    mask_phone,
)
from providers.ranking import Match, NearestQuery, Sort, find_nearest
from providers.scoring import ScoreSpec, Weights
from providers.store import (
    Candidate,
    Filters,
    ProviderStore,
    StoreUnavailableError,
    UpsertCounts,
)

__all__ = [
    "Candidate",
    "Category",
    "Filters",
    "Grade",
    "InvalidProviderError",
    "Kind",
    "Match",
    "NearestQuery",
    "Precision",
    "Provider",
    "ProviderStore",
    "ScoreSpec",
    "Sort",
    "StoreUnavailableError",
    "UpsertCounts",
    "Weights",
    "company_id",
    "credit_code_problem",
    "find_nearest",
    "mask_phone",
    "station_id",
]
