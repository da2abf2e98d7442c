"""Structured logging: JSON lines for machines, or a console renderer for people."""

from __future__ import annotations

import errno
import logging
import sys
from collections.abc import Callable
from typing import Literal, TextIO

import structlog


class _Stderr:
    """stderr that drops what is written once its reader has gone (EPIPE): a process must still
    stop its children and exit when its output has nowhere to go."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._gone = False

    def write(self, text: str) -> int:
        self._guard(lambda: self._stream.write(text))
        return len(text)

    def flush(self) -> None:
        self._guard(self._stream.flush)

    def _guard(self, write: Callable[[], object]) -> None:
        if self._gone:
            return
        try:
            write()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            self._gone = True


def configure_logging(fmt: Literal["json", "console"] = "json", level: int = logging.INFO) -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(_Stderr(sys.stderr)),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
