"""The test progress for people: pages under ``/progress``, each with its JSON twin under
``/api/progress`` answering exactly what the page shows (``appliance.progress.pages.PageViews``).
The pages follow ``progress.run`` and ``progress.test`` on ``/events`` (``static/progress.js``)."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template

from appliance.progress.errors import NotFound
from appliance.progress.pages import PageViews
from appliance.web.errors import answer_errors
from appliance.web.services import services

bp = Blueprint("progress_pages", __name__)


def views() -> PageViews:
    return PageViews(services().progress.views)


answer_errors(bp, {NotFound: 404})


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
