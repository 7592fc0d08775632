"""``runall`` keeps its children running: one that exits is started again with backoff; SIGTERM stops them all."""

import io
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from config.management.commands import runall


def _exits_at_once(starts: Path, code: int = 3) -> list[str]:
    """A child that notes each start in ``starts`` and exits with ``code``."""
    return [sys.executable, "-c", f"import sys; open({str(starts)!r}, 'a').write('x'); sys.exit({code})"]


def _runs_until_stopped(pid_file: Path) -> list[str]:
    return [
        sys.executable,
        "-c",
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)",
    ]


def _wait_for(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.02)


def _is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_child_that_exits_is_started_again_after_pauses_that_double(tmp_path):
    starts, pid_file, logged = tmp_path / "starts", tmp_path / "steady.pid", []
    supervisor = runall.Supervisor(
        {"flaky": _exits_at_once(starts), "steady": _runs_until_stopped(pid_file)},
        log=logged.append,
        first_delay=0.05,
        max_delay=0.2,
    )
    supervisor.start()
    try:
        _wait_for(pid_file.exists, 10)
        steady = int(pid_file.read_text())
        deadline = time.monotonic() + 20
        while (not starts.exists() or len(starts.read_text()) < 5) and time.monotonic() < deadline:
            supervisor.restart_exited()
            time.sleep(0.01)
    finally:
        supervisor.stop()
    assert len(starts.read_text()) >= 5
    exits = [line for line in logged if line.startswith("flaky exited with code 3")]
    assert [line.rsplit("restarting it in ", 1)[1] for line in exits[:4]] == ["0.05 s.", "0.1 s.", "0.2 s.", "0.2 s."]
    assert not any(line.startswith("steady") for line in logged)  # the others ran on, untouched
    assert _is_gone(steady)  # and stop() ended them


def test_a_child_that_ran_for_a_while_is_started_again_after_the_first_pause(tmp_path):
    starts, logged = tmp_path / "starts", []
    command = [sys.executable, "-c", f"import time; open({str(starts)!r}, 'a').write('x'); time.sleep(0.3)"]
    supervisor = runall.Supervisor({"slow": command}, log=logged.append, first_delay=0.05, stable_after=0.2)
    supervisor.start()
    try:
        _wait_for(lambda: supervisor.restart_exited() or (starts.exists() and len(starts.read_text()) >= 3), 20)
    finally:
        supervisor.stop()
    assert [line.rsplit(" ", 2)[1] for line in logged if "exited" in line] == ["0.05", "0.05"]


def test_runall_restarts_a_child_that_exits_and_sigterm_stops_them_all(monkeypatch, tmp_path, signal_handlers_restored):
    starts, pid_file = tmp_path / "starts", tmp_path / "steady.pid"
    children = {"steady": _runs_until_stopped(pid_file), "flaky": _exits_at_once(starts)}
    monkeypatch.setattr(runall, "children", lambda **_: children)

    def stop_once_restarted() -> None:
        deadline = time.monotonic() + 15
        while (not starts.exists() or len(starts.read_text()) < 2) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)  # as `docker stop` or Ctrl-C would

    stopper = threading.Thread(target=stop_once_restarted)
    stopper.start()
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("runall", "--no-fakes", stdout=stdout, stderr=stderr)
    stopper.join()

    assert exited.value.code == 0
    assert len(starts.read_text()) >= 2  # flaky was started again after it exited
    assert "flaky exited with code 3" in stderr.getvalue()
    assert "Restarting flaky." in stderr.getvalue()
    assert _is_gone(int(pid_file.read_text()))  # SIGTERM reached the child that was still running
    assert "Ponte is starting" in stdout.getvalue()
