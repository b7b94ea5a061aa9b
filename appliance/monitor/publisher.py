"""Sends the monitor's report to the server (``PUT /api/monitor``) for the status page.

The lamp never depends on the server: a report that cannot be delivered is logged once, retried
later by the monitor, and nothing else waits for it.
"""

from __future__ import annotations

from typing import Any

import requests

from appliance.monitor.sources.http import reason_of

TIMEOUT_SECONDS = 5.0


class Publisher:
    def __init__(self, server_url: str, token: str, timeout: float = TIMEOUT_SECONDS):
        self.url = server_url.rstrip("/") + "/api/monitor"
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def publish(self, report: dict[str, Any]) -> str | None:
        """Deliver ``report``; None when the server took it, else why not (never the token)."""
        try:
            response = self.session.put(self.url, json=report, timeout=self.timeout)
        except requests.Timeout:
            return f"no answer from {self.url} within {self.timeout:g} s"
        except requests.RequestException as exc:
            return f"cannot reach {self.url}: {reason_of(exc)}"
        with response:
            if response.status_code == 204:
                return None
            try:
                said = response.json().get("error", "")
            except (ValueError, AttributeError):
                said = ""
            return f"{self.url} answered HTTP {response.status_code} {said}".rstrip()

    def close(self) -> None:
        self.session.close()
