"""Refresh (``read``) reports the world as it is: the Mailu install over real SSH, the mail networking against the
Hostwinds simulator. The providers run in-process, as the engine's dynamic provider host would run them."""

from __future__ import annotations

from typing import Any

import pytest

from components.hostwinds_instance import InstanceProvider
from components.hostwinds_network import _MailNetworkingProvider
from components.mailu_install import MailuInstallProvider, diff_inputs
from mailu.config import MailuConfig
from mailu.secrets import SecretRefs, StaticSecrets
from sandbox.hostwinds_sim.server import SimulatorServer
from tests.fixtures.hostwinds import HW_API_KEY
from tests.fixtures.mailu import KeyPair, make_ed25519, register_loader_secrets
from toolkit.ssh import HostKeyError, SshExecutor

ENV_FILE = "/mailu/mailu.env"


def _mailu_props(vps: Any, secrets: StaticSecrets, tenant_key: KeyPair) -> dict[str, Any]:
    refs = SecretRefs(admin_ssh_path=f"vps/{vps.address}/admin_ssh", dkim_path="dkim/acme.example/pm20261124",
                      smtp_admin_path="smtp/acme1234corp/admin", mailu_secret_key_path="mailu/acme1234corp/secret_key")
    register_loader_secrets(refs, secrets)
    config = MailuConfig(domain="acme.example", dkim_selector="pm20261124")
    return {
        "host": vps.address, "port": vps.port, "known_hosts": [], "trust_on_first_use": True,
        "tenant_id": "acme1234corp", "tenant_public_keys": [tenant_key.public], "mailu_config": config.as_dict(),
        "config_digest": config.digest(), "secret_refs": refs.as_dict(),
        "secrets_loader": "tests.fixtures.mailu:static_secrets_loader", "health_timeout": 30.0,
    }


def test_mailu_refresh_sees_a_converged_host_then_drift_then_convergence(
    mailu_vps: Any, mailu_secrets: StaticSecrets, mailu_tenant_key: KeyPair,
    mailu_executor_for: Any,
) -> None:
    props = _mailu_props(mailu_vps, mailu_secrets, mailu_tenant_key)
    provider = MailuInstallProvider()
    created = provider.create(props)
    assert created.id is not None
    outs = created.outs or {}
    assert outs["host_keys"] and outs["installed_digest"] == outs["files_digest"]

    converged = provider.read(created.id, outs)
    assert converged.id == created.id and converged.outs is not None
    assert converged.outs["files_digest"] == outs["files_digest"]  # the live digest has the installer's formula
    assert diff_inputs(converged.outs, props).changes is False

    host: SshExecutor = mailu_executor_for(mailu_vps)
    host.run(["chmod", "644", ENV_FILE])  # beside the engine: the secret env file made world-readable
    drifted = provider.read(created.id, converged.outs)
    assert drifted.outs is not None and drifted.outs["files_digest"] != outs["files_digest"]
    assert drifted.outs["installed_digest"] == outs["files_digest"]
    assert drifted.inputs is not None and drifted.inputs["config_digest"] == props["config_digest"]
    decision = diff_inputs(drifted.outs, props)
    assert decision.changes is True and decision.replaces == []

    updated = provider.update(created.id, drifted.outs, props).outs or {}
    stat = host.file_stats([ENV_FILE])[ENV_FILE]
    assert stat is not None and stat.mode == 0o600
    again = provider.read(created.id, updated)
    assert again.outs is not None and diff_inputs(again.outs, props).changes is False


def test_mailu_refresh_refuses_another_host_key(
    mailu_vps: Any, mailu_secrets: StaticSecrets, mailu_tenant_key: KeyPair,
) -> None:
    props = _mailu_props(mailu_vps, mailu_secrets, mailu_tenant_key)
    provider = MailuInstallProvider()
    created = provider.create(props)
    outs = created.outs or {}
    name, _kind, _key = outs["host_keys"][0].split(" ", 2)
    stranger = make_ed25519().public.split()[1]
    with pytest.raises(HostKeyError, match="differs from the pinned one"):
        provider.read(str(created.id), {**outs, "host_keys": [f"{name} ssh-ed25519 {stranger}"]})


def test_mail_networking_refresh_reads_the_firewall_profile(
    hw_sim: SimulatorServer, hw_label: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOSTWINDS_API_KEY", HW_API_KEY)
    tuning = {"api_url": hw_sim.url, "poll_interval": 0.02, "poll_timeout": 10, "retry_base_delay": 0.001}
    instances = InstanceProvider()
    vps = instances.create({"label": hw_label, "location_id": "1", "plan_id": "small", "image": "ubuntu-22.04",
                            "ssh_key_names": [], **tuning})
    vps_outs = vps.outs or {}
    props = {"serviceid": vps.id, "ip": vps_outs["main_ip"], "rdns": "mail.acme.example",
             "firewall_profile": "mail", "api_url": hw_sim.url}
    provider = _MailNetworkingProvider()
    created = provider.create(props)
    assert created.id is not None
    outs = created.outs or {}

    same = provider.read(created.id, outs)
    assert same.outs is not None and same.outs["firewall_profile"] == "mail"
    assert provider.diff(created.id, same.outs, props).changes is False

    assert hw_sim.model.instances[int(str(vps.id))].firewall == "7b4d8e61 mail"  # the portal's "<id> <name>"
    hw_sim.model.instances[int(str(vps.id))].firewall = "5c0ffee1 open"  # changed in the Hostwinds panel
    changed = provider.read(created.id, outs)
    assert changed.inputs is not None and changed.inputs["firewall_profile"] == "open"
    assert changed.outs is not None and provider.diff(created.id, changed.outs, props).changes is True

    instances.delete(str(vps.id), {**vps_outs, **tuning})
    assert provider.read(created.id, outs).id is None
