"""The Kubernetes manifests in deploy/k8s: valid against the Kubernetes schemas
(kubernetes-validate, strict: unknown fields are errors), every container ready on
``/readyz``, every Service selecting pods that exist, every setting a real one, and every
mounted or referenced secret key present in the example Secrets."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from server_a.core.config import Settings as ASettings
from server_b.core.config import Settings as BSettings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "k8s"
VERSION = kubernetes_validate.latest_version()


def _documents() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def _deployments() -> list[dict[str, Any]]:
    return [d for d in _documents() if d["kind"] == "Deployment"]


def _env_names(settings: type[ASettings] | type[BSettings]) -> set[str]:
    """Every environment variable the server's settings read."""
    prefix = settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in settings.model_fields.items():
        names.add(f"{prefix}{name}".upper())
        alias = field.validation_alias
        for choice in getattr(alias, "choices", []):
            if isinstance(choice, str):
                names.add(choice.upper())
    return names


def test_every_manifest_is_valid_for_kubernetes() -> None:
    docs = _documents()
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "Secret", "NetworkPolicy"}
    for doc in docs:
        kubernetes_validate.validate(doc, VERSION, strict=True)


def test_the_validator_refuses_a_misspelt_field() -> None:
    """The check above can fail: a typo in a probe is caught."""
    broken = copy.deepcopy(_deployments()[0])
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["httpGett"] = container["readinessProbe"].pop("httpGet")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container["env"]}


def test_every_container_is_ready_on_readyz_and_every_service_finds_pods() -> None:
    """A's pods on /readyz; B's, which answer only A's client certificate, on their port."""
    labels = [d["spec"]["template"]["metadata"]["labels"] for d in _deployments()]
    for deployment in _deployments():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            probe = container["readinessProbe"]
            if _env(container).get("HRMON_B_TLS") == "1":
                assert probe["tcpSocket"]["port"] == container["ports"][0]["name"]
            else:
                assert probe["httpGet"]["path"] == "/readyz"
    for service in (d for d in _documents() if d["kind"] == "Service"):
        selector = service["spec"]["selector"].items()
        assert any(selector <= pod.items() for pod in labels), service["metadata"]["name"]


def test_every_setting_is_read_by_its_server_and_every_secret_key_exists() -> None:
    known = {"server_a": _env_names(ASettings) | {"PGPASSFILE"}, "server_b": _env_names(BSettings)}
    secrets = {d["metadata"]["name"]: set(d["stringData"]) for d in _documents()
               if d["kind"] == "Secret"}  # fmt: skip
    for deployment in _deployments():
        pod = deployment["spec"]["template"]["spec"]
        server = "server_" + pod["containers"][0]["command"][2]  # hrmon server a|b ...
        mounted = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        for container in pod["containers"]:
            for env in container["env"]:
                assert env["name"] in known[server], (deployment["metadata"]["name"], env["name"])
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]]
                value = env.get("value", "")
                if value.startswith("/run/secrets/hrmon/"):
                    key = value.rsplit("/", 1)[1]
                    assert any(key in secrets[name] for name in mounted), (env["name"], key)
    # B's Secret holds no piece of A's key, and A's none of B's
    assert "share_a" not in secrets["hrmon-b"] and "share_b" not in secrets["hrmon-a"]


def test_a_and_b_speak_mutual_tls_with_their_own_keys_only() -> None:
    from service_common.tls import B_NAMES

    containers = {
        d["metadata"]["name"]: c
        for d in _deployments()
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert _env(containers["server-b"])["HRMON_B_TLS"] == "1"
    for name in ("server-a", "server-a-worker"):
        env = _env(containers[name])
        assert env["HRMON_A_TLS"] == "1"
        url = env["HRMON_A_SERVER_B_URL"]
        assert url.startswith("https://") and url.split("//")[1].split(":")[0] in B_NAMES
    secrets = {d["metadata"]["name"]: set(d["stringData"]) for d in _documents()
               if d["kind"] == "Secret"}  # fmt: skip
    assert {"tls_ca", "tls_a_cert", "tls_a_key"} <= secrets["hrmon-a"]
    assert {"tls_ca", "tls_b_cert", "tls_b_key"} <= secrets["hrmon-b"]
    assert "tls_b_key" not in secrets["hrmon-a"] and "tls_a_key" not in secrets["hrmon-b"]
