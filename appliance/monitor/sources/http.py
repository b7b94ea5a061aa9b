"""Polled sources: the one HTTP client they read through (``Http``) and their base (``HttpSource``).

A polled source extends ``HttpSource`` with what is its own: its ``kind``, its URLs, its
``credentials`` and how it reads the answers (``read``), which it asks for with ``get_json`` or
``get_bytes``. The base has the rest: its name and interval from the settings, its credentials
read afresh at each poll, one deadline for the whole poll, the errors.

The sources talk to other services, often on the internet, so they read through requests (proxies,
TLS, redirects, compressed answers), not through the standard-library client with which the
appliance's programs talk to its own server (``appliance/client.py``). One ``requests.Session``
keeps connections to each server open between polls. A GET is safe to repeat, so a refused
connection or a 502/503/504 is retried once at once; a read that fails or times out is not (the
next poll comes soon enough, and a hanging server would otherwise hold the monitor for several
timeouts). Every failure becomes a SourceError whose message names the server and the path, never
the query, the credentials or any secret the caller names: SourceUnavailable for a broken
connection, a timeout, a 5xx or a rate limit, which may pass by themselves; SourceRefused for any
other 4xx and for an answer that is not JSON or too large, which will not.

requests' timeout bounds each socket operation, not the answer: a server that trickles its answer
a byte at a time held the monitor for as long as it kept sending. So every request has a
``Deadline`` (``deadline.py``), connect to last byte, and a source's poll one for all its requests
together (``HttpSource.poll``); and an answer is read in chunks up to MAX_ANSWER_BYTES, never whole
whatever its size.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import requests
from urllib3.util.retry import Retry

from appliance import __version__
from appliance.client import reason_of, where
from appliance.config import Secret
from appliance.monitor.settings import SourceConfig
from appliance.monitor.sources import Reading, SourceRefused, SourceUnavailable, reveal
from appliance.monitor.sources.deadline import Deadline, WatchedAdapter

RETRY = Retry(
    total=2,
    connect=1,
    read=False,  # re-raise at once: a timed-out read is not repeated
    status=1,
    status_forcelist=(502, 503, 504),
    allowed_methods=frozenset({"GET"}),
    backoff_factor=0.2,
    respect_retry_after_header=False,  # a Retry-After of an hour must not stall the monitor
    raise_on_status=False,
)

MIB = 1024 * 1024
# A status answer is a few KiB, a CCTray feed of a thousand projects about half a MiB. One limit
# for every source rather than a setting: no status comes near it, and past it an answer is not a
# status but something that would take the Pi's memory (a 200 MB one took the monitor from 31 MB
# to 431 MB RSS when answers were read whole).
MAX_ANSWER_BYTES = 4 * MIB
CHUNK_BYTES = 64 * 1024

# What the network does to a read: it may go better next time. Any other error of requests (a
# redirect loop, an invalid URL, a body that cannot be decoded) will be the same next time.
TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class NotFound(SourceRefused):
    """HTTP 404: sources tell "nothing built yet" apart from "no such thing" with another call."""


class Http:
    """GETs for the sources; conditional requests (ETag) for the APIs that count them. Shared by
    every polled source, which reach it through their base, ``HttpSource``."""

    def __init__(self, session: requests.Session | None = None):
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = f"build-status-appliance/{__version__}"
        adapter = WatchedAdapter(max_retries=RETRY)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._etags: dict[str, tuple[str, bytes]] = {}

    def close(self) -> None:
        self.session.close()

    def get(
        self,
        url: str,
        *,
        timeout: float,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        secrets: Iterable[str] = (),
        conditional: bool = False,
    ) -> bytes:
        """The answer's body. ``conditional``: send the last ETag, and on 304 Not Modified return
        the body kept from last time (GitHub does not count those against the rate limit)."""
        headers = dict(headers or {})
        cache_key = (requests.Request("GET", url, params=params).prepare().url or url) if conditional else ""
        cached = self._etags.get(cache_key) if conditional else None
        if cached:
            headers["If-None-Match"] = cached[0]
        response, body = self._get(url, timeout, params, headers, auth, secrets)
        if response.status_code == 304 and cached:
            return cached[1]
        etag = response.headers.get("ETag")
        if conditional and etag:
            self._etags[cache_key] = (etag, body)
        return body

    def _get(
        self,
        url: str,
        timeout: float,
        params: Mapping[str, str | int] | None,
        headers: Mapping[str, str] | None,
        auth: tuple[str, str] | None,
        secrets: Iterable[str],
    ) -> tuple[requests.Response, bytes]:
        """The response and its body, read whole within ``timeout`` (or the deadline around this
        request, if that ends sooner) and at most MAX_ANSWER_BYTES long."""
        secrets = tuple(secrets) + ((auth[1],) if auth else ())
        place = where(url)
        with Deadline(timeout) as deadline:
            response = None
            try:
                response = self.session.get(
                    url, params=params, headers=headers, auth=auth, timeout=timeout, stream=True
                )
                # Leaving this block closes the connection unless the answer was read to its end.
                with response:
                    _raise_for_status(response, place)
                    body = _read_limited(response, place)
            except requests.RequestException as exc:
                if deadline.passed:
                    message = deadline.exceeded(place, answered=response is not None)
                elif isinstance(exc, requests.ConnectionError) and response is None:
                    message = f"cannot connect to {place}: {reason_of(exc)}"
                else:
                    message = f"cannot read {place}: {type(exc).__name__}"
                transient = deadline.passed or isinstance(exc, TRANSPORT_ERRORS)
                kind = SourceUnavailable if transient else SourceRefused
                raise kind(_redact(message, secrets)) from None
            # An answer without a length ends where the socket was shut down: cut short, not whole.
            if deadline.passed:
                raise SourceUnavailable(deadline.exceeded(place, answered=True))
        return response, body


def _read_limited(response: requests.Response, place: str) -> bytes:
    """The body, in chunks: an answer is never held whole before its size is known to be sane.
    One too large is a refusal: no status comes near the limit, so the URL is not a status's."""
    chunks, size = [], 0
    for chunk in response.iter_content(CHUNK_BYTES):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise SourceRefused(f"answer from {place} larger than {MAX_ANSWER_BYTES // MIB} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


def _raise_for_status(response: requests.Response, place: str) -> None:
    status = response.status_code
    if status < 400:
        return
    said = f"HTTP {status} {response.reason} from {place}"
    if status >= 500:
        raise SourceUnavailable(said)
    # GitHub answers 403 (or 429) with no requests left, or with Retry-After for its secondary limit.
    headers = response.headers
    if status == 429 or (
        status == 403 and (headers.get("X-RateLimit-Remaining") == "0" or "Retry-After" in headers)
    ):
        raise SourceUnavailable(f"{said}: rate limited")
    if status in (401, 403):
        raise SourceRefused(f"{said}: the credentials were refused")
    if status == 404:
        raise NotFound(f"HTTP 404 Not Found: {place}")
    raise SourceRefused(said)


def _redact(message: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return message


@dataclass(frozen=True)
class Credentials:
    """What a source's requests carry to be let in, as headers or HTTP basic authentication, and
    the secrets in them, which no message may show."""

    headers: Mapping[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None
    secrets: tuple[str, ...] = ()

    @classmethod
    def header(cls, name: str, secret: Secret | None, what: str, value: str = "{}") -> Credentials:
        """The header ``name: value`` with the secret in it, when there is one."""
        revealed = reveal(secret, what)
        return cls({name: value.format(revealed)}, secrets=(revealed,)) if revealed else cls()

    @classmethod
    def basic(cls, username: str, password: Secret | None, what: str) -> Credentials:
        """HTTP basic authentication, when there is a user. The password is read either way, so
        that one that cannot be read shows."""
        revealed = reveal(password, what)
        return cls(auth=(username, revealed or "")) if username else cls()


SettingsT = TypeVar("SettingsT", bound=SourceConfig)


class HttpSource(Generic[SettingsT]):
    """A source the monitor polls over HTTP. A subclass names its ``kind`` (its key in
    ``[monitor]``), makes its URLs from its settings in ``__init__``, says its ``credentials`` and
    its ``headers``, and reads its state in ``read`` with ``get_json`` and ``get_bytes``. One thread
    polls a source at a time."""

    kind: ClassVar[str]
    headers: ClassVar[Mapping[str, str]] = {}  # sent with every request, besides the credentials

    def __init__(self, settings: SettingsT, http: Http):
        self.settings = settings
        self.http = http
        self.name = settings.page_name
        self.interval = settings.interval
        self._credentials = Credentials()  # this poll's

    def credentials(self) -> Credentials:
        """Read at each poll, so that a rotated key is picked up; a secret that cannot be read is a
        SourceRefused (``reveal``). None by default."""
        return Credentials()

    def read(self) -> Reading:
        raise NotImplementedError

    def poll(self) -> Reading:
        """``read``, with one deadline, the source's ``timeout``, for all its requests together.
        The monitor reads its sources one after the other, so this is how long one source can hold
        the others back, however many requests it makes."""
        with Deadline(self.settings.timeout):
            self._credentials = self.credentials()
            try:
                return self.read()
            finally:
                self._credentials = Credentials()

    def get_bytes(
        self, url: str, params: Mapping[str, str | int] | None = None, *, conditional: bool = False
    ) -> bytes:
        """The raw answer, for formats that declare their own encoding (XML)."""
        credentials = self._credentials
        return self.http.get(
            url, params=params, headers={**self.headers, **credentials.headers}, auth=credentials.auth,
            secrets=credentials.secrets, timeout=self.settings.timeout, conditional=conditional,
        )  # fmt: skip

    def get_json(
        self, url: str, params: Mapping[str, str | int] | None = None, *, conditional: bool = False
    ) -> Any:
        """The parsed JSON answer; ``conditional`` as in ``Http.get``."""
        answer = self.get_bytes(url, params, conditional=conditional)
        try:
            return json.loads(answer)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            message = f"invalid JSON from {where(url)}: {exc}"
            raise SourceRefused(_redact(message, self._credentials.secrets)) from None
