"""The physician's key pair: saved 0600, reloaded intact, decrypts bits and tallies only."""

from __future__ import annotations

import json
import secrets
import stat

import pytest

from client.errors import ConfigError
from physician import keys as physician_keys
from physician.keys import PhysicianKeyPair, ResultDecodeError
from protocol.ciphertext import encode_ciphertext
from protocol.paillier import add, decrypt, decrypt_small, encrypt
from tests.conftest import physician_key


@pytest.fixture(scope="module")
def pair() -> PhysicianKeyPair:
    return PhysicianKeyPair(*physician_key())


def test_save_and_load_round_trip_with_private_file_0600(tmp_path, pair):
    physician_keys.save(pair, tmp_path)
    assert stat.S_IMODE((tmp_path / "physician_key.json").stat().st_mode) == 0o600
    public = json.loads((tmp_path / "physician_public.json").read_text())
    assert public == {"key_id": pair.key_id, "n": hex(pair.public_key.n)}
    loaded = physician_keys.load(tmp_path)
    c = encode_ciphertext(pair.public_key, encrypt(pair.public_key, 1))
    assert loaded.decrypt_bit(c) is True
    assert "p" not in repr(loaded).replace("PhysicianKeyPair", "").replace("private", "")


def test_save_refuses_to_overwrite(tmp_path, pair):
    physician_keys.save(pair, tmp_path)
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        physician_keys.save(pair, tmp_path)


def test_a_corrupted_key_file_is_refused(tmp_path, pair):
    physician_keys.save(pair, tmp_path)
    path = tmp_path / "physician_key.json"
    data = json.loads(path.read_text())
    data["p"] = hex(int(data["p"], 16) + 2)
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="corrupted"):
        physician_keys.load(tmp_path)


def test_missing_key_tells_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError, match="keygen"):
        physician_keys.load(tmp_path)


def test_bits_and_tallies_decrypt(pair):
    pk = pair.public_key
    bits = [0, 1, 1, 0, 1]
    cts = [encrypt(pk, b) for b in bits]
    assert [pair.decrypt_bit(encode_ciphertext(pk, c)) for c in cts] == [bool(b) for b in bits]
    tally = encode_ciphertext(pk, add(pk, *cts))
    assert pair.decrypt_count(tally, at_most=len(bits)) == 3
    with pytest.raises(ResultDecodeError):
        pair.decrypt_count(tally, at_most=2)


def test_a_non_bit_result_is_flagged(pair):
    pk = pair.public_key
    with pytest.raises(ResultDecodeError, match="0 or 1"):
        pair.decrypt_bit(encode_ciphertext(pk, encrypt(pk, 5)))


def test_a_result_under_another_key_is_refused(pair):
    other = physician_keys.generate(1024)
    c = encode_ciphertext(other.public_key, encrypt(other.public_key, 1))
    with pytest.raises(ResultDecodeError):
        pair.decrypt_bit(c)


def test_decryption_mod_p_equals_the_full_one_below_p(pair):
    """Bits and tallies are decrypted modulo the smaller prime only (half the cost)."""
    pk, sk = pair.public_key, pair.private_key
    p = sk.p
    assert p < sk.q
    for m in (0, 1, 2, 1000, p - 1, secrets.randbelow(p)):
        c = encrypt(pk, m)
        assert decrypt_small(sk, c) == decrypt(sk, c) == m
    # Above p it reduces: only the key's owner can aim a value at 0 or 1 this way,
    # since m = 1 + k p reveals p = gcd(m - 1, N).
    assert decrypt_small(sk, encrypt(pk, p + 1)) == 1


def test_random_plaintexts_are_not_taken_for_bits_or_counts(pair):
    """A tampered ciphertext (a value nobody chose) fails the bit and count checks."""
    pk = pair.public_key
    for _ in range(20):
        c = encode_ciphertext(pk, encrypt(pk, 2 + secrets.randbelow(pk.n - 2)))
        with pytest.raises(ResultDecodeError):
            pair.decrypt_bit(c)
        with pytest.raises(ResultDecodeError):
            pair.decrypt_count(c, at_most=10_000)
