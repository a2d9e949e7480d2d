"""The service hashes passwords with argon2id at the library's default cost. The test
process hashes cheaply (tests/conftest.py), so this is proven where nothing is patched:
`smtp-profile user add` in a process of its own, read back from its database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from argon2 import PasswordHasher

from smtp_profile.usecases import accounts as accounts_module
from tests.support.database import query
from tests.support.service import plain_settings

COMMAND = str(Path(sys.executable).with_name("smtp-profile"))


def test_a_user_added_by_the_service_has_argon2id_at_the_default_cost(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    subprocess.run([COMMAND, "user", "add", "carol", "-p", "/system_settings/read/",
                    "--password-stdin", "--data-dir", str(data_dir)],
                   input="carol-password-1\n", text=True, capture_output=True, check=True)
    settings = plain_settings(data_dir)
    [(stored,)] = query(settings.resolved_database_url,
                        "SELECT password_hash FROM users WHERE name_key = 'carol'")
    default = PasswordHasher()
    assert stored.startswith(f"$argon2id$v=19$m={default.memory_cost},t={default.time_cost},"
                             f"p={default.parallelism}$"), stored
    assert default.verify(stored, "carol-password-1")
    # ...while in this process the cheap hasher stands in (so the proof above is needed).
    assert getattr(accounts_module, "PasswordHasher") is not PasswordHasher  # noqa: B009
