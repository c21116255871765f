"""A normal install (issue 14): the wheel built from the repository's files, installed into
a fresh virtualenv, is a working `helpdesk` (templates, static files, translations and
migrations come with it) and puts nothing but `helpdesk` at the top of site-packages.

The fresh virtualenv takes the dependencies from the test's own environment (a .pth line),
so that the test needs no network; the project itself comes only from the wheel."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from tests.conftest import REPO
from tests.postgres import sqlite_only
from tests.test_serving import free_port, stop, wait_for_page

SHIPPED = (
    "helpdesk/cli.py", "helpdesk/models.py", "helpdesk/scheduler.py", "helpdesk/outgoing/sender.py",
    "helpdesk/templates/base.html", "helpdesk/templates/mail/pl/ack.txt", "helpdesk/web/static/style.css",
    "helpdesk/web/translations/pl/LC_MESSAGES/messages.mo", "helpdesk/migrations/001_initial.py",
)


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
    return done


def copy_of_the_repository(target):
    """The files git knows (committed, staged, or new and not ignored): no .venv, no build output."""
    names = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO).stdout
    for name in filter(None, names.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


@pytest.mark.slow
@sqlite_only
def test_the_wheel_installs_a_working_helpdesk(tmp_path):
    source, dist, venv, work = (tmp_path / d for d in ("source", "dist", "venv", "work"))
    copy_of_the_repository(source)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(source)])
    (wheel,) = dist.glob("helpdesk-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    assert {n.split("/")[0] for n in names} == {"helpdesk", wheel.name.split("-py")[0] + ".dist-info"}
    assert not [n for n in SHIPPED if n not in names]
    assert not [n for n in names if n.startswith(("helpdesk/tests/", "helpdesk/bench/", "helpdesk/.venv"))]

    run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    with open(os.path.join(site, "dependencies-of-the-test.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--force-reinstall", str(wheel)])

    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_") and k != "PYTHONPATH"}
    env["HELPDESK_DATA_DIR"] = str(work / "var")
    where = run([str(python), "-c", "import helpdesk.cli, helpdesk.models; print(helpdesk.cli.__file__)"],
                cwd=work, env=env).stdout.strip()
    assert where.startswith(site), where  # the installed copy, not the checkout
    helpdesk = str(venv / "bin" / "helpdesk")
    assert "database ready" in run([helpdesk, "init-db"], cwd=work, env=env).stdout
    assert "log in as:" in run([helpdesk, "demo"], cwd=work, env=env).stdout

    port = free_port()
    server = subprocess.Popen([helpdesk, "web"], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**env, "HELPDESK_WEB_LISTEN": f"127.0.0.1:{port}"})
    try:
        status, page = wait_for_page(f"http://127.0.0.1:{port}/login", server)
        assert status == 200 and "Zaloguj się" in page  # the template, in Polish from the catalogue
        status, css = wait_for_page(f"http://127.0.0.1:{port}/static/style.css", server)
        assert status == 200 and "{" in css
    finally:
        stop(server)

