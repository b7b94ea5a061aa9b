"""The Flask application: thin blueprints over the capabilities' domain code."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from flask import Flask, current_app

from appliance import __version__
from appliance.auth import api_token
from appliance.config import Config
from appliance.db import Database
from appliance.events import EventBus
from appliance.monitor.report import LatestReport
from appliance.supervisor import Supervisor
from appliance.web import inputs

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What the blueprints share: one per application, in ``app.extensions["appliance"]``."""

    config: Config
    db: Database
    bus: EventBus
    supervisor: Supervisor
    token: str
    monitor: LatestReport = field(default_factory=LatestReport)
    started: float = field(default_factory=time.monotonic)


def services() -> Services:
    return current_app.extensions["appliance"]


def create_app(config: Config) -> Flask:
    app = Flask(__name__)
    app.json.sort_keys = False
    app.config["MAX_CONTENT_LENGTH"] = inputs.MAX_BODY_BYTES
    app.url_map.converters["id"] = inputs.IdConverter
    db = Database.in_data_dir(config.database_path)
    db.migrate()
    app.extensions["appliance"] = Services(
        config=config,
        db=db,
        bus=EventBus(),
        supervisor=Supervisor(config.supervisor_socket),
        token=api_token(config),
    )
    app.jinja_env.globals["version"] = __version__

    from appliance.web import ci, errors, events, health, monitor, status

    errors.init_app(app)
    for module in (health, events, status, monitor, ci):
        app.register_blueprint(module.bp)
    return app


def serve(config: Config) -> None:
    """Run the application under waitress: one process, a thread per open connection."""
    from waitress import serve as waitress_serve

    from appliance.stack import StackWatcher

    started = time.monotonic()
    app = create_app(config)
    svc: Services = app.extensions["appliance"]
    StackWatcher(svc.supervisor, svc.bus).start()
    log.info(
        "serving on http://%s:%d (data in %s, config from %s), ready in %.2f s",
        config.server.host,
        config.server.port,
        config.data_dir,
        config.source,
        time.monotonic() - started,
    )
    waitress_serve(
        app,
        host=config.server.host,
        port=config.server.port,
        threads=config.server.threads,
        # Flush each chunk at once: live pages receive small events that must not wait in a buffer.
        send_bytes=1,
        ident="appliance",
    )
