"""Test machines' starts and stops (``POST /tm_api/test_start/`` and ``/tm_api/test_stop/``),
answered on the event loop rather than through Flask: the one path where the rate matters (a lab
of test machines reports every test twice) and the answer is small.

Each report is checked as the blueprint checks it (the same ``Reporters``, JSON parsing and
protocol; ``appliance/web/progress.py`` keeps the Flask twin for the test client), then queued; one writer
thread takes everything queued by then and writes it as one batch (``Tracker.report_batch``: one
transaction, one commit), and the loop answers each. So a report costs the loop its parsing and
the writer its statements, with no thread hand-off of its own and no commit of its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from appliance.ci.protocol import ProtocolError
from appliance.progress import protocol
from appliance.progress.errors import Conflict, NotFound
from appliance.progress.reporters import Reporters
from appliance.progress.tracker import Tracker
from appliance.web.auth import bearer_token
from appliance.web.inputs import BadInput, parse_json
from appliance.web.streams import send_json

log = logging.getLogger(__name__)

PARSERS = {
    "/tm_api/test_start": protocol.start_report,
    "/tm_api/test_stop": protocol.stop_report,
}
REFUSED = {NotFound: 404, Conflict: 409}


def report_parser(scope: dict) -> Any:
    """The parser of the report this request posts, or None for any other request."""
    if scope["method"] != "POST":
        return None
    return PARSERS.get(scope["path"].rstrip("/"))


class ReportPath:
    def __init__(self, tracker: Tracker, reporters: Reporters):
        self.tracker = tracker
        self.reporters = reporters
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="progress-reports")
        self._queued: list[tuple[protocol.Report, asyncio.Future]] = []
        self._writing = False  # the loop alone touches these two

    async def __call__(self, scope: dict, body: bytes, send, parse) -> None:
        headers = dict(scope["headers"])
        token = bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
        refused = self.reporters.refusal(token, (scope.get("client") or ("",))[0])
        if refused:
            await send_json(send, *refused)
            return
        try:
            report = parse(parse_json(body, headers.get(b"content-type", b"").decode("latin-1")))
        except BadInput as bad:
            await send_json(send, bad.status, bad.message)
            return
        except ProtocolError as bad:
            await send_json(send, 400, str(bad))
            return
        refused = self.reporters.machine_refusal(token, report.machine_name)
        if refused:
            await send_json(send, *refused)
            return
        outcome = await self._written(report)
        if isinstance(outcome, Exception):
            status = REFUSED.get(type(outcome))
            if status is None:
                log.error("writing a test report failed", exc_info=outcome)
                await send_json(send, 500, "the server failed; the error is in its log")
            else:
                await send_json(send, status, str(outcome))
            return
        answer = json.dumps(outcome).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 202,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    def _written(self, report: protocol.Report) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        written = loop.create_future()
        self._queued.append((report, written))
        if not self._writing:
            self._write_queued(loop)
        return written

    def _write_queued(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._queued = self._queued, []
        self._writing = True

        def write() -> None:
            outcomes = self.tracker.report_batch([report for report, _ in batch])
            loop.call_soon_threadsafe(answer, outcomes)

        def answer(outcomes: list[Any]) -> None:
            for (_, written), outcome in zip(batch, outcomes, strict=True):
                if not written.done():  # its client may have gone
                    written.set_result(outcome)
            self._writing = False
            if self._queued:
                self._write_queued(loop)

        self.writer.submit(write)

    def close(self) -> None:
        self.writer.shutdown(wait=False, cancel_futures=True)
