"""``hrmon setup``: the files of docs/api.md, secrets 0600, refusing small keys and overwrites."""

from __future__ import annotations

import json
import stat

import pytest

from client.errors import ConfigError, InputError
from client.system_key import SystemPublicKey
from ops import setup as setup_keys
from protocol.keys import KeyShare, combine_partial_decryptions
from protocol.paillier import encrypt
from service_common import key_dir

SECRETS = ("share_a.json", "share_b.json", "ab_secret", "jwt_secret", "enrolment_token")


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_setup_writes_every_file_with_secrets_0600(tmp_path):
    result = setup_keys.run_setup(tmp_path / "keys", 1024, insecure=True)
    keys = tmp_path / "keys"
    assert sorted(p.name for p in keys.iterdir()) == sorted(key_dir.SYSTEM_FILES)
    for name in SECRETS:
        assert _mode(keys / name) == 0o600, name
    public = json.loads((keys / "system_public.json").read_text())
    assert set(public) == {"key_id", "n", "bits"}
    assert SystemPublicKey.from_json(public) == result.system_key
    assert public["bits"] == 1024
    for name in ("ab_secret", "jwt_secret", "enrolment_token"):
        assert len(bytes.fromhex((keys / name).read_text().strip())) == 32
    assert (
        len({(keys / n).read_text() for n in ("ab_secret", "jwt_secret", "enrolment_token")}) == 3
    )


def test_the_two_shares_decrypt_jointly_and_belong_to_the_public_key(tmp_path):
    result = setup_keys.run_setup(tmp_path, 1024, insecure=True)
    a = KeyShare.from_json(json.loads((tmp_path / "share_a.json").read_text()))
    b = KeyShare.from_json(json.loads((tmp_path / "share_b.json").read_text()))
    assert (a.index, b.index) == (1, 2)
    pk = result.system_key.public_key
    c = encrypt(pk, 724)
    assert combine_partial_decryptions(pk, a.partial_decrypt(c), b.partial_decrypt(c)) == 724


def test_no_file_holds_the_unsplit_secret(tmp_path):
    setup_keys.run_setup(tmp_path, 1024, insecure=True)
    text = " ".join(p.read_text() for p in tmp_path.iterdir())
    assert '"p"' not in text and '"q"' not in text and "lambda" not in text


def test_keys_under_2048_bits_are_refused_without_the_test_flag(tmp_path):
    with pytest.raises(InputError, match="2048"):
        setup_keys.run_setup(tmp_path, 1024)
    assert list(tmp_path.iterdir()) == []
    assert setup_keys.main(["--dir", str(tmp_path), "--bits", "1024"]) == InputError.exit_code


def test_existing_keys_are_not_overwritten_without_force(tmp_path):
    first = setup_keys.run_setup(tmp_path, 1024, insecure=True)
    before = {p.name: p.read_text() for p in tmp_path.iterdir()}
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        setup_keys.run_setup(tmp_path, 1024, insecure=True)
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == before
    second = setup_keys.run_setup(tmp_path, 1024, insecure=True, force=True)
    assert second.system_key.key_id != first.system_key.key_id
    assert _mode(tmp_path / "share_a.json") == 0o600


def test_default_is_a_2048_bit_key(tmp_path, capsys):
    assert setup_keys.main(["--dir", str(tmp_path)]) == 0
    public = json.loads((tmp_path / "system_public.json").read_text())
    assert public["bits"] == 2048 and int(public["n"], 16).bit_length() == 2048
    out = capsys.readouterr().out
    assert public["key_id"] in out
    assert json.loads((tmp_path / "share_a.json").read_text())["value"][2:] not in out


def test_zero_leakage_setup_writes_the_dgk_pair_secret_for_b_only(tmp_path):
    from protocol.dgk import DgkPublicKey, DgkSecretKey

    setup_keys.run_setup(tmp_path, 1024, insecure=True, zero_leakage=True)
    secret_file, public_file = tmp_path / "dgk_b.json", tmp_path / "dgk_public.json"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = DgkSecretKey.from_json(json.loads(secret_file.read_text()))
    public = DgkPublicKey.from_json(json.loads(public_file.read_text()))
    assert secret.public == public
    assert "p" not in json.loads(public_file.read_text())
