"""The read model: everything the CI shows, the one place each is read. The pages, ``/api/ci/*``,
the ``ci.build`` and ``ci.runner`` events (which the monitor follows) and ``/cc.xml`` all show a
build as ``build_json`` makes it and list only the configured repositories, so that they agree by
construction."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import func, select

from appliance.cctray import BUILDING, EXCEPTION, FAILURE, SLEEPING, SUCCESS, UNKNOWN, Project
from appliance.ci.errors import NotFound
from appliance.ci.logs import Logs
from appliance.ci.redact import redact
from appliance.ci.repos import RepoCatalog
from appliance.ci.schema import attempt_json, attempts, build_json, builds, builds_query, iso, repos, runners
from appliance.ci.statuses import (
    ACTIVE,
    ERROR,
    FAILED,
    OFFLINE,
    PASSED,
    RESULTS,
    RUNNING,
    TIMED_OUT,
    VERDICTS,
)
from appliance.db import Database

# A verdict as CCTray readers (CCMenu, Nevergreen) know it, as Jenkins' ``/cc.xml`` says it.
CCTRAY_STATUS = {PASSED: SUCCESS, FAILED: FAILURE, TIMED_OUT: FAILURE, ERROR: EXCEPTION}


class Views:
    def __init__(self, db: Database, catalog: RepoCatalog, logs: Logs, lease_seconds: float):
        self.db = db
        self.catalog = catalog
        self.logs = logs
        self.lease_seconds = lease_seconds  # a runner silent this long shows as offline

    def build(self, build_id: int) -> dict[str, Any]:
        """A build with its attempts."""
        with self.db.read() as conn:
            row = conn.execute(builds_query().where(builds.c.id == build_id)).first()
            if row is None:
                raise NotFound(f"no build {build_id}")
            tries = conn.execute(
                select(attempts).where(attempts.c.build_id == build_id).order_by(attempts.c.number)
            ).all()
        return {**build_json(row), "attempts": [attempt_json(a) for a in tries]}

    def builds(self, repo: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The newest builds of the configured repositories (or of one), newest first."""
        query = builds_query().where(self.catalog.is_configured()).order_by(builds.c.id.desc()).limit(limit)
        if repo is not None:
            query = query.where(repos.c.name == repo)
        with self.db.read() as conn:
            return [build_json(row) for row in conn.execute(query)]

    def log(
        self, build_id: int, number: int, offset: int, limit: int | None, page: int
    ) -> tuple[int, Iterator[bytes]]:
        """An attempt's log: its size now, and its bytes from ``offset`` up to that size (at most
        ``limit``) in pages of at most ``page`` bytes, each read when it is wanted."""
        size = self.logs.size(build_id, number)

        def pages() -> Iterator[bytes]:
            position, end = offset, size if limit is None else min(size, offset + limit)
            while position < end:
                data, _ = self.logs.read(build_id, number, position, min(page, end - position))
                if not data:
                    return
                position += len(data)
                yield data

        return size, pages()

    def work(self, build_id: int, number: int) -> dict[str, Any]:
        """What a runner needs to run an attempt."""
        with self.db.read() as conn:
            row = conn.execute(
                select(
                    builds.c.id,
                    builds.c.commit_sha,
                    builds.c.command,
                    repos.c.name,
                    repos.c.url,
                    repos.c.branch,
                )
                .join(repos, repos.c.id == builds.c.repo_id)
                .where(builds.c.id == build_id)
            ).one()
        return {
            "build": row.id,
            "attempt": number,
            "repo": {"name": row.name, "url": row.url, "branch": row.branch},
            "commit": row.commit_sha,
            "command": row.command,
        }

    def repositories(self, recent: int = 10) -> list[dict[str, Any]]:
        """The configured repositories, their URL without its password, their latest builds."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(repos).where(self.catalog.is_configured()).order_by(repos.c.name)
            ).all()
            return [
                {
                    "name": repo.name,
                    "url": redact(repo.url),
                    "branch": repo.branch,
                    "command": repo.command,
                    "builds": [
                        build_json(b)
                        for b in conn.execute(
                            builds_query()
                            .where(builds.c.repo_id == repo.id)
                            .order_by(builds.c.id.desc())
                            .limit(recent)
                        )
                    ],
                }
                for repo in rows
            ]

    def build_counts(self) -> dict[str, dict[str, int]]:
        """Per configured repository, how many of its builds have each status (every status,
        none left out), for ``/metrics``."""
        statuses = (*ACTIVE, *RESULTS)
        query = (
            select(repos.c.name, builds.c.status, func.count())
            .join(repos, repos.c.id == builds.c.repo_id)
            .where(self.catalog.is_configured())
            .group_by(repos.c.name, builds.c.status)
        )
        counts = {name: dict.fromkeys(statuses, 0) for name in sorted(self.catalog.configured)}
        with self.db.read() as conn:
            for name, status, count in conn.execute(query):
                if status in counts[name]:  # a status of another version is not made up
                    counts[name][status] = count
        return counts

    def cc_projects(self) -> list[dict[str, Any]]:
        """Per repository: is a build running, and its last build with a verdict (for /cc.xml)."""
        projects = []
        with self.db.read() as conn:
            configured = select(repos).where(self.catalog.is_configured()).order_by(repos.c.name)
            for repo in conn.execute(configured).all():
                running = conn.execute(
                    select(builds.c.id).where(builds.c.repo_id == repo.id, builds.c.status == RUNNING)
                ).first()
                last = conn.execute(
                    builds_query()
                    .where(builds.c.repo_id == repo.id, builds.c.status.in_(VERDICTS))
                    .order_by(builds.c.finished_at.desc(), builds.c.id.desc())
                    .limit(1)
                ).first()
                projects.append(
                    {
                        "name": repo.name,
                        "building": running is not None,
                        "last": build_json(last) if last else None,
                    }
                )
        return projects

    def cctray_projects(self, build_url: Callable[[int], str], index_url: str) -> list[Project]:
        """``/cc.xml``'s projects: one per repository, as CCMenu and Nevergreen read Jenkins'. A
        project links to its last build with a verdict (``build_url`` of its id), else to the
        index."""
        projects = []
        for project in self.cc_projects():
            last = project["last"]
            projects.append(
                Project(
                    name=project["name"],
                    activity=BUILDING if project["building"] else SLEEPING,
                    last_build_status=CCTRAY_STATUS[last["status"]] if last else UNKNOWN,
                    last_build_label=last["short_commit"] if last else "",
                    last_build_time=(last["finished_at"] or "") if last else "",
                    web_url=build_url(last["id"]) if last else index_url,
                )
            )
        return projects

    def runner_list(self, now: float) -> list[dict[str, Any]]:
        """Every registered runner, the attempts it runs, and offline once silent for a lease."""
        with self.db.read() as conn:
            rows = conn.execute(select(runners).order_by(runners.c.name)).all()
            held = conn.execute(
                select(attempts.c.runner, attempts.c.build_id, attempts.c.number).where(
                    attempts.c.status == RUNNING
                )
            ).all()
        current: dict[str, list[dict[str, int]]] = {}
        for runner, build_id, number in held:
            current.setdefault(runner, []).append({"build": build_id, "attempt": number})
        return [
            {
                "name": row.name,
                "labels": json.loads(row.labels),
                "capacity": row.capacity,
                "state": OFFLINE if now - row.last_seen > self.lease_seconds else row.state,
                "last_seen": iso(row.last_seen),
                "registered_at": iso(row.registered_at),
                "builds": current.get(row.name, []),
            }
            for row in rows
        ]
