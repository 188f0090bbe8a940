"""The command implementation of Pumpd: argv, stdin/stdout protocol, exit codes, time-outs, cancel."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from onboardflow.adapters.pumpd.command import CommandPumpd, CommandSpec
from onboardflow.errors import AlreadyDoneError, InvalidInput, JobError, PermanentError, RetryableError
from tests.adapters.conftest import fake_pumpd_spec, rule


def python(code: str) -> CommandPumpd:
    """A command adapter whose script is the Python ``code`` (the operation arrives as its last argv)."""
    return CommandPumpd(CommandSpec(argv=(sys.executable, "-c", code), timeout=30, kill_grace=0.5))


def process_is_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie waiting for its parent counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def read_pids(pidfile: Path) -> list[int]:
    text = pidfile.read_text() if pidfile.exists() else ""
    pids: list[int] = json.loads(text) if text else []
    return pids


async def wait_for_pids(pidfile: Path) -> list[int]:
    async with asyncio.timeout(10):
        while not (pids := read_pids(pidfile)):
            await asyncio.sleep(0.05)
    return pids


async def wait_until_gone(pids: list[int]) -> bool:
    for _ in range(40):
        if all(process_is_gone(pid) for pid in pids):
            return True
        await asyncio.sleep(0.05)
    return False


def test_the_operation_is_appended_substituted_or_looked_up() -> None:
    appended = CommandSpec(argv=("node", "pumpd.js"))
    substituted = CommandSpec(argv=("node", "pumpd.js", "--step", "{operation}", "--headless"))
    mapped = CommandSpec(argv=("node", "pumpd.js"), operations={"menu_import": ("python", "import_menu.py")})
    assert appended.argv_for("account") == ("node", "pumpd.js", "account")
    assert substituted.argv_for("account") == ("node", "pumpd.js", "--step", "account", "--headless")
    assert mapped.argv_for("menu_import") == ("python", "import_menu.py")
    assert mapped.argv_for("account") == ("node", "pumpd.js", "account")


def test_settings_parse_a_command_line_or_a_mapping_of_operations() -> None:
    spec = CommandSpec.from_mapping({"argv": "node scripts/pumpd.js --headless", "timeout": 120})
    assert spec.argv == ("node", "scripts/pumpd.js", "--headless")
    assert spec.timeout == 120
    bare = CommandSpec.from_mapping({"account": ["./account.sh"], "menu_import": "./menu.sh --csv"})
    assert bare.operations == {"account": ("./account.sh",), "menu_import": ("./menu.sh", "--csv")}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "pumpd_command.argv"),
        ({"argv": "x", "colour": "red"}, "pumpd_command.colour"),
        ({"operations": {"fly": ["x"]}}, "pumpd_command.operations.fly"),
        ({"argv": "x", "timeout": 0}, "pumpd_command.timeout"),
        ({"argv": 42}, "pumpd_command.argv"),
    ],
)
def test_bad_command_settings_name_the_field(config: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        CommandSpec.from_mapping(config)
    assert caught.value.field == field


async def test_the_script_gets_operation_key_and_payload_on_stdin() -> None:
    echo = python(
        "import json, sys; request = json.load(sys.stdin); "
        "print(json.dumps({'data': {'request': request, 'argv': sys.argv[1:]}, 'ids': {}, 'warning': None}))"
    )
    result = await echo.run("account", {"email": "a@b.nz"}, idempotency_key="key-1")
    assert result.data["request"] == {
        "operation": "account",
        "idempotency_key": "key-1",
        "payload": {"email": "a@b.nz"},
    }
    assert result.data["argv"] == ["account"]


async def test_log_lines_before_the_result_on_stdout_are_tolerated() -> None:
    chatty = python(
        'print(\'launching browser\'); print(\'{"data": {"ok": true}, "ids": {"pumpd_user_id": "u"}}\')'
    )
    result = await chatty.run("account", {}, idempotency_key="k")
    assert result.data == {"ok": True}
    assert result.ids == {"pumpd_user_id": "u"}


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (65, PermanentError),
        (73, AlreadyDoneError),
        (75, RetryableError),
        (77, PermanentError),
        (1, RetryableError),
        (2, RetryableError),
    ],
)
async def test_exit_codes_map_to_typed_errors(code: int, error: type[JobError]) -> None:
    script = python(f'import sys; print(\'{{"error": {{"message": "nope"}}}}\'); sys.exit({code})')
    with pytest.raises(error, match=f"exited with {code}: nope"):
        await script.run("account", {}, idempotency_key="k")


async def test_already_exists_exit_carries_the_existing_ids_from_stdout() -> None:
    script = python(
        "import json, sys; existing = {'pumpd_user_id': 'usr_1'}; "
        "print(json.dumps({'error': {'message': 'exists', 'existing': existing}})); sys.exit(73)"
    )
    with pytest.raises(AlreadyDoneError) as caught:
        await script.run("account", {}, idempotency_key="k")
    assert caught.value.existing == {"pumpd_user_id": "usr_1"}


async def test_temporary_failure_exit_honours_retry_after_from_stdout() -> None:
    script = python(
        'import sys; print(\'{"error": {"message": "slow down", "retry_after": 30}}\'); sys.exit(75)'
    )
    with pytest.raises(RetryableError) as caught:
        await script.run("account", {}, idempotency_key="k")
    assert caught.value.retry_after == 30


async def test_a_script_killed_by_a_signal_is_retryable() -> None:
    script = python("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    with pytest.raises(RetryableError, match="killed by signal 9"):
        await script.run("account", {}, idempotency_key="k")


async def test_a_zero_exit_without_json_is_retryable() -> None:
    script = python("print('done!')")
    with pytest.raises(RetryableError, match="without a JSON result"):
        await script.run("account", {}, idempotency_key="k")


async def test_a_missing_script_is_permanent() -> None:
    missing = CommandPumpd(CommandSpec(argv=("/nonexistent/pumpd-script",)))
    with pytest.raises(PermanentError, match="command not found"):
        await missing.run("account", {}, idempotency_key="k")


async def test_secrets_the_script_prints_to_stderr_are_scrubbed() -> None:
    script = python(
        "import json, sys; request = json.load(sys.stdin); "
        "print('login failed for', request['payload']['password'], file=sys.stderr); sys.exit(77)"
    )
    with pytest.raises(PermanentError) as caught:
        await script.run("account", {"email": "a@b.nz", "password": "hunter2-secret"}, idempotency_key="k")
    text = f"{caught.value} {caught.value.details}"
    assert "hunter2-secret" not in text
    assert "login failed for ***" in text


async def test_a_time_out_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids.json"
    spec = fake_pumpd_spec(
        tmp_path / "state.json",
        rule("pumpd", "account", "timeout") | {"hang_ms": 60_000},
        timeout=3,
        env={"FAKE_PUMPD_PIDFILE": str(pidfile)},
    )
    task = asyncio.create_task(
        CommandPumpd(spec).run("account", {"email": "a@b.nz", "password": "password1"}, idempotency_key="k")
    )
    pids = await wait_for_pids(pidfile)
    with pytest.raises(RetryableError, match=r"timed out after 3s"):
        await task
    assert await wait_until_gone(pids)


async def test_cancelling_the_task_kills_the_whole_process_group_and_reraises(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids.json"
    spec = fake_pumpd_spec(
        tmp_path / "state.json",
        rule("pumpd", "account", "timeout") | {"hang_ms": 60_000},
        timeout=60,
        env={"FAKE_PUMPD_PIDFILE": str(pidfile)},
    )
    task = asyncio.create_task(
        CommandPumpd(spec).run("account", {"email": "a@b.nz", "password": "password1"}, idempotency_key="k")
    )
    pids = await wait_for_pids(pidfile)
    assert not any(process_is_gone(pid) for pid in pids)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_until_gone(pids)
