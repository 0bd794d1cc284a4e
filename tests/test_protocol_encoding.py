"""Encodings and the ciphertext wire format reject what they must, with a reason."""

from __future__ import annotations

import base64

import pytest

from protocol.ciphertext import CiphertextError, decode_ciphertext, encode_ciphertext
from protocol.encoding import (
    BoundError,
    decode_heart_rate,
    encode_heart_rate,
    encode_score,
    from_zn,
    to_zn,
)
from protocol.messages import READING_CIPHERTEXTS, ReadingIn
from protocol.paillier import encrypt


def test_signed_values_round_trip_through_zn():
    n = 2**61 - 1
    for x in (-5, -1, 0, 1, 5, n // 2, -(n // 2)):
        assert from_zn(to_zn(x, n), n) == x


def test_fixed_point_units():
    assert encode_heart_rate(72.4) == 724
    assert decode_heart_rate(724) == 72.4
    assert encode_score(0.9) == 9000
    assert encode_score(0.0012) == 12


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: encode_heart_rate(-1), "heart rate=-10 is outside"),
        (lambda: encode_heart_rate(4000), "outside its bound"),
        (lambda: encode_heart_rate(float("nan")), "not a finite number"),
        (lambda: encode_score(1.5), "not a probability"),
    ],
)
def test_out_of_bound_values_are_refused_before_encryption(call, message):
    with pytest.raises(BoundError, match=message):
        call()


def test_ciphertext_round_trip_and_fixed_length(system_keys):
    pk, _, _ = system_keys
    texts = [encode_ciphertext(pk, encrypt(pk, m)) for m in (0, 1, 12345)]
    assert len({len(t) for t in texts}) == 1
    assert decode_ciphertext(pk, texts[2]) == int.from_bytes(base64.b64decode(texts[2]), "big")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda pk: "not base64!", "not valid base64"),
        (lambda pk: base64.b64encode(b"\x01" * 10).decode(), "expected"),
        (lambda pk: encode_ciphertext(pk, 0), "out of range"),
        (
            lambda pk: base64.b64encode(b"\xff" * ((pk.nsquare.bit_length() + 7) // 8)).decode(),
            "out of range",
        ),
        (lambda pk: encode_ciphertext(pk, pk.n), "not invertible"),
    ],
)
def test_malformed_ciphertexts_are_named(system_keys, make, message):
    pk, _, _ = system_keys
    with pytest.raises(CiphertextError, match=message):
        decode_ciphertext(pk, make(pk), field="heart_rate")


def test_reading_ciphertexts_are_exactly_the_readings_encrypted_fields() -> None:
    """The one list the device page, the bench and the tests share must follow the model."""
    plain_fields = {"reading_id", "key_id", "taken_at"}
    assert set(ReadingIn.model_fields) - plain_fields == set(READING_CIPHERTEXTS)
    assert len(READING_CIPHERTEXTS) == len(set(READING_CIPHERTEXTS))
