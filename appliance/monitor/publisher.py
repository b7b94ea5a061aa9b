"""Sends the monitor's report to the server (``PUT /api/monitor``) for the status page, through
the client of the appliance's programs (``appliance/client.py``).

The lamp never depends on the server: a report that cannot be delivered is logged once, retried
later by the monitor, and nothing else waits for it.
"""

from __future__ import annotations

from typing import Any

from appliance.client import Client, ServerUnavailable

TIMEOUT_SECONDS = 5.0
PATH = "/api/monitor"


class Publisher:
    def __init__(self, server_url: str, token: str, timeout: float = TIMEOUT_SECONDS):
        self.client = Client(server_url, token, timeout)
        self.url = self.client.base_url + PATH

    def publish(self, report: dict[str, Any]) -> str | None:
        """Deliver ``report``; None when the server took it, else why not (never the token)."""
        try:
            answer = self.client.call("PUT", PATH, report)
        except ServerUnavailable as exc:
            return str(exc)
        return None if answer.status == 204 else answer.summary(self.url)

    def close(self) -> None:
        """Nothing to let go of: each report has a connection of its own."""
