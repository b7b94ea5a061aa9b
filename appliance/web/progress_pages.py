"""The test progress for people: pages under ``/progress``, each with its JSON twin under
``/api/progress`` answering exactly what the page shows (``appliance.progress.pages.PageViews``).
The pages follow ``progress.run`` and ``progress.test`` on ``/events`` (``static/progress.js``)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, render_template
from markupsafe import Markup, escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from appliance.progress.errors import NotFound
from appliance.progress.pages import PageViews
from appliance.web.errors import answer_errors
from appliance.web.services import services

bp = Blueprint("progress_pages", __name__)


def views() -> PageViews:
    return PageViews(services().progress.views)


answer_errors(bp, {NotFound: 404})

# Highlighting costs about a millisecond per kilobyte: a page highlights at most this much of its
# scripts (a dry run may carry a megabyte of them) and shows the rest as plain text.
HIGHLIGHT_BYTES = 256 * 1024
_FORMATTER = HtmlFormatter(nowrap=True)


@bp.app_template_filter("python_source")
def python_source(script: str) -> Markup:
    """A test script as highlighted HTML (Pygments, on the server: no request leaves the
    appliance), or escaped plain text once the page's budget is spent."""
    left = g.get("highlight_left", HIGHLIGHT_BYTES)
    if len(script) > left:
        g.highlight_left = 0
        return escape(script)
    g.highlight_left = left - len(script)
    return Markup(highlight(script, PythonLexer(), _FORMATTER))  # noqa: S704 (Pygments escapes every token)


@bp.get("/api/progress/machines")
def machines():
    return jsonify(views().overview())


@bp.get("/api/progress/machines/<id:pk>")
def machine(pk: int):
    return jsonify(views().machine(pk))


@bp.get("/api/progress/runs/<id:pk>")
def run(pk: int):
    return jsonify(views().run(pk))


@bp.get("/progress")
def index():
    return render_template("progress/index.html", **views().overview())


@bp.get("/progress/machines/<id:pk>")
def machine_page(pk: int):
    return render_template("progress/machine.html", machine=views().machine(pk))


@bp.get("/progress/runs/<id:pk>")
def run_page(pk: int):
    return render_template("progress/run.html", run=views().run(pk))
