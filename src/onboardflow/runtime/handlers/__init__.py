"""Job handlers by job type."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from onboardflow.errors import InvalidInput
from onboardflow.runtime.handlers.builtin import builtin
from onboardflow.runtime.handlers.menus import menu_jobs
from onboardflow.runtime.handlers.pipeline import pipeline_jobs
from onboardflow.runtime.handlers.registration import registration_jobs
from onboardflow.runtime.registry import Registry


def default_registry(extra_modules: Sequence[str] = ()) -> Registry:
    """Every job type onboardflow knows, plus those of ``extra_modules`` (each with a ``registry``)."""
    registry = builtin.merged(menu_jobs).merged(registration_jobs).merged(pipeline_jobs)
    for name in extra_modules:
        extra = getattr(importlib.import_module(name), "registry", None)
        if not isinstance(extra, Registry):
            raise InvalidInput("handler_modules", f"module {name!r} has no `registry` of job handlers")
        registry = registry.merged(extra)
    return registry
