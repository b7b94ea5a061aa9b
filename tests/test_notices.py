"""Notices for the status page: read from their directory within bounds, never an exception."""

import json
import logging
import os

from appliance.notices import MAX_NOTICE_BYTES, MAX_NOTICES, read_notices

NOTICE = {"title": "Not applied", "message": "pi.hostname: bad", "action": "Fix it"}


def test_notices_are_read_in_the_order_of_their_names(tmp_path):
    (tmp_path / "b.json").write_text(json.dumps(NOTICE))
    (tmp_path / "a.json").write_text(json.dumps({"title": "First", "message": "no action"}))
    (tmp_path / "c.txt").write_text(json.dumps(NOTICE))  # not a notice
    assert read_notices(tmp_path) == [{"title": "First", "message": "no action", "action": ""}, NOTICE]


def test_no_directory_is_no_notices(tmp_path):
    assert read_notices(tmp_path / "missing") == []


def test_malformed_and_oversized_notices_are_left_out_with_a_log_line(tmp_path, caplog):
    bad = {
        "broken.json": "{not json",
        "list.json": "[1, 2]",
        "number-title.json": json.dumps({**NOTICE, "title": 5}),
        "no-message.json": json.dumps({"title": "t"}),
        "latin1.json": '{"title": "caf\xe9", "message": "m"}'.encode("latin-1"),
        "large.json": json.dumps({**NOTICE, "message": "x" * MAX_NOTICE_BYTES}),
    }
    for name, content in bad.items():
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    (tmp_path / "dir.json").mkdir()
    os.mkfifo(tmp_path / "fifo.json")  # would block a plain open
    (tmp_path / "link.json").symlink_to(tmp_path / "good.json")
    (tmp_path / "good.json").write_text(json.dumps(NOTICE))
    with caplog.at_level(logging.WARNING, logger="appliance.notices"):
        assert read_notices(tmp_path) == [NOTICE]
    left_out = sorted(record.args[0].name for record in caplog.records)
    assert left_out == sorted([*bad, "dir.json", "fifo.json", "link.json"])


def test_at_most_the_first_notices_are_read(tmp_path, caplog):
    for index in range(MAX_NOTICES + 3):
        (tmp_path / f"{index:02}.json").write_text(json.dumps({**NOTICE, "title": str(index)}))
    with caplog.at_level(logging.WARNING, logger="appliance.notices"):
        notices = read_notices(tmp_path)
    assert [notice["title"] for notice in notices] == [str(index) for index in range(MAX_NOTICES)]
    assert len(caplog.records) == 1
