"""The one HTTP client every source reads through.

One ``requests.Session`` keeps connections to each server open between polls. A GET is safe to
repeat, so a refused connection or a 502/503/504 is retried once at once; a read that fails or
times out is not (the next poll comes soon enough, and a hanging server would otherwise hold the
monitor for several timeouts). Every failure becomes a SourceError whose message names the server
and the path, never the query, the credentials or any secret the caller names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from appliance import __version__
from appliance.monitor.sources import SourceError

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


class NotFound(SourceError):
    """HTTP 404: sources tell "nothing built yet" apart from "no such thing" with another call."""


def where(url: str) -> str:
    """The URL without credentials, query or fragment: what a message may show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def reason_of(exc: BaseException) -> str:
    """The innermost error of a connection error, e.g. "Connection refused": requests wraps
    urllib3's error, which wraps the operating system's."""
    innermost = exc
    for _ in range(10):  # a few levels deep; never loop on a cycle
        inner = innermost.__cause__ or innermost.__context__ or getattr(innermost, "reason", None)
        if not isinstance(inner, BaseException):
            break
        innermost = inner
    if isinstance(innermost, OSError) and innermost.strerror:
        return innermost.strerror
    return str(innermost) or type(innermost).__name__


class Http:
    """GETs for the sources; conditional requests (ETag) for the APIs that count them."""

    def __init__(self, session: requests.Session | None = None):
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = f"build-status-appliance/{__version__}"
        adapter = HTTPAdapter(max_retries=RETRY)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._etags: dict[str, tuple[str, Any]] = {}

    def close(self) -> None:
        self.session.close()

    def get_bytes(
        self,
        url: str,
        *,
        timeout: float,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        secrets: Iterable[str] = (),
    ) -> bytes:
        """The raw answer, for formats that declare their own encoding (XML)."""
        return self._get(url, timeout, params, headers, auth, secrets).content

    def get_json(
        self,
        url: str,
        *,
        timeout: float,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        secrets: Iterable[str] = (),
        conditional: bool = False,
    ) -> Any:
        """The parsed JSON answer. ``conditional``: send the last ETag, and on 304 Not Modified
        return the answer kept from last time (GitHub does not count those against the rate limit)."""
        secrets = tuple(secrets)
        cache_key = requests.Request("GET", url, params=params).prepare().url or url
        headers = dict(headers or {})
        cached = self._etags.get(cache_key) if conditional else None
        if cached:
            headers["If-None-Match"] = cached[0]
        response = self._get(url, timeout, params, headers, auth, secrets)
        if response.status_code == 304 and cached:
            return cached[1]
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SourceError(_redact(f"invalid JSON from {where(url)}: {exc}", secrets)) from None
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
    ) -> requests.Response:
        secrets = tuple(secrets) + ((auth[1],) if auth else ())
        place = where(url)
        try:
            response = self.session.get(url, params=params, headers=headers, auth=auth, timeout=timeout)
        except requests.Timeout:
            raise SourceError(f"no answer from {place} within {timeout:g} s") from None
        except requests.ConnectionError as exc:
            raise SourceError(_redact(f"cannot connect to {place}: {reason_of(exc)}", secrets)) from None
        except requests.RequestException as exc:
            raise SourceError(_redact(f"cannot read {place}: {type(exc).__name__}", secrets)) from None
        status = response.status_code
        if status < 400:
            return response
        response.close()
        if status in (401, 403):
            raise SourceError(f"HTTP {status} {response.reason} from {place}: the credentials were refused")
        if status == 404:
            raise NotFound(f"HTTP 404 Not Found: {place}")
        raise SourceError(f"HTTP {status} {response.reason} from {place}")


def _redact(message: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return message
