"""HTML pages rendered from templates (bridge/web/templates: Jinja2 through aiohttp-jinja2, with
autoescape on). Links in templates come from named routes: `{{ url('admin_user', ref=uid) }}`."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp_jinja2
import jinja2
from aiohttp import web


def setup_pages(app: web.Application) -> None:
    aiohttp_jinja2.setup(app, loader=jinja2.PackageLoader("bridge.web", "templates"), autoescape=True)


def render_page(
    request: web.Request,
    template: str,
    context: Mapping[str, object],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    response.headers.update(headers or {})
    return response
