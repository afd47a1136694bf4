"""The map pages: ``/map`` (the city map), ``/widget`` (for an ``<iframe>``), ``/embed``
(the snippet to copy), ``/docs`` (the API's Swagger UI) and their static files.

Each page is sent with a Content-Security-Policy: scripts only from this site or carrying
the response's nonce, API calls only to this site, and ``frame-ancestors`` limited to this
site (plus, for the widget, the origins in ``JZMAP_EMBED_ORIGINS``).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError

from api.dependencies import (
    BackendDep,
    EmbedOriginsDep,
    GradeBookDep,
    ProviderDep,
    SettingsDep,
    get_listed_provider,
)
from api.problem_reports import ReportRefusedError, file_report
from geo.crs import CRS, to_wgs84
from jzmap.application.appeals import appeals_by_complaint
from jzmap.application.coverage import CoverageService
from jzmap.presentation.explanations import explain
from jzmap.presentation.presenters import PublicView, provider_out
from jzmap.presentation.problem_reports import ReportIn
from jzmap.settings import MapSettings, Settings
from jzmap.wiring import district_point, districts_layer
from maps.coverage_workbench import render_workbench
from maps.docs import CONTENT_SECURITY_POLICY as DOCS_CSP
from maps.docs import REDOC_CONTENT_SECURITY_POLICY, render_docs_page, render_redoc_page
from maps.embed import render_embed_page, render_not_allowed_page
from maps.i18n import Lang
from maps.page import DEFAULT_CENTER, DEFAULT_ZOOM, STATIC_DIR, PageKind, PageOptions, render_page
from maps.provider_page import (
    GradePoint,
    GradeTrail,
    PageNotice,
    render_provider_page,
    report_notice,
)
from providers.embedding import normalize_origin
from providers.errors import InvalidParameterError
from providers.evaluations import Subject
from providers.gradebook import GradeBook
from providers.model import Category, Grade, Kind, Provider
from providers.viewport import ZOOM_BOUNDS

router = APIRouter(include_in_schema=False)
static_files = StaticFiles(directory=STATIC_DIR)


def _tile_source(tiles_url: str) -> str:
    """The CSP source the basemap's tiles come from (``{s}`` subdomains as a wildcard)."""
    parts = urlsplit(tiles_url)
    if not parts.scheme:
        return ""  # a path on this site: 'self' already allows it
    host = parts.netloc.replace("{s}", "*")
    return f"{parts.scheme}://{host}"


def content_security_policy(map_: MapSettings, nonce: str, *, frameable_by: list[str]) -> str:
    ancestors = " ".join(["'self'", *frameable_by])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            # Leaflet positions every marker and tile with inline style attributes.
            "style-src 'self' 'unsafe-inline'",
            f"img-src 'self' data: {_tile_source(map_.tiles_url)}".rstrip(),
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {ancestors}",
        ]
    )


def _page_response(
    settings: Settings, body: str, nonce: str, frameable_by: list[str]
) -> HTMLResponse:
    return HTMLResponse(
        body,
        headers={
            "Content-Security-Policy": content_security_policy(
                settings.map, nonce, frameable_by=frameable_by
            ),
            "Referrer-Policy": "strict-origin-when-cross-origin",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        },
    )


@dataclass(frozen=True)
class PageQuery:
    """The parameters /map and /widget share (a FastAPI dependency)."""

    lang: Lang = Lang.ZH
    category: Category | None = None
    min_grade: Grade | None = None
    kind: Kind | None = None
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None
    zoom: Annotated[int | None, Query(ge=ZOOM_BOUNDS[0], le=ZOOM_BOUNDS[1])] = None
    crs: Annotated[
        CRS, Query(description="datum of lat/lon; the widget posts coordinates in it too")
    ] = CRS.WGS84
    large_text: bool = False
    certified_only: bool = False
    district: Annotated[
        str | None,
        Query(max_length=50, description="start at a district: its name (天河区) or code (440106)"),
    ] = None
    open_now: Annotated[bool, Query(description="open the page with the open-now toggle on")] = (
        False
    )
    open_at: Annotated[
        datetime | None,
        Query(description="the time the open-now toggle asks about (ISO 8601); default now"),
    ] = None


