"""Response bodies of the public API (also the OpenAPI schema clients generate from)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SkipValidation, field_validator

from geo.crs import CRS
from ingest.limits import (
    CAUSE_IDS,
    CERTIFICATE_CODE_CHARS,
    HOME_ADDRESS_CHARS,
    ID_CHARS,
    ID_NUMBER_CHARS,
    PERSON_NAME_CHARS,
    PERSON_PHONE_CHARS,
    TEXT_CHARS,
)
from providers.evaluations import (
    AppealScope,
    AppealStatus,
    Complaint,
    ComplaintStatus,
    FollowUpVisit,
    Review,
    Severity,
    Subject,
    SubjectKind,
    VisitOutcome,
)
from providers.model import Category, Grade, Kind, Precision
from providers.practitioners import (
    Blacklisting,
    CertificateStatus,
    CheckRecord,
    CheckStatus,
    Practitioner,
    Stars,
)


class ScorePartOut(BaseModel):
    weight: float = Field(description="normalised weight of this term")
    value: float = Field(description="the term's value in [0, 1]")
    points: float = Field(description="weight x value; the parts' points sum to the score")


class AppLinksOut(BaseModel):
    web: str = Field(description="the app's web page (opens the app when installed)")
    app: str = Field(description="the app's own URI scheme")


class NavigateOut(BaseModel):
    """Hand-offs to the navigation apps, each in the datum it expects."""

    amap: AppLinksOut = Field(description="AMap (高德), GCJ-02")
    baidu: AppLinksOut = Field(description="Baidu (百度), BD-09 (coord_type=bd09ll)")
    tencent: AppLinksOut = Field(description="Tencent (腾讯), GCJ-02 (coord_type=2)")


class HoursOut(BaseModel):
    """The opening hours as understood, at the time asked about (``at``)."""

    state: Literal["open", "closed", "unknown"] = Field(
        description="unknown: no hours, hours not understood, or a date the public-holiday "
        "calendar does not know"
    )
    today: str | None = Field(
        description="that day's intervals (09:00–18:00, 19:00–次日02:00); empty: closed "
        "all day; null: unknown"
    )
    at: datetime = Field(description="the local time (Asia/Shanghai) the state is for")


class ProviderOut(BaseModel):
    """What the public may see of a provider (no private extras; the business phone in
    full unless the operator masks it, ``JZMAP_PUBLIC_PHONES``)."""

    id: str
    name: str
    kind: Kind
    categories: list[Category]
    credit_grade: Grade | None = Field(description="5A..A for companies; null for stations")
    lat: float = Field(description="latitude in the response's crs")
    lon: float = Field(description="longitude in the response's crs")
    crs: CRS
    address: str
    district: str
    street: str
    community: str
    phone: str = Field(
        description="the registered business phone, in full; middle digits hidden when the "
        "operator sets JZMAP_PUBLIC_PHONES=masked"
    )
    tel: str | None = Field(
        None, description="tel: link to call the phone; null when masked or none"
    )
    opening_hours: str = Field(description="the hours as the registry wrote them")
    hours: HoursOut | None = None
    navigate: NavigateOut | None = None
    practitioners: int
    certified_practitioners: int = Field(description="holders of the 安心服务证")
    geocode_precision: Precision
    approximate: bool = Field(description="true when the point is a street or district stand-in")
    synthetic: bool = Field(description="true for generated demo data")
    verified_at: date | None = Field(
        None,
        description="the day the record was last verified: the date of the last registry "
        "import that held it (Asia/Shanghai); null when no import has dated it yet",
    )


class MatchOut(ProviderOut):
    rank: int = Field(ge=1)
    distance_m: float = Field(description="geodesic metres on the WGS-84 ellipsoid")
    score: float
    score_parts: dict[str, ScorePartOut]


class WeightsOut(BaseModel):
    distance: float
    grade: float
    certified: float


class NearestQueryOut(BaseModel):
    """The query as understood: defaults filled in, weights normalised."""

    lat: float
    lon: float
    crs: CRS
    category: Category | None
    min_grade: Grade | None
    kind: Kind | None
    certified_only: bool
    include_approximate: bool
    radius_m: float | None
    limit: int
    sort: str
    weights: WeightsOut
    half_distance_m: float
    distance_model: Literal["geodesic on the WGS-84 ellipsoid"] = "geodesic on the WGS-84 ellipsoid"
    open_at: datetime | None = Field(
        None, description="open_now or open_at as understood: Asia/Shanghai local time"
    )
    include_unknown_hours: bool = False
    holiday_calendar: HolidayCalendarOut | None = None


class HolidayCalendarOut(BaseModel):
    """The official public-holiday calendar opening hours are read with."""

    source: str
    first_year: int
    last_year: int
    knows_date: bool | None = Field(
        description="whether it knows open_at's year (false: providers whose hours follow "
        "the holidays count as unknown then); null without open_at"
    )


class NearestOut(BaseModel):
    query: NearestQueryOut
    results: list[MatchOut]


class FeatureOut(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any]
    properties: dict[str, Any]


class NearestGeoJSONOut(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    query: NearestQueryOut
    features: list[FeatureOut]


class CategoryOut(BaseModel):
    id: Category
    label_zh: str
    label_en: str


class LiveOut(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyOut(BaseModel):
    status: Literal["ready", "unavailable"]
    store: Literal["embedded", "postgis"]
    checks: dict[str, Literal["ok", "failed"]] = Field(
        description="providers, gradebook, registry: the part answers; schema: every part "
        "is at the schema this program reads"
    )
    request_id: str | None = Field(
        default=None, description="when unavailable: the id the server logged the causes under"
    )
    network: Literal["off", "loading", "ready", "failed"] = Field(
        default="off",
        description="the walking street network (JZMAP_STREET_NETWORK): off (none configured), "
        "loading (being read or built in the background: walking requests answer 503 with "
        "Retry-After meanwhile), ready, or failed (the server log has why). It does not make "
        "the service unready: crow-fly requests are answered throughout",
    )


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]
    store: Literal["embedded", "postgis"]
    providers: int | None = None
    data_version: int | None = None
    reason: str | None = None
    request_id: str | None = Field(
        default=None, description="when unavailable: the id the server logged the cause under"
    )


class ErrorDetail(BaseModel):
    parameter: str
    message: str
    allowed: str | None = None
    got: Any = None


class ErrorOut(BaseModel):
    error: str = Field(description="machine-readable kind: invalid_parameter, not_found, ...")
    message: str = Field(description="what went wrong and how to fix it, for a person")
    details: list[ErrorDetail] = []
    request_id: str | None = Field(
        default=None,
        description="this request's id (also in X-Request-ID): quote it when reporting a "
        "problem; the server's log has the rest under it",
    )


class LayerOut(BaseModel):
    """A map viewport's data (GeoJSON FeatureCollection): see ``mode``.

    * ``districts``: one Point per district (label point) with ``name`` and ``count``;
    * ``streets`` / ``communities`` (``level=street|community``): one feature per street
      (community) with ``name``, ``district`` and ``count``, drawn on its polygon when the
      operator loaded the layer, else at a point (the mean position of its providers);
    * ``cells``: one Polygon per H3 cell with ``cell`` (hex id) and ``count``;
    * ``points``: one Point per provider with its public summary
      (``/v1/providers/{id}`` has the rest).
    """

    type: Literal["FeatureCollection"] = "FeatureCollection"
    mode: Literal["districts", "streets", "communities", "cells", "points"]
    total: int = Field(description="providers passing the filters in the box (city: districts)")
    resolution: int | None = Field(description="H3 resolution of the cells, in cells mode")
    crs: CRS
    features: list[FeatureOut]


class CoverageQueryOut(BaseModel):
    """A coverage query as understood, and what the answer was computed from."""

    category: Category | None = Field(description="null: every category (district table)")
    resolution: int = Field(description="H3 resolution of the cells: 8 or 9")
    district: str | None = Field(description="null: the whole city")
    min_grade: Grade | None
    certified_only: bool
    crs: CRS | None = Field(description="CRS of the coordinates returned (null: none returned)")
    catchment_m: float = Field(
        description="a cell is covered when a suitable provider is this near"
    )
    data_version: int = Field(description="the store's data version the answer was computed at")
    demand_source: str = Field(description="where residents per cell come from")
    demand_source_zh: str = Field(
        default="", description="the same in Chinese, for the planner's pages (居民分布)"
    )
    demand: str | None = Field(
        default=None,
        description="the population column the category's figures count: aged_60_plus "
        "(elderly care, where the source has ages), residents, or the category's own "
        "column (null: several categories)",
    )
    speed: str = Field(default="adult", description="walking speed of the life circles")
    kind: str | None = Field(default=None, description="supply of this kind only (null: both)")
    distance_model: str = Field(
        default="geodesic on the WGS-84 ellipsoid",
        description="how distances were measured: geodesic on the WGS-84 ellipsoid "
        "(crow-fly), or walking over the street network",
    )
    mode: Literal["crow", "walk"] = Field(
        default="crow", description="crow: crow-fly (geodesic) distances; walk: walking"
    )
    mode_label: str = Field(
        default="直线距离 / crow-fly", description="the mode as every page says it"
    )
    minutes: float | None = Field(
        default=None,
        description="the catchment as minutes of walking at `speed` (null: the metres setting)",
    )
    speed_m_s: float | None = Field(default=None, description="that pace, metres per second")


class CoverageCellsOut(BaseModel):
    """Coverage per H3 cell (GeoJSON FeatureCollection of hexagons in ``query.crs``).

    Each feature's properties: ``cell`` (H3 hex id), ``district``, ``street``,
    ``residents``, ``nearest_m`` (geodesic metres to the nearest suitable provider; null when
    there is none), ``nearest_id``, ``providers_within`` (suitable providers within the
    catchment), ``accessibility`` (E2SFCA: practitioners per resident within reach; null
    when the providers in reach have no residents in reach), ``covered`` and ``gap``
    (residents live there and it is not covered).
    """

    type: Literal["FeatureCollection"] = "FeatureCollection"
    query: CoverageQueryOut
    cells: int = Field(description="number of features")
    features: list[FeatureOut]


class CoverageDistrictOut(BaseModel):
    """One district's coverage for one category."""

    category: Category
    district: str
    cells: int
    cells_covered: int
    share_cells_covered: float
    residents: float
    residents_covered: float
    share_residents_covered: float | None = Field(description="null without residents")
    gap_cells: int
    residents_in_gaps: float
    providers: int = Field(description="suitable providers whose point lies in the district")
    practitioners: int
    providers_per_10k: float | None = Field(description="per 10,000 residents")
    practitioners_per_10k: float | None = Field(description="per 10,000 residents")
    accessibility_q10: float | None = Field(description="E2SFCA quantiles over populated cells")
    accessibility_q50: float | None
    accessibility_q90: float | None


