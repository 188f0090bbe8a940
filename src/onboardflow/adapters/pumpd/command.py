"""Pumpd through an automation script (a browser script, say): one process per operation.

Protocol:

- argv: ``operations[operation]`` if configured, else ``argv`` with the operation substituted for a
  ``{operation}`` argument, or appended as the last argument when there is none;
- stdin: ``{"operation": ..., "idempotency_key": ..., "payload": {...}}`` as JSON (secrets travel
  only here, never in argv, where ``ps`` would show them);
- stdout: the result ``{"data": {...}, "ids": {...}, "warning": null}`` as one JSON document (if
  stdout is not one document, its last non-empty line is tried); on failure, optionally
  ``{"error": {"message": ..., "existing": {...}, "retry_after": ...}}``;
- exit code: 0 ok, 65 ``EX_DATAERR`` permanent, 73 ``EX_CANTCREAT`` already exists, 75
  ``EX_TEMPFAIL`` retryable, 77 ``EX_NOPERM`` permanent (bad credentials), anything else or a signal
  retryable (``error_mapping.EXIT_CODES``).

The script runs in its own process group. On time-out or when the calling task is cancelled the group
gets SIGTERM, then SIGKILL after ``kill_grace`` seconds; the time-out becomes a ``RetryableError``, the
cancellation is re-raised. Leftover processes of the group are killed after a normal exit too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shlex
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from onboardflow.adapters import wire
from onboardflow.adapters.error_mapping import error_from_exception, error_from_exit_code
from onboardflow.adapters.pumpd.protocol import PUMPD_OPERATIONS, PumpdResult, check_operation
from onboardflow.adapters.redaction import scrub, secret_values
from onboardflow.errors import InvalidInput, RetryableError

logger = logging.getLogger(__name__)

OPERATION_PLACEHOLDER = "{operation}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandSpec:
    """Which script runs each operation, and under which limits."""

    argv: tuple[str, ...] = ()
    operations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    timeout: float = 300.0
    kill_grace: float = 2.0
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, default_timeout: float = 300.0) -> CommandSpec:
        """Parse settings: ``{"argv": [...] | "cmd line", "operations": {op: argv}, "timeout": s,
        "kill_grace": s, "cwd": path, "env": {...}}``, or a bare mapping of operation to argv."""
        if data and set(data) <= set(PUMPD_OPERATIONS):
            data = {"operations": data}
        unknown = set(data) - {"argv", "operations", "timeout", "kill_grace", "cwd", "env"}
        if unknown:
            raise InvalidInput(f"pumpd_command.{sorted(unknown)[0]}", "unknown field")
        operations = data.get("operations") or {}
        if not isinstance(operations, Mapping):
            raise InvalidInput("pumpd_command.operations", "must map operation names to commands")
        for name in operations:
            if name not in PUMPD_OPERATIONS:
                raise InvalidInput(f"pumpd_command.operations.{name}", "not a Pumpd operation")
        spec = cls(
            argv=_argv(data.get("argv") or (), "pumpd_command.argv"),
            operations={
                name: _argv(value, f"pumpd_command.operations.{name}") for name, value in operations.items()
            },
            timeout=float(data.get("timeout", default_timeout)),
            kill_grace=float(data.get("kill_grace", 2.0)),
            cwd=data.get("cwd"),
            env={str(key): str(value) for key, value in (data.get("env") or {}).items()},
        )
        if not spec.argv and not spec.operations:
            raise InvalidInput("pumpd_command.argv", "give argv or operations")
        if spec.timeout <= 0:
            raise InvalidInput("pumpd_command.timeout", "must be positive")
        return spec

    def argv_for(self, operation: str) -> tuple[str, ...]:
        """The command line that runs ``operation``."""
        if operation in self.operations:
            return self.operations[operation]
        if not self.argv:
            raise InvalidInput("pumpd_command.operations", f"no command configured for {operation!r}")
        if OPERATION_PLACEHOLDER in self.argv:
            return tuple(operation if part == OPERATION_PLACEHOLDER else part for part in self.argv)
        return (*self.argv, operation)


class CommandPumpd:
    """Runs each Pumpd operation as a script (see the module docstring for the protocol)."""

    service = "pumpd"

    def __init__(self, spec: CommandSpec) -> None:
        self.spec = spec

    async def run(self, operation: str, payload: Mapping[str, Any], *, idempotency_key: str) -> PumpdResult:
        """Run the script for ``operation`` and read its answer."""
        check_operation(operation)
        argv = self.spec.argv_for(operation)
        message = {"operation": operation, "idempotency_key": idempotency_key, "payload": dict(payload)}
        stdin = json.dumps(wire.dump(message, dict[str, Any])).encode()
        secrets = secret_values(payload)
        started = time.monotonic()
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.spec.cwd,
                env={**os.environ, **self.spec.env},
                start_new_session=True,
            )
        except OSError as exc:
            raise error_from_exception(exc, service=self.service, operation=operation) from exc
        try:
            async with asyncio.timeout(self.spec.timeout):
                stdout, stderr = await process.communicate(stdin)
        except TimeoutError:
            await _stop(process, self.spec.kill_grace)
            raise RetryableError(
                f"pumpd {operation}: command timed out after {self.spec.timeout:g}s and was killed",
                details={"argv0": argv[0], "duration_s": round(time.monotonic() - started, 3)},
            ) from None
        except BaseException:
            await _stop(process, self.spec.kill_grace)
            raise
        _signal_group(process.pid, signal.SIGKILL)
        code = process.returncode if process.returncode is not None else -1
        logger.debug(
            "pumpd %s: %s exited %s in %.0f ms", operation, argv[0], code, (time.monotonic() - started) * 1000
        )
        output = _parse_output(stdout.decode(errors="replace"))
        error = error_from_exit_code(
            code,
            output=output,
            stderr=scrub(stderr.decode(errors="replace"), secrets),
            service=self.service,
            operation=operation,
        )
        if error is not None:
            raise error
        if output is None:
            raise RetryableError(
                f"pumpd {operation}: the command exited 0 without a JSON result",
                details={"stdout": scrub(stdout.decode(errors="replace")[-500:], secrets)},
            )
        try:
            return wire.load(PumpdResult, output)
        except Exception as exc:
            raise error_from_exception(exc, service=self.service, operation=operation) from exc


def _argv(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(shlex.split(value))
    if isinstance(value, Sequence) and all(isinstance(part, str) for part in value):
        return tuple(value)
    raise InvalidInput(where, "must be a command line or a list of strings")


def _parse_output(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        lines = [line for line in text.splitlines() if line.strip()]
        try:
            return json.loads(lines[-1])
        except ValueError:
            return None


def _signal_group(pid: int, signum: signal.Signals) -> None:
    # The script leads its own group (start_new_session), so its pid is the group id.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


async def _stop(process: asyncio.subprocess.Process, grace: float) -> None:
    """Terminate the script's whole process group: SIGTERM, then SIGKILL after ``grace`` seconds."""
    _signal_group(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), timeout=grace)
    except TimeoutError:
        pass
    finally:
        _signal_group(process.pid, signal.SIGKILL)
    await process.wait()
