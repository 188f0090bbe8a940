"""Logging set-up with a filter that keeps secrets out of every log line."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from onboardflow.domain.redaction import REDACTED, redact

_SECRET_PAIR = re.compile(
    r"""(?P<key>["']?[\w-]*(?:password|secret|api[_-]?key|token)[\w-]*["']?\s*[:=]\s*)(?P<q>["']?)(?P<val>[^"',\s}]+)""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(Bearer\s+)[\w.~+/=-]+", re.IGNORECASE)


def scrub(text: str) -> str:
    """``text`` with secret values after secret-looking keys, and bearer tokens, replaced by ``***``."""
    text = _BEARER.sub(rf"\g<1>{REDACTED}", text)
    return _SECRET_PAIR.sub(lambda m: f"{m.group('key')}{m.group('q')}{REDACTED}", text)


class RedactingFilter(logging.Filter):
    """Redacts secrets from a record's arguments and from its final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, Mapping):
            record.args = redact(record.args)
        elif isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(a) for a in record.args)
        message = record.getMessage()
        scrubbed = scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


def _redact_arg(value: Any) -> Any:
    if isinstance(value, Mapping | list):
        return redact(value)
    return value


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr at ``level``, with secrets redacted from every handler's records."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