class CoverageDistrictsOut(BaseModel):
    query: CoverageQueryOut
    districts: list[CoverageDistrictOut]


class CoverageStreetOut(BaseModel):
    """One street's (街道/镇) coverage for one category."""

    category: Category
    district: str
    street: str | None = Field(description="null: cells no street could be found for")
    street_code: str | None = Field(description="9-digit code (layer or official list)")
    street_inferred: bool = Field(
        description="true when some of its cells got the street from the nearest provider's "
        "address, not from street polygons"
    )
    cells: int
    residents: float = Field(description="all residents (estimated)")
    demand: float = Field(description="residents the category serves (e.g. 60+ for elderly care)")
    residents_60plus: float | None = Field(description="null: the source has no ages")
    residents_covered: float = Field(description="demand within the catchment")
    share_covered: float | None = Field(description="null without demand")
    residents_in_gaps: float
    gap_cells: int
    providers: int
    practitioners: int
    within_5min: float = Field(description="demand within the 5-minute life circle")
    within_10min: float = Field(description="demand within the 10-minute life circle")
    within_15min: float = Field(description="demand within the 15-minute life circle")
    within_catchment: float | None = Field(
        default=None, description="demand within the catchment, when it is no life circle"
    )
    lon: float | None = Field(description="label point: mean of its cell centres, WGS-84")
    lat: float | None = Field(description="label point: mean of its cell centres, WGS-84")


