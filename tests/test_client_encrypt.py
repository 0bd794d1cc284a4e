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
    body = encrypt_reading(system, encode_reading(72.44, 0.31415), reading_id=rid)
    assert body["reading_id"] == str(rid) and body["key_id"] == system.key_id
    assert _joint_decrypt(system_keys, body["heart_rate"]) == 724
    assert _joint_decrypt(system_keys, body["score"]) == 3142


def test_two_encryptions_of_one_reading_differ(system_keys):
    system = SystemPublicKey.from_public_key(system_keys[0])
    reading = encode_reading(70.0, 0.5)
    first, second = encrypt_reading(system, reading), encrypt_reading(system, reading)
    assert first["heart_rate"] != second["heart_rate"]
    assert first["reading_id"] != second["reading_id"]


def test_a_range_encrypts_its_encoded_values(system_keys):
    system = SystemPublicKey.from_public_key(system_keys[0])
    body = encrypt_range(system, encode_range(50, 110, 0.42))
    assert [_joint_decrypt(system_keys, body[k]) for k in ("low", "high", "threshold")] == [
        500,
        1100,
        4200,
    ]


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


def test_a_range_upside_down_or_out_of_bound_is_refused():
    with pytest.raises(InputError, match="above"):
        encode_range(110, 50, 0.5)
    with pytest.raises(InputError, match="threshold"):
        encode_range(50, 110, 2.0)
    with pytest.raises(InputError, match="high"):
        encode_range(50, 5000, 0.5)


def test_a_key_other_than_the_pinned_one_is_refused(system_keys):
    system = SystemPublicKey.from_public_key(system_keys[0])
    check_pinned(system, system.key_id)
    with pytest.raises(KeyMismatch, match="pinned"):
        check_pinned(system, "0" * 16)


@pytest.mark.parametrize(
    ("hr", "score", "abnormal"),
    [
        (500, 0, False),  # exactly at lo is inside the range
        (499, 0, True),
        (1100, 0, False),  # exactly at hi is inside
        (1101, 0, True),
        (700, 4199, False),
        (700, 4200, True),  # score at tau counts as abnormal (d3 = s - tau >= 0)
    ],
)
def test_expected_result_follows_the_three_differences(hr, score, abnormal):
    assert expected_result(EncodedReading(hr, score), EncodedRange(500, 1100, 4200)) is abnormal
