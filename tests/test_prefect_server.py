"""The persistent local Prefect server of ``movierec prefect start``: which API the
pipeline uses, and a real server started and stopped through the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from movierec import prefect_server
from movierec.errors import ConfigError

MOVIEREC = str(Path(sys.executable).with_name("movierec"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("PREFECT_API_URL", "PREFECT_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def healthy() -> Iterator[str]:
    """A loopback server whose ``/api/health`` answers 200 (a stand-in Prefect API)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/api"
    httpd.shutdown()
    httpd.server_close()


def record(home: Path, url: str, pid: int) -> None:
    info = {"url": url, "pid": pid, "log": str(home / "log")}
    (home / "movierec-server.json").write_text(json.dumps(info))


def test_without_a_server_the_flow_uses_the_temporary_one(home: Path) -> None:
    assert prefect_server.use_running_server() is None
    assert "PREFECT_API_URL" not in os.environ
    assert prefect_server.status().startswith("no server running")


def test_a_configured_api_wins(home: Path, monkeypatch: pytest.MonkeyPatch, healthy: str) -> None:
    record(home, healthy, os.getpid())
    other = healthy.replace("127.0.0.1", "localhost")  # answers; not the recorded URL
    monkeypatch.setenv("PREFECT_API_URL", other)
    assert prefect_server.use_running_server() == other
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # configured but dead
    with pytest.raises(ConfigError, match="does not answer"):
        prefect_server.use_running_server()
    monkeypatch.delenv("PREFECT_API_URL")
    (home / "profiles.toml").write_text(
        f'active = "work"\n[profiles.work]\nPREFECT_API_URL = "{other}"\n'
    )
    assert prefect_server.use_running_server() == other
    assert "PREFECT_API_URL" not in os.environ  # the profile is Prefect's own to read


def test_a_recorded_server_is_used_only_while_it_answers(
    home: Path, monkeypatch: pytest.MonkeyPatch, healthy: str
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    record(home, healthy, os.getpid())
    assert prefect_server.use_running_server() == healthy
    assert os.environ["PREFECT_API_URL"] == healthy
    monkeypatch.delenv("PREFECT_API_URL")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    record(home, healthy, gone.pid)  # its process has exited
    assert prefect_server.use_running_server() is None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    record(home, f"http://127.0.0.1:{port}/api", os.getpid())  # nothing answers there
    assert prefect_server.use_running_server() is None
    assert "PREFECT_API_URL" not in os.environ


@pytest.mark.slow
def test_start_status_stop_through_the_cli(home: Path) -> None:
    """A real ``prefect server start``, started by the command users run: it answers, it is
    not a child of the command's caller (a later Ctrl-C cannot reach it), and stop ends it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PREFECT_HOME": str(home)}
    started = subprocess.run(
        [MOVIEREC, "prefect", "start", "--port", str(port)],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    info = json.loads((home / "movierec-server.json").read_text())
    try:
        assert info["url"] == f"http://127.0.0.1:{port}/api"
        assert prefect_server.running_server() is not None
        stat = Path(f"/proc/{info['pid']}/stat").read_text().rsplit(")", 1)[1].split()
        assert int(stat[1]) != os.getpid()  # reparented: not our child
        assert int(stat[3]) == info["pid"]  # its own session leader
        status = subprocess.run([MOVIEREC, "prefect", "status"], env=env, capture_output=True,
                                text=True, check=True)  # fmt: skip
        assert status.stdout.startswith(f"running: Prefect server at {info['url']}")
    finally:
        stopped = subprocess.run([MOVIEREC, "prefect", "stop"], env=env, capture_output=True,
                                 text=True, check=True)  # fmt: skip
    assert stopped.stdout.startswith("stopped Prefect server")
    assert prefect_server.running_server() is None
    assert (
        not Path(f"/proc/{info['pid']}").exists()
        or "Z" in Path(f"/proc/{info['pid']}/stat").read_text().rsplit(")", 1)[1].split()[0]
    )