class CoverageStreetsOut(BaseModel):
    query: CoverageQueryOut
    life_circles_m: dict[str, float] = Field(
        description="each life circle's reach in crow-fly metres at the query's speed"
    )
    streets: list[CoverageStreetOut]


class CandidateSiteOut(BaseModel):
    """A proposed station site: the centre of a gap cell."""

    rank: int = Field(ge=1, description="greedy order: each adds the most after those before")
    cell: str = Field(description="H3 cell id (hex)")
    lat: float = Field(description="latitude in the response's crs")
    lon: float = Field(description="longitude in the response's crs")
    district: str
    street: str | None
    street_inferred: bool = Field(
        default=False, description="street from the nearest provider's address, not polygons"
    )
    residents_in_reach: float = Field(description="gap residents the site covers on its own")
    residents_added: float = Field(description="newly covered after the sites ranked before it")
    cells_added: int
    address: str | None = Field(default=None, description="the address at the site")
    address_source: str = Field(
        default="none",
        description="amap (reverse geocoding), nearest_way ('XX路附近': the walking network's "
        "nearest named way) or none",
    )
    address_note: str | None = Field(
        default=None, description="why the online geocoder gave no address (null: it did)"
    )
    residents_served: float | None = Field(
        default=None,
        description="residents it newly serves: with JZMAP_RESIDENTS_PER_PRACTITIONER, those "
        "the existing providers' staff cannot (also in cells they cover); else residents_added",
    )