PageQueryDep = Annotated[PageQuery, Depends()]


def _options(
    settings: Settings,
    request: Request,
    kind: PageKind,
    q: PageQuery,
    *,
    coverage: bool = False,
    embed_origins: tuple[str, ...] = (),
) -> PageOptions:
    point = None
    center = DEFAULT_CENTER
    if q.lat is not None and q.lon is not None:
        wgs_lon, wgs_lat = to_wgs84(q.lon, q.lat, q.crs)
        point = center = (float(wgs_lon), float(wgs_lat))
    elif q.district is not None:
        point = center = district_point(settings.city, q.district)
    return PageOptions(
        kind=kind,
        lang=q.lang,
        tiles_url=settings.map.tiles_url,
        tiles_attribution=settings.map.tiles_attribution,
        tiles_crs=settings.map.tiles_crs,
        tiles_max_zoom=settings.map.tiles_max_zoom,
        center=center,
        zoom=q.zoom if q.zoom is not None else (15 if point else DEFAULT_ZOOM),
        point=point,
        category=q.category,
        min_grade=q.min_grade,
        provider_kind=q.kind,
        large_text=q.large_text,
        certified_only=q.certified_only,
        open_now=q.open_now,
        open_at=None if q.open_at is None else q.open_at.isoformat(),
        coverage=coverage,
        embed_origins=embed_origins,
        query=dict(request.query_params),
    )


@router.get("/map", response_class=HTMLResponse)
def map_page(
    request: Request,
    settings: SettingsDep,
    q: PageQueryDep,
    view: Annotated[
        Literal["providers", "coverage"],
        Query(
            description="providers, or coverage: the planner's workbench (coverage gaps of a "
            "category per district and street, proposed sites, exports, print)"
        ),
    ] = "providers",
) -> HTMLResponse:
    """The city map: providers by category and grade, nearest-match on a tap; or the
    coverage gaps of a category (district shares, cells, proposed stations)."""
    nonce = secrets.token_urlsafe(16)
    options = _options(settings, request, PageKind.MAP, q, coverage=view == "coverage")
    if view == "coverage":
        # The planner's workbench: a page of its own, without the residents' search. The
        # server says which distances it can measure and whose sites it plans, so the page
        # offers only what the API will answer (walking needs JZMAP_STREET_NETWORK; her
        # own rooms JZMAP_CANDIDATE_SITES). Asked of the service only here: the residents'
        # map needs none.
        coverage: CoverageService = request.app.state.coverage
        body = render_workbench(
            options,
            districts_layer(settings.city),
            nonce,
            walking=coverage.network is not None and coverage.network.configured,
            default_mode=coverage.default_mode,
            rooms=coverage.settings.candidate_sites is not None,
        )
        return _page_response(settings, body, nonce, frameable_by=[])
    body = render_page(options, districts_layer(settings.city), nonce)
    return _page_response(settings, body, nonce, frameable_by=[])


@router.get("/widget/v1", response_class=HTMLResponse)
@router.get("/widget", response_class=HTMLResponse)
def widget_page(
    request: Request, settings: SettingsDep, q: PageQueryDep, origins: EmbedOriginsDep
) -> HTMLResponse:
    """The map with minimal chrome, for other city apps' ``<iframe>`` (version 1 of its
    messages; ``/widget`` is the same page).

    Framed by a site not allowed to embed it, the page would be blocked whole by its CSP
    (the browser's own error page, no word of why): when the request says so (an
    ``iframe`` load whose ``Referer`` is another site's origin), a small page that says
    the site is not yet allowed, and whom to ask, is sent instead. The CSP stays what
    enforces the list; the ``Referer`` only picks the friendlier answer.
    """
    allowed = origins.origins()
    host = framing_origin(request.headers)
    if host is not None and host not in allowed:
        return not_allowed_response(settings, q.lang, host)
    nonce = secrets.token_urlsafe(16)
    options = _options(settings, request, PageKind.WIDGET, q, embed_origins=allowed)
    body = render_page(options, districts_layer(settings.city), nonce)
    return _page_response(settings, body, nonce, frameable_by=list(allowed))


