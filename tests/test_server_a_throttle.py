"""Security round 2, item 5: sign-in guesses are throttled per username and per client,
and the number of password hashes running at once is capped."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from server_a.core.config import Settings
from server_a.login_throttle import HashesBusy, LoginThrottle
from tests.servers import a_settings, in_memory_stack
from tests.service_helpers import PASSWORD, physician_key
from tests.stack_helpers import sign_in

pytest_plugins = ["tests.servers"]
WRONG = {"username": "dr.guess", "password": "not-the-password-at-all"}


@pytest.mark.anyio
async def test_guesses_at_one_username_then_from_one_client_get_429(
    key_dir: Path, tmp_path: Path
) -> None:
    slow = {"login_rate_per_s": 0.001, "client_login_rate_per_s": 0.001}
    database = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    async with in_memory_stack(
        key_dir, database, login_burst=3, client_login_burst=8, **slow
    ) as stack:
        await sign_in(stack, "dr.guess", physician_key()[0])
        right = {"username": "dr.guess", "password": PASSWORD}
        # signing in with the right password costs the name nothing (the CLI signs in a lot)
        assert (await stack.client.post("/v1/auth/token", data=right)).status_code == 200
        tries = [await stack.client.post("/v1/auth/token", data=WRONG) for _ in range(4)]
        assert [t.status_code for t in tries] == [401, 401, 401, 429]
        assert int(tries[-1].headers["retry-after"]) >= 1
        assert "sign-in attempts" in tries[-1].json()["detail"]
        # the name is delayed, even with the right password, until its bucket refills
        assert (await stack.client.post("/v1/auth/token", data=right)).status_code == 429
        # another name is its own bucket, but this client has one try left of eight
        other = {**WRONG, "username": "dr.other"}
        tries = [await stack.client.post("/v1/auth/token", data=other) for _ in range(2)]
        assert [t.status_code for t in tries] == [401, 429]


def test_at_most_the_configured_hashes_run_at_once(key_dir: Path, tmp_path: Path) -> None:
    settings: Settings = a_settings(
        key_dir, f"sqlite:///{tmp_path / 'a.db'}", max_concurrent_hashes=1
    )
    throttle = LoginThrottle(settings, sa.create_engine("sqlite://"))
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with throttle.hashing():
            inside.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(5)
    with pytest.raises(HashesBusy), throttle.hashing():
        pass
    release.set()
    holder.join(5)
    with throttle.hashing():  # free again
        pass