class ExistingCapacityOut(BaseModel):
    """How existing providers' staff limited a site plan (both planners say it alike)."""

    capacity_limited: bool = Field(
        default=False,
        description="existing providers' staff limited the plan (JZMAP_RESIDENTS_PER_PRACTITIONER "
        "set and some provider has a staff figure): a capacitated MCLP with them as fixed sites",
    )
    residents_per_practitioner: float | None = Field(
        default=None, description="the demand one practitioner serves (null: not set)"
    )
    existing_providers: int | None = Field(
        default=None,
        description="existing suitable providers of the city (any may serve the cells)",
    )
    existing_unlimited: int | None = Field(
        default=None,
        description="of them, those serving everyone they reach: no staff figure on file "
        "(all of them when capacity_limited is false)",
    )


class CandidatePlanOut(ExistingCapacityOut):
    """Coverage before and after the chosen sites, in the district (or city) planned for."""

    k: int
    sites: int = Field(description="sites chosen (fewer than k when gaps run out)")
    demand: str = Field(
        default="residents",
        description="the population column counted as residents (e.g. aged_60_plus for "
        "elderly care where the source has ages; as query.demand)",
    )
    solver: str
    status: str = Field(
        description="Optimal (proven), or why the search stopped: 'Time limit reached' (the "
        "best plan found), '…; greedy sites' (none found in time: greedy sites instead)"
    )
    optimality_gap: float | None = Field(
        default=None,
        description="relative gap between the plan and the best bound proven: 0 when "
        "optimal, null when unknown",
    )
    time_limit_s: float | None = Field(
        default=None, description="the solver's time limit (JZMAP_SOLVER_TIME_LIMIT_S)"
    )
    candidates: int = Field(description="gap cells that could take a site")
    candidates_considered: int = Field(description="the strongest of them offered to the solver")
    cells: int
    cells_covered_before: int
    cells_covered_after: int
    residents: float
    residents_covered_before: float
    residents_covered_after: float
    share_covered_before: float | None
    share_covered_after: float | None
    residents_newly_covered: float
    residents_served_by_existing_before: float | None = Field(
        default=None,
        description="residents the existing providers serve without the new sites (within "
        "their capacity; without capacities: residents_covered_before)",
    )
    residents_served_by_existing_after: float | None = Field(
        default=None, description="residents they serve with the new sites (they serve first)"
    )
    residents_newly_served: float | None = Field(
        default=None, description="residents the new sites serve: their sum"
    )


