"""`samptx demo` and the repository's `app.py`: the page they build and how they launch it (no server started)."""

import os
import runpy
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import gradio
import pytest
from network import free_port

from samptx_hf.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def launches(monkeypatch):
    """Every `launch` of a Gradio app, as (the app, its keyword arguments), instead of serving it."""
    calls = []
    monkeypatch.setattr(gradio.Blocks, "launch", lambda self, **kwargs: calls.append((self, kwargs)))
    return calls


def test_demo_builds_the_page_of_the_model_and_serves_it_where_asked(demo_model_dir, launches):
    args = ["demo", "--model", str(demo_model_dir), "--port", "7999", "--host", "0.0.0.0", "--no-share"]
    assert main(args) == 0
    (demo, kwargs), = launches  # fmt: skip
    assert demo.title == f"SAM-PTx · {demo_model_dir}"
    expected = {"server_name": "0.0.0.0", "server_port": 7999, "share": False, "show_error": True}
    assert kwargs == {**expected, "prevent_thread_lock": True}  # the CLI waits itself, so that a stop closes it


def test_demo_defaults_leave_host_and_port_to_gradio_and_do_not_share(demo_model_dir, launches):
    assert main(["demo", "--model", str(demo_model_dir)]) == 0
    expected = {"server_name": None, "server_port": None, "share": False, "show_error": True}
    assert launches[0][1] == {**expected, "prevent_thread_lock": True}
    assert main(["demo", "--model", str(demo_model_dir), "--share"]) == 0
    assert launches[1][1]["share"] is True


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_a_bad_port_is_a_one_line_usage_error(port, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--model", "anything", "--port", port])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{port!r} is not a port number (1 to 65535)" in err


@pytest.mark.parametrize("host", ["999.999.1.1", "1.2.3", "my host", ""])
def test_a_host_that_is_not_an_address_is_a_one_line_usage_error(host, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--model", "anything", "--host", host])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{host!r} is not a valid address, expected an IP address such as" in err


def test_an_address_of_another_machine_is_named_before_the_model_loads(tmp_path, launches, capsys):
    host = "192.0.2.1"  # TEST-NET-1 (RFC 5737): never an address of this machine
    assert main(["demo", "--model", str(tmp_path / "no-such-model"), "--host", host, "--port", "7997"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"samptx demo: error: --host {host} is not an address of this machine, expected one of its addresses, "
        "127.0.0.1 or 0.0.0.0 (every interface)"
    )


def test_without_gradio_the_demo_says_how_to_install_it_before_loading_the_model(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio then raises ImportError
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--model", str(tmp_path / "not-loaded")])
    message = str(exit_info.value.code)
    assert (
        message.startswith("samptx demo: error: the demo needs gradio") and "pip install 'samptx_hf[demo]'" in message
    )
    assert len(message.splitlines()) == 1


def test_a_missing_model_is_a_one_line_error(tmp_path, launches, capsys):
    assert main(["demo", "--model", str(tmp_path / "nowhere")]) == 1
    assert capsys.readouterr().err.startswith("samptx demo: error:") and not launches


def test_app_py_serves_the_model_named_by_samptx_model_as_the_cli_does(demo_model_dir, launches, monkeypatch):
    monkeypatch.setenv("SAMPTX_MODEL", str(demo_model_dir))
    monkeypatch.setattr(sys, "argv", ["app.py", "--port", "7998"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(ROOT / "app.py"), run_name="__main__")
    assert exit_info.value.code == 0
    (demo, kwargs), = launches  # fmt: skip
    assert demo.title == f"SAM-PTx · {demo_model_dir}" and kwargs["server_port"] == 7998


def test_a_port_in_use_is_a_one_line_error(demo_model_dir, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["demo", "--model", str(demo_model_dir), "--port", str(port)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"samptx demo: error: port {port} is in use; choose another with --port"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stop", "when"),
    [(signal.SIGTERM, "serving"), (signal.SIGINT, "serving"), (signal.SIGTERM, "starting")],
    ids=["sigterm", "sigint", "sigterm_while_starting"],
)
def test_a_stopped_server_leaves_no_temporary_folder(demo_model_dir, tmp_path, stop, when):
    """However and whenever a process manager or a person stops `samptx demo`, its temporary folder goes with it
    (and the process ends: a stop during start-up waits for the server, then closes it)."""
    port = free_port()
    environment = {**os.environ, "TMPDIR": str(tmp_path), "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}
    server = subprocess.Popen(
        [sys.executable, "-m", "samptx_hf.cli", "demo", "--model", str(demo_model_dir), "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        # "starting": as soon as the page's folder exists, before the server answers
        while not (list(tmp_path.glob("samptx-demo-*")) if when == "starting" else _serving(port)):
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline, f"the demo did not reach {when!r} within 120 s"
            time.sleep(0.5 if when == "serving" else 0.01)
        assert list(tmp_path.glob("samptx-demo-*"))  # the page's folder exists while it runs
        server.send_signal(stop)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            pytest.fail(f"samptx demo did not stop within 60 s of {stop.name}: {server.communicate()[1][-3000:]}")
    finally:
        server.kill()
        server.wait()
    assert list(tmp_path.glob("samptx-demo-*")) == []


def _serving(port: int) -> bool:
    with socket.socket() as client:
        return client.connect_ex(("127.0.0.1", port)) == 0
