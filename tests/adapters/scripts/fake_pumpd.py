"""A Pumpd automation script for the command adapter's tests: it answers from a simulated Pumpd.

It speaks the command protocol of ``onboardflow.adapters.pumpd.command`` (request on stdin, result
on stdout, exit codes of ``error_mapping.EXIT_CODES``). Environment:

- ``FAKE_PUMPD_STATE``: JSON file holding the simulated Pumpd, its call log and fault counters, so
  successive processes behave as one service (guarded by an ``flock``);
- ``FAKE_PUMPD_FAULTS``, ``FAKE_PUMPD_SEED``: the fault plan (JSON) and the seed;
- ``FAKE_PUMPD_PIDFILE``: if set, the script first starts a child ``sleep`` and writes both pids
  there, so tests can prove the whole process group is killed.

A simulated time-out makes the script hang for the plan's ``hang_ms`` before exiting 75.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from onboardflow.adapters.error_mapping import error_body, exit_code_for
from onboardflow.adapters.faults import FaultPlan, SimulatedTimeout
from onboardflow.adapters.pumpd.simulated import SimulatedPumpd
from onboardflow.adapters.simulation import Simulation
from onboardflow.errors import JobError

EX_USAGE = 64


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    with open(f"{path}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def main() -> int:
    request = json.load(sys.stdin)
    if len(sys.argv) > 1 and sys.argv[-1] != request["operation"]:
        print(
            json.dumps({"error": {"message": f"argv says {sys.argv[-1]}, stdin says {request['operation']}"}})
        )
        return EX_USAGE
    pidfile = os.environ.get("FAKE_PUMPD_PIDFILE")
    if pidfile:
        child = subprocess.Popen(["sleep", "300"])
        Path(pidfile).write_text(json.dumps([os.getpid(), child.pid]))
    state_path = Path(os.environ["FAKE_PUMPD_STATE"])
    plan = FaultPlan.from_dict(json.loads(os.environ.get("FAKE_PUMPD_FAULTS", "null")))
    simulation = Simulation(seed=int(os.environ.get("FAKE_PUMPD_SEED", "0")), faults=plan)
    pumpd = SimulatedPumpd(simulation)
    hang = 0.0
    answer: dict[str, Any]
    with locked(state_path):
        if state_path.exists():
            saved = json.loads(state_path.read_text())
            simulation.restore(saved["simulation"])
            pumpd.restore(saved["pumpd"])
        try:
            result = asyncio.run(
                pumpd.run(
                    request["operation"], request["payload"], idempotency_key=request["idempotency_key"]
                )
            )
            code, answer = 0, result.to_dict()
        except SimulatedTimeout as exc:
            code, answer, hang = exit_code_for(exc), error_body(exc), exc.hang_seconds
        except JobError as exc:
            code, answer = exit_code_for(exc), error_body(exc)
        finally:
            state_path.write_text(
                json.dumps({"simulation": simulation.snapshot(), "pumpd": pumpd.snapshot()})
            )
    if hang:
        time.sleep(hang)
    print(json.dumps(answer))
    return code


if __name__ == "__main__":
    sys.exit(main())