class CoverageCandidatesOut(BaseModel):
    query: CoverageQueryOut
    plan: CandidatePlanOut
    sites: list[CandidateSiteOut]
    excluded: list[str] = Field(default=[], description="the H3 cells `exclude` named")


class RoomSiteOut(BaseModel):
    """A proposed site among the office's candidate rooms (JZMAP_CANDIDATE_SITES)."""

    rank: int = Field(ge=1, description="greedy order: each adds the most after those before")
    id: str = Field(description="the room's id in the candidates file")
    name: str | None
    lat: float = Field(description="latitude in the response's crs")
    lon: float = Field(description="longitude in the response's crs")
    address: str | None
    street: str | None
    street_source: str | None = Field(
        description="file (the candidates file's 街道), or nearest way (OpenStreetMap)"
    )
    capacity: float | None = Field(description="residents it can serve (null: no limit)")
    demand_in_reach: float = Field(description="demand in gap cells within the catchment")
    demand_added: float = Field(description="newly within reach after the sites ranked before")
    demand_served: float = Field(
        description="what its capacity lets it take on; with JZMAP_RESIDENTS_PER_PRACTITIONER, "
        "what it newly serves beyond the existing providers' staff (also in cells they cover)"
    )
    cells_added: int
    address_source: str = Field(
        default="none",
        description="file (the candidates file's), amap (reverse geocoding), nearest_way "
        "('XX路附近') or none",
    )
    address_note: str | None = Field(
        default=None, description="why the online geocoder gave no address (null: it did)"
    )


class RoomPlanOut(ExistingCapacityOut):
    """What the chosen rooms change in the district: demand newly within the catchment."""

    k: int
    sites: int
    demand: str = Field(
        description="the population column counted (e.g. aged_60_plus for elderly care where "
        "the source has ages; as query.demand)"
    )
    catchment_m: float
    solver: str
    status: str
    optimality_gap: float | None = None
    time_limit_s: float | None = None
    candidates: int = Field(description="rooms offered to the solver (after exclusions)")
    demand_total: float
    demand_covered_before: float
    demand_newly_in_reach: float
    demand_served: float
    share_covered_before: float | None
    share_covered_after: float | None
    demand_served_by_existing_before: float | None = Field(
        default=None,
        description="demand the existing providers serve without the rooms (within their "
        "capacity; without capacities: demand_covered_before)",
    )
    demand_served_by_existing_after: float | None = Field(
        default=None, description="demand they serve with the chosen rooms (they serve first)"
    )


class CoverageSitesOut(BaseModel):
    query: CoverageQueryOut
    plan: RoomPlanOut
    sites: list[RoomSiteOut]
    excluded: list[str] = Field(default=[], description="the room ids or cells `exclude` named")


# -- dynamic grades ---------------------------------------------------------------------


