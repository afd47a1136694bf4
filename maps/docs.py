"""The ``/docs`` page: Swagger UI from this site's own files, pinned and integrity-checked.

The viewer is npm's ``swagger-ui-dist``, vendored by ``scripts/vendor-swagger-ui`` into
``maps/static/vendor/swagger-ui/`` with ``PROVENANCE.json`` (version, source, the
tarball's integrity, each file's SHA-256 and SRI hash). The page names each file with its
SRI hash, so a browser refuses a file that is not the one vendored; no script runs inline
(``docs.js`` starts the viewer), so the page's CSP allows scripts from this site only.
"""

from __future__ import annotations

import functools
import html
import json
from pathlib import Path
from typing import Any

from maps.page import STATIC_DIR, STATIC_URL

SWAGGER_UI_DIR = STATIC_DIR / "vendor" / "swagger-ui"
SWAGGER_UI_URL = f"{STATIC_URL}/vendor/swagger-ui"
REDOC_DIR = STATIC_DIR / "vendor" / "redoc"
REDOC_URL = f"{STATIC_URL}/vendor/redoc"


def viewer_csp(*, extra_styles: str = "", workers: str = "") -> str:
    """The Content-Security-Policy of an API viewer page (``/docs``, ``/redoc``): its files
    from this site only, no inline script; ``extra_styles`` and ``workers`` add the style
    and worker sources a viewer needs beyond that."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            f"style-src 'self'{extra_styles}",
            # The viewers' icons are inline SVG data URIs.
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            *([f"worker-src 'self'{workers}"] if workers else []),
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


# Swagger UI sets styles through the DOM, which style-src does not govern: no
# 'unsafe-inline' (tests/test_docs.py opens an operation in Chromium to check).
CONTENT_SECURITY_POLICY = viewer_csp()


@functools.cache
def vendored_provenance(directory: Path) -> dict[str, Any]:
    """``PROVENANCE.json`` of a vendored viewer (:data:`SWAGGER_UI_DIR`, :data:`REDOC_DIR`)."""
    data: dict[str, Any] = json.loads((directory / "PROVENANCE.json").read_text("utf-8"))
    return data


def render_docs_page(openapi_url: str, title: str) -> str:
    """The HTML of ``/docs`` for the schema at ``openapi_url``."""
    files = vendored_provenance(SWAGGER_UI_DIR)["files"]
    css = files["swagger-ui.css"]["sri"]
    js = files["swagger-ui-bundle.js"]["sri"]
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{SWAGGER_UI_URL}/swagger-ui.css" integrity="{css}">
<script src="{SWAGGER_UI_URL}/swagger-ui-bundle.js" integrity="{js}" defer></script>
<script src="{STATIC_URL}/docs.js" defer></script>
</head>
<body>
<div id="swagger-ui" data-openapi="{html.escape(openapi_url)}"></div>
</body>
</html>
"""


# ReDoc (styled-components) writes <style> elements at run time, and its search index
# runs in a worker made from a blob.
REDOC_CONTENT_SECURITY_POLICY = viewer_csp(extra_styles=" 'unsafe-inline'", workers=" blob:")


def render_redoc_page(openapi_url: str, title: str) -> str:
    """The HTML of ``/redoc`` (ReDoc from this site's files) for the schema at ``openapi_url``."""
    sri = vendored_provenance(REDOC_DIR)["files"]["redoc.standalone.js"]["sri"]
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="icon" href="data:,">
<script src="{REDOC_URL}/redoc.standalone.js" integrity="{sri}" defer></script>
<script src="{STATIC_URL}/redoc.js" defer></script>
</head>
<body>
<div id="redoc" data-openapi="{html.escape(openapi_url)}"></div>
</body>
</html>
"""
