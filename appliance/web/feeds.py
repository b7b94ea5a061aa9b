"""``/metrics`` for Prometheus: read-only and open, like the status page. The figures come from
the CI's and the progress tracker's read models, the latest monitor report and supervisord;
``appliance.metrics`` says what they are and writes them out."""

from __future__ import annotations

from flask import Blueprint, Response

from appliance import __version__, metrics
from appliance.stack import stack_state
from appliance.web.services import services

bp = Blueprint("feeds", __name__)


@bp.get("/metrics")
def prometheus():
    svc = services()
    report = svc.monitor.get()
    families = metrics.figures(
        version=__version__,
        builds=svc.dispatcher.views.build_counts(),
        progress=svc.progress.views.received(),
        report=report.to_json() if report else None,
        stack=stack_state(svc.supervisor),
    )
    return Response(metrics.render(families), content_type=metrics.CONTENT_TYPE)
