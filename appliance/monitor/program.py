"""The ``appliance monitor`` program: its parts made from the configuration (the sources, the
lamp driver and its backends, the publisher, the event feeds of the own CI and the test progress),
handed to the loop (``monitor.py``), and closed when it stops. ``cli.py`` reads the flags; this
module is imported only when the program runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from contextlib import ExitStack

from appliance.auth import role_token
from appliance.config import Config
from appliance.lamp.backends import backends_from_config
from appliance.lamp.driver import LampDriver
from appliance.monitor.monitor import Monitor
from appliance.monitor.publisher import Publisher
from appliance.monitor.settings import MonitorConfig
from appliance.monitor.sources import Source
from appliance.monitor.sources.cctray import CCTraySource
from appliance.monitor.sources.feed import EventFeed
from appliance.monitor.sources.github import GitHubSource
from appliance.monitor.sources.gitlab import GitLabSource
from appliance.monitor.sources.http import Http, HttpSource
from appliance.monitor.sources.jenkins import JenkinsSource
from appliance.monitor.sources.octopus import OctopusSource
from appliance.monitor.sources.own_ci import own_ci_feed
from appliance.monitor.sources.progress import progress_feed
from appliance.monitor.states import DEFAULT_COLOURS, State

log = logging.getLogger(__name__)

# The polled kinds, in the order of their tiles; each reads its ``[[monitor.<kind>]]`` tables.
POLLED: tuple[type[HttpSource], ...] = (
    OctopusSource, CCTraySource, GitHubSource, GitLabSource, JenkinsSource,
)  # fmt: skip


def make_sources(config: MonitorConfig, http: Http, *, followed: Sequence[Source] = ()) -> list[Source]:
    """One source per ``[[monitor.<kind>]]`` table, then the ``followed`` ones (fed by events).
    Loading the configuration has checked them (``appliance.validation``)."""
    sources: list[Source] = []
    for kind in POLLED:
        sources.extend(kind(settings, http) for settings in getattr(config, kind.kind))
    sources.extend(followed)
    return sources


def colour_table(overrides: Mapping[str, str]) -> dict[State, str]:
    return {**DEFAULT_COLOURS, **{State(state): key for state, key in overrides.items()}}


def run(config: Config, stop: threading.Event) -> None:
    """The sources and the lamp of ``config`` until ``stop``."""
    with ExitStack() as cleanup:
        http = Http()
        cleanup.callback(http.close)
        feeds: list[EventFeed] = [f for f in (own_ci_feed(config), progress_feed(config)) if f is not None]
        for feed in feeds:
            cleanup.callback(feed.close)
        # A feed's sources at start; the progress feed adds one per machine as it sees them.
        followed = [source for feed in feeds for source in feed.sources]
        sources = make_sources(config.monitor, http, followed=followed)
        backends = backends_from_config(config.lamp)
        for backend in backends:
            cleanup.callback(backend.close)
        publisher = Publisher(config.server_url, role_token(config, "monitor"))
        cleanup.callback(publisher.close)
        log.info("lamp: %s; reporting to %s", "; ".join(b.describe() for b in backends), config.server_url)
        lamp = LampDriver(backends, config.lamp.resend_seconds)
        colours = colour_table(config.monitor.colours)
        monitor = Monitor(
            sources, lamp, publisher, stop, colours=colours, stale_after=config.monitor.stale_after
        )
        for feed in feeds:
            feed.start(monitor.wake)
        monitor.run()
