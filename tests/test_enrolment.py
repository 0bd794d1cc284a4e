"""One-time enrolment codes: the invitation format, and the store's single, unexpired use
(the real-server flow is in tests/test_browser_onboarding.py)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from client.enrolment import PREFIX, Invitation, decode
from client.errors import InputError
from server_a.core.security import enrolment_code_hash, new_enrolment_code
from server_a.storage import Storage


def test_invitation_round_trip_and_clear_refusals() -> None:
    invitation = Invitation("https://a.example:8443", "ab12cd34", "ABCD-EFGH-JKMN-PQRS")
    text = invitation.encode()
    assert text.startswith(PREFIX) and decode(text) == invitation
    assert decode(f"  {text[:20]}\n{text[20:]} ") == invitation  # line breaks from a copy
    assert "ABCD" not in repr(invitation)
    for bad, reason in (
        ("hello", "not an hrmon enrolment invitation"),
        (PREFIX + "!!!", "damaged"),
        (PREFIX + "W10", "must name server, key_id and code"),  # base64url of []
        (Invitation("file:///etc", "k", "c").encode(), r"not an http\(s\) URL"),
        (PREFIX + "A" * 5000, "at most 2048"),
    ):
        with pytest.raises(InputError, match=reason) as caught:
            decode(bad)
        assert "ABCD" not in str(caught.value)


def test_codes_are_random_grouped_and_typed_loosely() -> None:
    codes = {new_enrolment_code() for _ in range(200)}
    assert len(codes) == 200
    code = codes.pop()
    assert [len(group) for group in code.split("-")] == [4, 4, 4, 4]
    assert enrolment_code_hash(code.lower().replace("-", " ")) == enrolment_code_hash(code)


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    store = Storage(f"sqlite:///{tmp_path / 'a.db'}")
    store.migrate()
    return store


def test_a_code_works_once_and_not_after_it_expires(storage: Storage) -> None:
    physician = storage.add_physician("dr.x", "hash", "ff", "kid")
    patient = storage.add_patient(physician.id, "P", "0" * 64)
    now = datetime.now(UTC)
    storage.set_enrolment_code(patient.id, enrolment_code_hash("CODE-1"), now + timedelta(hours=1))
    assert storage.redeem_enrolment_code(enrolment_code_hash("WRONG"), "1" * 64, now) is None
    late = now + timedelta(hours=2)
    assert storage.redeem_enrolment_code(enrolment_code_hash("CODE-1"), "1" * 64, late) is None
    won = storage.redeem_enrolment_code(enrolment_code_hash("CODE-1"), "2" * 64, now)
    assert won is not None and won.id == patient.id and won.device_token_hash == "2" * 64
    assert storage.redeem_enrolment_code(enrolment_code_hash("CODE-1"), "3" * 64, now) is None
    assert storage.patient_by_device_token_hash("0" * 64) is None  # the old device is out


def test_two_devices_racing_with_one_code_one_wins(storage: Storage) -> None:
    physician = storage.add_physician("dr.y", "hash", "ff", "kid")
    patient = storage.add_patient(physician.id, "P", "0" * 64)
    now = datetime.now(UTC)
    storage.set_enrolment_code(patient.id, enrolment_code_hash("RACE"), now + timedelta(hours=1))
    winners: list[object] = []
    start = threading.Barrier(8)

    def try_it(i: int) -> None:
        start.wait()
        got = storage.redeem_enrolment_code(enrolment_code_hash("RACE"), f"{i:064d}", now)
        if got is not None:
            winners.append(got)

    threads = [threading.Thread(target=try_it, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