class _InputModel(BaseModel):
    """An admin input: unknown fields refused, text held to the import's limits
    (``ingest.limits``, as ``max_length`` on each field) and to what a store can keep."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        texts = value if isinstance(value, list) else [value]
        for text in texts:
            if isinstance(text, str) and _UNSTORABLE.search(text):
                raise ValueError(
                    "holds a NUL character or a lone surrogate, which cannot be stored"
                )
        return value


_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


class SubjectIn(_InputModel):
    """Whom an evaluation is about: a company (its provider id, ``co-…``) or a
    practitioner (their registry id)."""

    kind: SubjectKind = SubjectKind.COMPANY
    id: str = Field(min_length=1, max_length=ID_CHARS)

    def to_domain(self) -> Subject:
        return Subject(self.kind, self.id)


class _EvaluationIn(_InputModel):
    id: str = Field(min_length=1, max_length=ID_CHARS, description="unique across the whole feed")
    subject: SubjectIn


class ReviewIn(_EvaluationIn):
    """A customer review: 1 to 5 stars and optional text (kept private)."""

    type: Literal["review"]
    at: AwareDatetime = Field(description="when it was given, with a time zone")
    stars: int = Field(ge=1, le=5, strict=True)
    text: str = Field("", max_length=TEXT_CHARS)

    def to_domain(self) -> Review:
        return Review(self.id, self.subject.to_domain(), self.at, self.stars, self.text)


class ComplaintIn(_EvaluationIn):
    """A complaint; send it again with the same id when it is verified or rejected."""

    type: Literal["complaint"]
    severity: Severity
    filed_at: AwareDatetime
    status: ComplaintStatus = ComplaintStatus.FILED
    resolved_at: AwareDatetime | None = None
    text: str = Field("", max_length=TEXT_CHARS)

    def to_domain(self) -> Complaint:
        return Complaint(
            self.id,
            self.subject.to_domain(),
            self.severity,
            self.filed_at,
            self.status,
            self.resolved_at,
            self.text,
        )


class VisitIn(_EvaluationIn):
    """An order follow-up visit (订单回访) and what it found."""

    type: Literal["visit"]
    at: AwareDatetime
    outcome: VisitOutcome
    note: str = Field("", max_length=TEXT_CHARS)

    def to_domain(self) -> FollowUpVisit:
        return FollowUpVisit(self.id, self.subject.to_domain(), self.at, self.outcome, self.note)


EvaluationIn = Annotated[ReviewIn | ComplaintIn | VisitIn, Field(discriminator="type")]


class EvaluationBatchIn(BaseModel):
    """A batch of evaluations. Items are checked one by one: an invalid item is reported
    and does not hold back the others."""

    # SkipValidation: the spec documents each item as a review, complaint or visit, but
    # the request validates only that this is a list; the route validates each item on its
    # own, so one bad item is reported alone instead of failing the whole request.
    evaluations: list[SkipValidation[EvaluationIn]] = Field(
        description="reviews, complaints and visits, each with `type` review, complaint or "
        "visit; an item that does not fit its schema is rejected alone (see `rejected`)",
    )


class SubjectOut(BaseModel):
    kind: SubjectKind
    id: str


class RejectedItemOut(BaseModel):
    index: int = Field(description="position in the batch, from 0")
    id: str | None = Field(description="the item's id, when it has a readable one")
    reasons: list[str]


class GradeChangeOut(BaseModel):
    subject: SubjectOut
    at: datetime
    cause: list[str] = Field(description="ids of the evaluations behind the change")
    grade_before: str = Field(description="5A..A for companies, 5..1 stars for practitioners")
    grade_after: str
    score_before: float
    score_after: float
    blacklisted: bool = Field(description="this change blacklisted a practitioner")


class EvaluationReportOut(BaseModel):
    received: int
    accepted: list[str] = Field(description="ids recorded (new, or a complaint's resolution)")
    duplicates: list[str] = Field(description="ids already recorded as sent: nothing changed")
    rejected: list[RejectedItemOut]
    grade_changes: list[GradeChangeOut] = Field(description="audit records this batch added")
    providers_updated: list[str] = Field(
        description="companies whose public grade, or certified count (a practitioner of "
        "theirs blacklisted), changed"
    )
    blacklisted: list[str] = Field(
        description="practitioners blacklisted by this batch (their registry record too: "
        "certificate revoked, re-application barred for 3 years)"
    )


class GradeHistoryEntryOut(BaseModel):
    """One change of a company's dynamic score or grade (no review text, nothing personal)."""

    at: datetime
    cause: list[str] = Field(
        description="ids of the evaluations behind the change; for a new official "
        "assessment (a registry import with another grade, which restarts the dynamic score "
        "from it) `official:<file>`"
    )
    grade_before: Grade
    grade_after: Grade
    score_before: float = Field(description="dynamic score, 0-100 points")
    score_after: float
    explanation_zh: str = Field(
        "",
        description="the change in plain words (Chinese): what happened, how many points on "
        "which dimension, whether it was appealed; never a name or a complainant",
    )
    explanation_en: str = Field("", description="the same sentence in English")
    appealed: AppealStatus | None = Field(
        None,
        description="the state of an appeal against a complaint behind the change: filed "
        "(pending), upheld, dismissed; null when none",
    )


