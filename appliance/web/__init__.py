"""The Flask application: thin blueprints over the capabilities' domain code."""

from __future__ import annotations

import functools
import logging
import time

from flask import Flask

from appliance import __version__
from appliance.config import Config
from appliance.web import (
    ci,
    errors,
    feeds,
    health,
    inputs,
    login,
    monitor,
    progress,
    progress_pages,
    showroom,
    status,
)
from appliance.web.reports import ReportPath
from appliance.web.server import Gateway, HttpProtocol, Uvicorn, raise_open_files_limit
from appliance.web.services import Services

log = logging.getLogger(__name__)


def create_app(config: Config) -> Flask:
    """The application over freshly opened services (``web/services.py``): whoever creates it
    closes them, ``app.extensions["appliance"].close()``."""
    app = Flask(__name__)
    app.json.sort_keys = False
    app.config["MAX_CONTENT_LENGTH"] = inputs.MAX_BODY_BYTES
    app.url_map.converters["id"] = inputs.IdConverter
    app.extensions["appliance"] = Services.open(config)
    app.jinja_env.globals["version"] = __version__
    errors.init_app(app)
    login.init_app(app)
    for module in (health, status, monitor, ci, feeds, progress, progress_pages, showroom):
        app.register_blueprint(module.bp)
    return app


class Server:
    """The whole server process: the application, its long-lived parts and uvicorn, which holds
    every connection on one event loop while a bounded pool of threads runs Flask (see
    ``appliance/web/server.py`` for why). ``run()`` blocks until ``stop()`` or a signal."""

    def __init__(self, config: Config):
        import uvicorn

        self.config = config
        self.app = create_app(config)
        self.services: Services = self.app.extensions["appliance"]
        reports = ReportPath(self.services.progress, self.services.reporters)
        self.gateway = Gateway(
            self.app,
            self.services.bus,
            config.server.threads,
            config.server.max_streams,
            reports,
            may_read=functools.partial(login.stream_reader_allowed, self.app),
        )
        self.uvicorn = Uvicorn(
            self.gateway,
            uvicorn.Config(
                self.gateway,
                host=config.server.host,
                port=config.server.port,
                http=HttpProtocol,
                ws="none",
                lifespan="off",
                loop="asyncio",
                log_config=None,
                access_log=False,
                server_header=False,
                timeout_keep_alive=5,
                timeout_graceful_shutdown=2,
            ),
        )

    @property
    def started(self) -> bool:
        return self.uvicorn.started

    def run(self) -> None:
        raise_open_files_limit()
        try:
            self.uvicorn.run()
        finally:
            self.gateway.close()
            self.services.close()

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
