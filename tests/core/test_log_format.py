"""Log lines: JSON for collectors, text for a person at a terminal (`BB_LOG_FORMAT`)."""

import io
import json
import logging
import re

import pytest

from app.core.logging import JsonFormatter, TextFormatter, configure_logging, wants_text
from app.core.request_context import set_request_id


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "app.sync", logging.WARNING, __file__, 1, "job %s failed", (7,), None
    )
    record.__dict__.update(extra)
    return record


@pytest.mark.parametrize(
    ("log_format", "terminal", "text"),
    [
        ("auto", True, True),
        ("auto", False, False),
        ("json", True, False),
        ("text", False, True),
    ],
)
def test_auto_means_text_on_a_terminal_only(log_format: str, terminal: bool, text: bool) -> None:
    stream = _Terminal() if terminal else io.StringIO()
    assert wants_text(log_format, stream=stream) is text  # type: ignore[arg-type]


def test_a_text_line_reads_as_a_sentence_with_its_fields_and_request_id() -> None:
    set_request_id("req-1")
    try:
        line = TextFormatter().format(_record(job_id=7, color_message="\x1b[31mx"))
    finally:
        set_request_id("-")
    assert re.fullmatch(r"\d\d:\d\d:\d\d WARNING app\.sync: job 7 failed job_id=7 \[req-1\]", line)


def test_a_json_line_carries_the_same_fields() -> None:
    entry = json.loads(JsonFormatter().format(_record(job_id=7)))
    assert entry["msg"] == "job 7 failed"
    assert entry["level"] == "warning"
    assert entry["job_id"] == 7
    assert "color_message" not in entry


def test_configure_logging_picks_the_formatter() -> None:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    try:
        configure_logging("INFO", "text")
        assert isinstance(root.handlers[0].formatter, TextFormatter)
        configure_logging("INFO", "json")
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