class GradeHistoryOut(BaseModel):
    provider_id: str
    credit_grade: Grade | None = Field(description="the current grade; null for stations")
    baseline: Grade | None = Field(description="the official grade the dynamic score started from")
    baseline_since: datetime | None
    score: float | None = Field(description="the current dynamic score, once evaluated")
    changes: list[GradeHistoryEntryOut] = Field(description="oldest first")


class CheckIn(_InputModel):
    """One of the five checks behind the 安心服务证."""

    status: CheckStatus = CheckStatus.MISSING
    evidenced_on: date | None = Field(None, description="date of the evidence")
    expires_on: date | None = Field(
        None, description="last day the evidence holds (required for the health certificate)"
    )

    def to_domain(self) -> CheckRecord:
        return CheckRecord(self.status, self.evidenced_on, self.expires_on)


class BlacklistingIn(_InputModel):
    on: date
    reason: str = Field(min_length=1, max_length=TEXT_CHARS)
    cause: list[Annotated[str, Field(max_length=ID_CHARS)]] = Field(
        default_factory=list, max_length=CAUSE_IDS, description="evaluation ids behind it"
    )

    def to_domain(self) -> Blacklisting:
        return Blacklisting(self.on, self.reason, tuple(self.cause))


class PractitionerIn(_InputModel):
    """A practitioner as the official register has them (private: never shown publicly).

    Checks left out are ``missing``. The certificate's status is computed, never sent."""

    id: str = Field(
        min_length=1, max_length=ID_CHARS, description="registry id (not the ID number)"
    )
    name: str = Field(min_length=1, max_length=PERSON_NAME_CHARS)
    id_number: str = Field(
        min_length=1, max_length=ID_NUMBER_CHARS, description="18-character ID number"
    )
    phone: str = Field("", max_length=PERSON_PHONE_CHARS)
    company_id: str | None = Field(
        None, max_length=ID_CHARS, description="employing company (co-…)"
    )
    stars: int | None = Field(None, ge=1, le=5, strict=True, description="official rating")
    real_name: CheckIn = Field(default_factory=CheckIn)
    pre_job_training: CheckIn = Field(default_factory=CheckIn)
    no_criminal_record: CheckIn = Field(default_factory=CheckIn)
    health_certificate: CheckIn = Field(default_factory=CheckIn)
    vocational_certificate: CheckIn = Field(default_factory=CheckIn)
    certificate_code: str | None = Field(None, max_length=CERTIFICATE_CODE_CHARS)
    certificate_issued_on: date | None = None
    certificate_revoked_on: date | None = None
    blacklisting: BlacklistingIn | None = None
    home_address: str = Field("", max_length=HOME_ADDRESS_CHARS)
    home_lon: float | None = None
    home_lat: float | None = None

    def to_domain(self) -> Practitioner:
        """Raises :class:`~providers.practitioners.InvalidPractitionerError` (messages
        naming fields, never personal values) when the record breaks an invariant."""
        return Practitioner(
            id=self.id,
            name=self.name,
            id_number=self.id_number,
            phone=self.phone,
            company_id=self.company_id,
            stars=None if self.stars is None else Stars(self.stars),
            real_name=self.real_name.to_domain(),
            pre_job_training=self.pre_job_training.to_domain(),
            no_criminal_record=self.no_criminal_record.to_domain(),
            health_certificate=self.health_certificate.to_domain(),
            vocational_certificate=self.vocational_certificate.to_domain(),
            certificate_code=self.certificate_code,
            certificate_issued_on=self.certificate_issued_on,
            certificate_revoked_on=self.certificate_revoked_on,
            blacklisting=None if self.blacklisting is None else self.blacklisting.to_domain(),
            home_address=self.home_address,
            home_lon=self.home_lon,
            home_lat=self.home_lat,
        )


class PractitionerBatchIn(BaseModel):
    """A batch of practitioners. Items are checked one by one."""

    # As EvaluationBatchIn: items documented as PractitionerIn, validated by the route.
    practitioners: list[SkipValidation[PractitionerIn]] = Field(
        description="practitioners as the official register has them; an item that does "
        "not fit its schema is rejected alone (see `rejected`)",
    )


