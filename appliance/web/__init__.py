"""The Flask application: thin blueprints over the capabilities' domain code."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from flask import Flask, current_app

from appliance import __version__
from appliance.auth import Credentials
from appliance.ci.webhooks import Webhooks
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
    credentials: Credentials
    webhooks: Webhooks
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
        credentials=Credentials.of(config),
        webhooks=Webhooks(config.ci.repos),
    )
    app.jinja_env.globals["version"] = __version__

    from appliance.web import ci, errors, health, monitor, status

    errors.init_app(app)
    for module in (health, status, monitor, ci):
        app.register_blueprint(module.bp)
    return app


class Server:
    """The whole server process: the application, its long-lived parts and uvicorn, which holds
    every connection on one event loop while a bounded pool of threads runs Flask (see
    ``appliance/web/server.py`` for why). ``run()`` blocks until ``stop()`` or a signal."""

    def __init__(self, config: Config):
        import uvicorn

        from appliance.stack import StackWatcher
        from appliance.web.server import Gateway, Uvicorn

        self.config = config
        self.app = create_app(config)
        svc: Services = self.app.extensions["appliance"]
        self.stack_watcher = StackWatcher(svc.supervisor, svc.bus)
        self.gateway = Gateway(self.app, svc.bus, config.server.threads, config.server.max_streams)
        self.uvicorn = Uvicorn(
            self.gateway,
            uvicorn.Config(
                self.gateway,
                host=config.server.host,
                port=config.server.port,
                http="h11",
                ws="none",
                lifespan="off",
                loop="asyncio",
                log_config=None,
                access_log=False,
                server_header=False,
                timeout_keep_alive=5,
                timeout_graceful_shutdown=2,
                h11_max_incomplete_event_size=16 * 1024,
            ),
        )

    @property
    def started(self) -> bool:
        return self.uvicorn.started

    def run(self) -> None:
        from appliance.web.server import raise_open_files_limit

        raise_open_files_limit()
        self.stack_watcher.start()
        try:
            self.uvicorn.run()
        finally:
            self.stack_watcher.stop_event.set()
            self.gateway.close()
            self.app.extensions["ci"].stop()
            self.app.extensions["appliance"].db.close()

    def stop(self) -> None:
        self.uvicorn.should_exit = True


def serve(config: Config) -> None:
    started = time.monotonic()
    server = Server(config)
    log.info(
        "serving on http://%s:%d (data in %s, config from %s), ready in %.2f s",
        config.server.host,
        config.server.port,
        config.data_dir,
        config.source,
        time.monotonic() - started,
    )
    server.run()