def framing_origin(headers: Mapping[str, str]) -> str | None:
    """The origin of the page framing this request, when another site's; else ``None``.

    Only for an ``iframe`` load from another origin (``Sec-Fetch-Dest: iframe``,
    ``Sec-Fetch-Site`` not ``same-origin``) that names its page in ``Referer`` (browsers
    send its origin by default); a host page sending no ``Referer`` gets the widget and
    the CSP decides.

    Examples
    --------
    >>> framing_origin({"sec-fetch-dest": "iframe", "sec-fetch-site": "cross-site",
    ...                 "referer": "https://app.example.cn/page?x=1"})
    'https://app.example.cn'
    >>> framing_origin({"sec-fetch-dest": "document", "referer": "https://a.cn/"}) is None
    True
    """
    if headers.get("sec-fetch-dest") != "iframe" or headers.get("sec-fetch-site") in (
        None,
        "same-origin",
    ):
        return None
    parts = urlsplit(headers.get("referer") or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    try:
        return normalize_origin(f"{parts.scheme}://{parts.netloc}")
    except InvalidParameterError:
        return None


def not_allowed_response(settings: Settings, lang: Lang, host: str) -> HTMLResponse:
    """The page a site not allowed to embed the widget gets in its frame: framable by
    anyone (it says only what the host already knows, and whom to ask), never cached
    (the same address gives the widget to an allowed site)."""
    nonce = secrets.token_urlsafe(16)
    body = render_not_allowed_page(lang, host, settings.server.embed_contact, nonce)
    return HTMLResponse(
        body,
        status_code=403,
        headers={
            "Content-Security-Policy": "; ".join(
                [
                    "default-src 'none'",
                    f"script-src 'nonce-{nonce}'",
                    f"style-src 'nonce-{nonce}'",
                    "base-uri 'none'",
                    "form-action 'none'",
                    "frame-ancestors *",
                ]
            ),
            "Cache-Control": "no-store",
            "Vary": "Referer, Sec-Fetch-Dest, Sec-Fetch-Site",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/embed", response_class=HTMLResponse)
def embed_page(settings: SettingsDep, lang: Lang = Lang.ZH) -> HTMLResponse:
    """Choose the widget's options and copy its ``<iframe>`` snippet.

    The snippet's address is ``JZMAP_PUBLIC_URL``; unset, the page takes the address its
    browser loaded it from. Never the request's ``Host`` header, which any client sets (and
    a cache in front would then serve a snippet pointing at the client's choice).
    """
    nonce = secrets.token_urlsafe(16)
    body = render_embed_page(lang, settings.server.public_base_url or "", nonce)
    return _page_response(settings, body, nonce, frameable_by=[])


@router.get("/docs", response_class=HTMLResponse)
def docs_page(request: Request) -> HTMLResponse:
    """Swagger UI for the API, from this site's files (``maps.docs``)."""
    root = request.scope.get("root_path", "")
    body = render_docs_page(f"{root}{request.app.openapi_url}", request.app.title)
    return HTMLResponse(
        body,
        headers={
            "Content-Security-Policy": DOCS_CSP,
            "Cache-Control": "no-cache",
        },
    )


@router.get("/redoc", response_class=HTMLResponse)
def redoc_page(request: Request) -> HTMLResponse:
    """ReDoc for the API, from this site's files (``maps.docs``)."""
    root = request.scope.get("root_path", "")
    body = render_redoc_page(f"{root}{request.app.openapi_url}", request.app.title)
    return HTMLResponse(
        body,
        headers={
            "Content-Security-Policy": REDOC_CONTENT_SECURITY_POLICY,
            "Cache-Control": "no-cache",
        },
    )


@router.get("/p/{provider_id}", response_class=HTMLResponse)
def provider_page(
    provider: ProviderDep,
    gradebook: GradeBookDep,
    settings: SettingsDep,
    lang: Lang = Lang.ZH,
    reported: Annotated[bool, Query(description="a report was just received")] = False,
) -> HTMLResponse:
    """One provider's page to share: phone first, navigate, hours and open now, grade and
    its history, "report a problem"; every fact in the HTML itself (no script needed),
    ``og:`` tags for previews."""
    notice = PageNotice(report_notice(lang, "sent")) if reported else None
    return _provider_response(provider, gradebook, settings, lang, notice)


@router.post("/p/{provider_id}/report", response_class=HTMLResponse)
async def provider_report_form(
    request: Request,
    provider_id: Annotated[str, Path(min_length=1, max_length=100)],
    backend: BackendDep,
    settings: SettingsDep,
    lang: Lang = Lang.ZH,
) -> Response:
    """The provider page's "report a problem" form, as posted with scripts off: the same
    checks and store as ``POST /v1/providers/{id}/reports``, then back to the page (303)
    saying it was received; refused, the page again with why (and the refusal's status)."""
    form = await request.form()
    kind, text = form.get("kind"), form.get("text")
    try:
        report = ReportIn.model_validate(
            {"kind": kind, "text": text or None if isinstance(text, str) else None}
        )
    except ValidationError:
        report = None
    provider = await run_in_threadpool(get_listed_provider, backend.store, provider_id)
    status, outcome = 422, "failed"
    if report is not None:
        try:
            await run_in_threadpool(file_report, request, settings, backend, report, provider_id)
        except ReportRefusedError as refused:
            status, outcome = refused.status, "busy" if refused.status == 429 else "failed"
        else:
            target = f"/p/{quote(provider_id, safe='')}?lang={lang.value}&reported=true"
            return RedirectResponse(target, status_code=303)
    response = await run_in_threadpool(
        _provider_response,
        provider,
        backend.gradebook,
        settings,
        lang,
        PageNotice(report_notice(lang, outcome), error=True),
    )
    response.status_code = status
    return response


def _grade_trail(provider: Provider, gradebook: GradeBook, lang: Lang) -> GradeTrail:
    """The chart's points (the baseline, then each change) and each change in plain words
    (the same sentences as ``/v1/providers/{id}/grade-history``), newest first."""
    if provider.kind is not Kind.COMPANY:
        return GradeTrail()
    subject = Subject.company(provider.id)
    points: list[GradePoint] = []
    current = gradebook.current(subject)
    if current is not None and isinstance(current.baseline.grade, Grade):
        points.append(GradePoint(current.baseline.since, current.baseline.grade))
    history = gradebook.history(subject)
    points += [
        GradePoint(change.at, change.grade_after)
        for change in history
        if isinstance(change.grade_after, Grade)
    ]
    points.sort(key=lambda point: point.at)
    # Explanations read the evaluations' kinds, severities and dates, never their texts.
    events = {e.id: e for e in gradebook.events(subject)} if history else {}
    appeals = appeals_by_complaint(list(events.values()))
    sentences = [explain(change, events, appeals) for change in history]
    changes = [s.zh if lang is Lang.ZH else s.en for s in reversed(sentences)]
    return GradeTrail(points, changes)


def _provider_response(
    provider: Provider,
    gradebook: GradeBook,
    settings: Settings,
    lang: Lang,
    notice: PageNotice | None,
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    view = PublicView.of(settings.map.public_phones)
    out = provider_out(provider, settings.map.tiles_crs, view)
    trail = _grade_trail(provider, gradebook, lang)
    base = settings.server.public_base_url or ""
    page_url = f"{base}/p/{quote(provider.id)}"
    body = render_provider_page(out, trail, lang, page_url=page_url, nonce=nonce, notice=notice)
    policy = "; ".join(
        [
            "default-src 'none'",
            f"style-src 'nonce-{nonce}'",
            f"script-src 'nonce-{nonce}'",
            "connect-src 'self'",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )
    return HTMLResponse(
        body,
        headers={
            "Content-Security-Policy": policy,
            "Referrer-Policy": "strict-origin-when-cross-origin",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        },
    )
