"""Who may report test progress: the progress token or the admin's, for any machine; a machine's
own token (``[progress] tokens``), for that machine alone; no token at all where ``[progress]
allow_anonymous`` says (from this machine only, unless ``anonymous_from_lan``).

Checked in two steps, so that a client that may not report at all is refused before its body is
read: ``refusal`` from the token and the peer's address, ``machine_refusal`` once the report
names its machine. Both the blueprint's views and the event loop's report path ask these."""

from __future__ import annotations

import hmac
import ipaddress

from appliance.auth import Credentials, Requirement
from appliance.progress.settings import ProgressConfig

Refusal = tuple[int, str]
REPORTS = Requirement("progress")


class Reporters:
    def __init__(self, credentials: Credentials, settings: ProgressConfig):
        self.credentials = credentials
        self.settings = settings
        self.machine_tokens = {name: secret.reveal() for name, secret in settings.tokens.items()}

    def refusal(self, token: str | None, remote_addr: str) -> Refusal | None:
        """None when a report with ``token`` from ``remote_addr`` may go on to be read."""
        if token is None and self._anonymous_allowed(remote_addr):
            return None
        if token is not None and self.machine_of(token) is not None:
            return None
        return REPORTS.refusal(self.credentials, token)

    def machine_refusal(self, token: str | None, machine_name: str) -> Refusal | None:
        """None when ``token`` may report for ``machine_name`` (after ``refusal`` let it in)."""
        owner = self.machine_of(token) if token is not None else None
        if owner is not None and owner != machine_name and not self.credentials.roles_of(token):
            return 403, f"this token reports for the machine {owner!r} alone, not {machine_name[:256]!r}"
        return None

    def machine_of(self, token: str) -> str | None:
        """The machine whose token this is; compared with every machine's token in constant time."""
        given = token.encode()
        owners = [
            name for name, known in self.machine_tokens.items() if hmac.compare_digest(known.encode(), given)
        ]
        return owners[0] if owners else None

    def _anonymous_allowed(self, remote_addr: str) -> bool:
        if not self.settings.allow_anonymous:
            return False
        if self.settings.anonymous_from_lan:
            return True
        try:
            return ipaddress.ip_address(remote_addr).is_loopback
        except ValueError:
            return False
