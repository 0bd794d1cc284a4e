"""Readings and ranges: bound-checked before encryption, encrypted under the pinned key."""

from __future__ import annotations

import uuid

import pytest

from client.encrypt import (
    EncodedRange,
    EncodedReading,
    encode_range,
    encode_reading,
    encrypt_range,
    encrypt_reading,
    expected_result,
)
from client.errors import InputError, KeyMismatch
from client.system_key import SystemPublicKey, check_pinned
from protocol.ciphertext import decode_ciphertext
from protocol.keys import combine_partial_decryptions


def _joint_decrypt(keys, text):
    pk, a, b = keys
    c = decode_ciphertext(pk, text)
    return combine_partial_decryptions(pk, a.partial_decrypt(c), b.partial_decrypt(c))


def test_a_reading_encrypts_its_encoded_values(system_keys):
    system = SystemPublicKey.from_public_key(system_keys[0])
    rid = uuid.uuid4()
    body = encrypt_reading(system, encode_reading(72.44, 0.31415, 0.27183), reading_id=rid)
    assert body["reading_id"] == str(rid) and body["key_id"] == system.key_id
    assert _joint_decrypt(system_keys, body["heart_rate"]) == 724
    assert _joint_decrypt(system_keys, body["score"]) == 3142
    assert _joint_decrypt(system_keys, body["irregularity"]) == 2718


def test_a_rhythm_not_judged_travels_as_zero(system_keys):
    system = SystemPublicKey.from_public_key(system_keys[0])
    body = encrypt_reading(system, encode_reading(72.0, 0.3, None))
    assert _joint_decrypt(system_keys, body["irregularity"]) == 0


def test_two_encryptions_of_one_reading_differ(system_keys):
    system = SystemPublicKey.from_public_key(system_keys[0])
    reading = encode_reading(70.0, 0.5)
    first, second = encrypt_reading(system, reading), encrypt_reading(system, reading)
    assert first["heart_rate"] != second["heart_rate"]
    assert first["reading_id"] != second["reading_id"]


def test_a_range_encrypts_its_encoded_values(system_keys):
    system = SystemPublicKey.from_public_key(system_keys[0])
    body = encrypt_range(system, encode_range(50, 110, 0.42, 0.15))
    names = ("low", "high", "threshold", "irregularity_threshold")
    assert [_joint_decrypt(system_keys, body[k]) for k in names] == [500, 1100, 4200, 1500]


@pytest.mark.parametrize(
    ("hr", "score", "named"),
    [
        (-1.0, 0.5, "heart rate"),
        (4000.0, 0.5, "heart rate"),
        (float("nan"), 0.5, "heart rate"),
        (70.0, 1.5, "abnormality score"),
        (70.0, -0.1, "abnormality score"),
    ],
)
def test_values_outside_their_bound_are_refused_by_name(hr, score, named):
    with pytest.raises(InputError, match=named):
        encode_reading(hr, score)


@pytest.mark.parametrize("irregularity", [-0.01, 1.01, float("nan"), float("inf")])
def test_an_irregularity_outside_0_1_is_refused_by_name(irregularity):
    with pytest.raises(InputError, match="irregularity index"):
        encode_reading(70.0, 0.5, irregularity)


def test_a_range_upside_down_or_out_of_bound_is_refused():
    with pytest.raises(InputError, match="above"):
        encode_range(110, 50, 0.5, 0.15)
    with pytest.raises(InputError, match="threshold"):
        encode_range(50, 110, 2.0, 0.15)
    with pytest.raises(InputError, match="high"):
        encode_range(50, 5000, 0.5, 0.15)
    with pytest.raises(InputError, match="irregularity threshold"):
        encode_range(50, 110, 0.5, 1.5)
    # 0 would make every reading whose rhythm was not judged (sent as 0) irregular
    with pytest.raises(InputError, match="irregularity threshold must be above 0"):
        encode_range(50, 110, 0.5, 0.0)


def test_a_key_other_than_the_pinned_one_is_refused(system_keys):
    system = SystemPublicKey.from_public_key(system_keys[0])
    check_pinned(system, system.key_id)
    with pytest.raises(KeyMismatch, match="pinned"):
        check_pinned(system, "0" * 16)


@pytest.mark.parametrize(
    ("hr", "score", "q", "abnormal"),
    [
        (500, 0, 0, False),  # exactly at lo is inside the range
        (499, 0, 0, True),
        (1100, 0, 0, False),  # exactly at hi is inside
        (1101, 0, 0, True),
        (700, 4199, 0, False),
        (700, 4200, 0, True),  # score at tau counts as abnormal (d3 = s - tau >= 0)
        (700, 0, 1499, False),
        (700, 0, 1500, True),  # irregularity at rho counts as irregular (d4 = q - rho >= 0)
    ],
)
def test_expected_result_follows_the_four_differences(hr, score, q, abnormal):
    bounds = EncodedRange(500, 1100, 4200, 1500)
    assert expected_result(EncodedReading(hr, score, q), bounds) is abnormal