class PractitionerLoadOut(BaseModel):
    """No personal value is ever echoed: ids and reasons naming fields only."""

    received: int
    accepted: list[str] = Field(description="ids stored (new or changed)")
    unchanged: list[str] = Field(description="ids already stored as sent")
    rejected: list[RejectedItemOut]
    providers_updated: list[str] = Field(description="companies whose public counts changed")
    counted_on: date = Field(description="the date (China time) the counts were derived at")
    rebaselined: list[str] = Field(
        description="ids of evaluated practitioners whose official stars changed: the grade "
        "book now starts their dynamic grade from the new stars (audit cause "
        "official:registry)"
    )


class CertificateCompanyOut(BaseModel):
    id: str
    name: str | None = Field(description="null when the company is no longer listed")


class CertificateOut(BaseModel):
    """A 安心服务证 as a household may check it: nothing personal beyond a masked name."""

    code: str
    valid: bool = Field(description="true only when status is valid")
    status: CertificateStatus = Field(description="valid, expired, incomplete or revoked")
    checked_on: date = Field(description="the date (China time) the status holds for")
    company: CertificateCompanyOut | None = Field(description="null for a freelancer")
    masked_name: str = Field(description="surname and last character only, e.g. 张*华")


class AppealIn(_InputModel):
    """An appeal (申诉) against a verified complaint: its deductions and any blacklisting
    (scope ``complaint``) or only the blacklisting (scope ``blacklisting``)."""

    id: str = Field(min_length=1, max_length=100, description="unique among evaluation ids")
    complaint_id: str = Field(min_length=1, max_length=100)
    filed_at: AwareDatetime
    scope: AppealScope = AppealScope.COMPLAINT
    grounds: str = Field("", max_length=TEXT_CHARS, description="kept for operators only")


class AppealDecisionIn(_InputModel):
    """The decision on a filed appeal: final."""

    status: Literal[AppealStatus.UPHELD, AppealStatus.DISMISSED]
    decided_at: AwareDatetime
    decided_by: str = Field(min_length=1, max_length=100, description="the operator deciding")
    decision: str = Field(min_length=1, max_length=TEXT_CHARS, description="why")


class AppealOut(BaseModel):
    id: str
    subject: SubjectOut
    complaint_id: str
    scope: AppealScope
    filed_at: datetime
    grounds: str
    status: AppealStatus
    decided_at: datetime | None
    decided_by: str
    decision: str
    grade_changes: list[GradeChangeOut] = Field(
        [], description="audit records recording it added (empty on a read)"
    )
    practitioners_lifted: list[str] = Field(
        [], description="practitioners whose registry blacklisting it lifted"
    )
    providers_updated: list[str] = []


class NoticeOut(BaseModel):
    kind: Literal["blacklisting", "grade_drop"]
    change: GradeChangeOut
    trigger_types: list[str] = Field(description="review, complaint, visit or appeal, per cause")
    explanation_zh: str
    explanation_en: str
    review_by: datetime = Field(description="the end of the appeal window")


class NoticesOut(BaseModel):
    since: datetime
    window_days: int
    notices: list[NoticeOut] = Field(description="oldest first")


class PlaceOut(BaseModel):
    """A place the search box suggests (issue 16): where to search from."""

    name: str = Field(description="the name to show: the area's, or the address as typed")
    district: str = Field(description="the district it is in, when the gazetteer knows it")
    kind: Literal["district", "street", "address"] = Field(
        description="an area of the gazetteer, or an address (a 小区, a landmark, a number)"
    )
    lon: float = Field(description="longitude in `crs`")
    lat: float = Field(description="latitude in `crs`")
    source: Literal["gazetteer", "amap"] = Field(description="the geocoder that found it")


class PlacesOut(BaseModel):
    q: str = Field(description="the text asked about, as read (trimmed)")
    crs: CRS
    places: list[PlaceOut] = Field(description="best first; empty when nothing matches")
    unavailable: list[str] = Field(
        description="geocoders that could not answer this time (the others' places stand)"
    )
