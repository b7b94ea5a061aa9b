"""Push webhooks (GitHub, Gitea): which deliveries to take.

A hook only makes the observer look at a repository (git decides what is new), so the most a
forged or repeated hook can do is cost fetches. A repository with a ``secret`` takes a delivery
only with the body's HMAC-SHA256 in ``X-Hub-Signature-256``, and only once: the server remembers
the last ``REMEMBERED`` deliveries it took and refuses the same body for the same repository
again. GitHub signs no timestamp, so no time window can tell a replay from a fresh delivery; the
price of a memory is that GitHub's "Redeliver", the identical payload, is refused too, which loses
nothing: the first delivery already made the observer look. A repository without a secret takes
any notice, repeated or not.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import OrderedDict
from collections.abc import Sequence

from appliance.ci.settings import CIRepoConfig

# Deliveries remembered, as SHA-256 digests: about 150 KB.
REMEMBERED = 1000


class HookRefused(Exception):
    """Why a delivery is not taken."""


class UnknownRepository(HookRefused):
    pass


class BadSignature(HookRefused):
    pass


class AlreadyReceived(HookRefused):
    pass


class Webhooks:
    """The server's gate for push webhooks, one per server: shared by its request threads."""

    def __init__(self, repos: Sequence[CIRepoConfig], remembered: int = REMEMBERED):
        self._secrets = {repo.name: repo.secret for repo in repos}
        self._remembered = remembered
        self._taken: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, repo: str, body: bytes, signature: str | None) -> None:
        """Returns when the delivery is to be taken; raises why not otherwise."""
        if repo not in self._secrets:
            raise UnknownRepository(f"no repository {repo!r} in [[ci.repos]]")
        secret = self._secrets[repo]
        if secret is None:
            return
        expected = "sha256=" + hmac.new(secret.reveal().encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest((signature or "").encode(), expected.encode()):
            raise BadSignature("X-Hub-Signature-256 is missing or does not match the repository's secret")
        delivery = hashlib.sha256(repo.encode() + b"\0" + body).digest()
        with self._lock:
            if delivery in self._taken:
                raise AlreadyReceived(
                    f"already received: this delivery for {repo!r} was taken before "
                    "(a replay, or a redelivery of the same payload)"
                )
            self._taken[delivery] = None
            if len(self._taken) > self._remembered:
                self._taken.popitem(last=False)
