"""`helpdesk` as an operator runs it: a subprocess on the test's database and data dir."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import REPO


def cli_runner(config, cwd: Path) -> Callable[..., str]:
    """A function running `helpdesk ARGS...` that asserts it succeeded and returns its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(config.data_dir), HELPDESK_DATABASE_URL=config.database_url,
               HELPDESK_SECRET_KEY=config.secret_key, PYTHONPATH=str(REPO))

    def cli(*args) -> str:
        done = subprocess.run([sys.executable, "-m", "helpdesk.cli", *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    return cli
