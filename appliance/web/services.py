"""What the blueprints share: one ``Services`` per application, in ``app.extensions["appliance"]``.

``Services.open`` builds and starts the server's long-lived parts, the one place that does: the
database (migrated), the event bus, the CI's dispatcher (ready for requests at once, also under
Flask's test client) and the stack watcher. ``close()`` stops them again; whoever made the
application closes it (``Server.run`` at shutdown, a test at its end). Blueprints import this
module, never the package's ``__init__``, which imports them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from flask import current_app

from appliance.auth import Credentials
from appliance.ci.dispatcher import Dispatcher, Settings
from appliance.ci.repos import repo_specs
from appliance.ci.webhooks import Webhooks
from appliance.config import Config
from appliance.db import Database
from appliance.events import EventBus
from appliance.login import LoginThrottle, PasswordHash
from appliance.monitor.report import LatestReport
from appliance.progress.reporters import Reporters
from appliance.progress.tracker import Tracker
from appliance.progress.views import Views as ProgressViews
from appliance.showroom.demos import Showroom
from appliance.showroom.layout import Layout
from appliance.showroom.supervisord import write_files
from appliance.stack import StackWatcher
from appliance.supervisor import Supervisor

STOP_SECONDS = 5.0  # the longest a stopping thread is waited for

log = logging.getLogger(__name__)


@dataclass
class Services:
    config: Config
    db: Database
    bus: EventBus
    supervisor: Supervisor
    credentials: Credentials
    webhooks: Webhooks
    dispatcher: Dispatcher
    progress: Tracker
    reporters: Reporters
    stack_watcher: StackWatcher
    showroom: Showroom | None  # None unless [showroom] enabled
    password_hash: PasswordHash  # the login's, as the configuration file has it now
    monitor: LatestReport = field(default_factory=LatestReport)
    logins: LoginThrottle = field(default_factory=LoginThrottle)  # failed logins, slowed
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def open(cls, config: Config) -> Services:
        db = Database.in_data_dir(config.database_path)
        db.migrate()
        credentials, webhooks = Credentials.of(config), Webhooks(config.ci.repos)
        bus = EventBus()
        supervisor = Supervisor(config.supervisor_socket)
        # At most half the request threads wait for work, so runners never starve the API.
        waiting = max(1, config.server.threads // 2)
        dispatcher = Dispatcher(db, bus, Settings.from_config(config.ci), max_waiting=waiting)
        dispatcher.start(repo_specs(config.ci))
        progress_views = ProgressViews(db, config.progress.interrupted_after, time.time)
        progress = Tracker(db, bus, progress_views)
        progress.interruptions.watch()  # runs of before a restart may still fall silent
        stack_watcher = StackWatcher(supervisor, bus)
        stack_watcher.start()
        return cls(
            config,
            db,
            bus,
            supervisor,
            credentials,
            webhooks,
            dispatcher,
            progress,
            Reporters(credentials, config.progress),
            stack_watcher,
            showroom(config, bus),
            PasswordHash(config),
        )

    def close(self) -> None:
        """Stop the threads, then close the database; closing twice does nothing more."""
        self.stack_watcher.stop_event.set()
        if self.stack_watcher.is_alive():
            self.stack_watcher.join(timeout=STOP_SECONDS)
        self.dispatcher.stop()
        self.progress.close()
        self.db.close()


def showroom(config: Config, bus: EventBus) -> Showroom | None:
    """The showroom, its Apache configuration written anew from the configuration (on a Pi the
    showroom's supervisord starts from files the role wrote; these are the server's to keep)."""
    if not config.showroom.enabled:
        return None
    try:
        write_files(config)
    except OSError as exc:  # the page says the showroom is unavailable; the rest serves on
        log.error("cannot write the showroom's files in %s: %s", Layout.of(config).directory, exc)
    return Showroom(config, publish=bus.publish)


def services() -> Services:
    """The current application's."""
    return current_app.extensions["appliance"]
