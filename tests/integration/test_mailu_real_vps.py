"""Issue 13 on a sandbox VPS over real SSH: the install's probes talk to real listeners (the stand-in for
`docker compose up` starts them: aiosmtpd with STARTTLS/AUTH, IMAPS, HTTPS serving front's overrides), the
open-relay guard is verified on the host, 587 answers only because PORTS lists it, an IDN domain's DKIM file and
the postmaster alias."""

from __future__ import annotations

import dataclasses
import ssl
from typing import Any

import pytest

from mailu.errors import MailuInstallError
from mailu.installer import MailuInstaller
from mailu.probe import probe_mailu
from mailu.secrets import StaticSecrets
from tests.fixtures.mailu import KeyPair, make_request
from toolkit.ssh import SshExecutor

CERT = "/mailu/certs/standin-selfsigned/cert.pem"


def _trust(host: Any) -> ssl.SSLContext:
    """Trust the certificate the stand-in generated at install (as a real operator trusts Let's Encrypt)."""
    return ssl.create_default_context(cadata=host.read_text(CERT))


def _listener_pid(host: Any) -> int:
    return int(host.read_text("/var/lib/pm-standins/listeners/mailu.pid"))


def test_probes_talk_to_real_listeners_and_the_certificate_covers_the_mta_sts_host(
    mailu_vps: Any, mailu_executor_for: Any, mailu_secrets: StaticSecrets, mailu_tenant_key: KeyPair,
) -> None:
    executor: SshExecutor = mailu_executor_for(mailu_vps)
    report = MailuInstaller(executor, health_interval=0.05).install(make_request(mailu_secrets, mailu_tenant_key))
    assert report.probes is not None and report.probes.ok()  # system trust: answered, certificate untrusted
    assert {r.trusted for r in report.probes.results} == {False}

    probes = probe_mailu(mailu_vps.address, mail_host="mail.acme.example", mta_sts_host="mta-sts.acme.example",
                         tls=_trust(mailu_vps))
    assert probes.ok(require_trusted=True), probes.summary()
    assert [r.name for r in probes.results] == ["smtp:25", "submission:587", "submissions:465", "imaps:993",
                                                 "https:443", "admin:443/admin", "mta-sts"]
    details = {r.name: r.detail for r in probes.results}
    assert "STARTTLS, AUTH" in details["submission:587"] and "AUTH" not in details["smtp:25"]
    assert details["https:443"] == "GET /health 204" and details["imaps:993"].startswith("CAPABILITY IMAP4rev1")
    assert probes.policy is not None and (probes.policy.mode, probes.policy.mx) == ("testing", ("mail.acme.example",))
    assert "DNS:mta-sts.acme.example" in executor.run(["openssl", "x509", "-noout", "-ext", "subjectAltName",
                                                       "-in", CERT]).stdout

    # The listeners are processes of the VPS: gone when it stops, back when it starts (restart: always).
    pid = _listener_pid(mailu_vps)
    mailu_vps.stop()
    assert not probe_mailu(mailu_vps.address, mail_host="mail.acme.example", timeout=2.0).results[0].ok
    mailu_vps.start()
    assert _listener_pid(mailu_vps) != pid
    assert probe_mailu(mailu_vps.address, mail_host="mail.acme.example", tls=_trust(mailu_vps)).ok(
        require_trusted=True)


def test_without_ports_submission_is_dead_as_in_mailus_default(
    mailu_vps: Any, mailu_executor_for: Any, mailu_secrets: StaticSecrets, mailu_tenant_key: KeyPair,
) -> None:
    executor: SshExecutor = mailu_executor_for(mailu_vps)
    MailuInstaller(executor, health_interval=0.05, probe=False).install(make_request(mailu_secrets, mailu_tenant_key))
    executor.run("sed -i '/^PORTS=/d' /mailu/mailu.env && "
                 "docker compose --project-name mailu --file /mailu/docker-compose.yml up -d --no-deps front")
    results = {r.name: r for r in probe_mailu(mailu_vps.address, mail_host="mail.acme.example",
                                              tls=_trust(mailu_vps), timeout=2.0).results}
    assert results["smtp:25"].ok and results["imaps:993"].ok
    assert not results["submission:587"].ok and "refused" in results["submission:587"].detail.lower()


def test_a_running_userland_proxy_fails_the_install_naming_it(
    mailu_vps: Any, mailu_executor_for: Any, mailu_secrets: StaticSecrets, mailu_tenant_key: KeyPair,
) -> None:
    executor: SshExecutor = mailu_executor_for(mailu_vps)
    request = make_request(mailu_secrets, mailu_tenant_key)
    first = MailuInstaller(executor, health_interval=0.05, probe=False).install(request)
    assert "userland proxy off, no docker-proxy" in next(s.detail for s in first.steps if s.name == "docker-exposure")
    # A daemon that kept the userland proxy (not restarted, or a --userland-proxy flag in its unit) runs docker-proxy.
    executor.run("cp /bin/sleep /tmp/docker-proxy && (setsid /tmp/docker-proxy 600 </dev/null >/dev/null 2>&1 &)")
    with pytest.raises(MailuInstallError) as info:
        MailuInstaller(executor, health_interval=0.05, probe=False).install(request)
    assert info.value.step == "docker-exposure" and "docker-proxy runs (pid" in str(info.value)
    assert "userland proxy" in str(info.value)


def test_idn_dkim_file_is_written_under_the_unicode_name_and_postmaster_gets_an_alias(
    mailu_vps: Any, mailu_executor_for: Any, mailu_secrets: StaticSecrets, mailu_tenant_key: KeyPair,
) -> None:
    executor: SshExecutor = mailu_executor_for(mailu_vps)
    request = make_request(mailu_secrets, mailu_tenant_key, domain="xn--bcher-kva.example", postmaster="postmaster")
    report = MailuInstaller(executor, health_interval=0.05, probe=False).install(request)
    path = "/mailu/dkim/bücher.example.pm20261124.key"
    assert mailu_vps.read_text(path) == mailu_secrets.dkim_private_key().reveal()
    assert "alias postmaster@xn--bcher-kva.example" in next(s.detail for s in report.steps
                                                            if s.name == "admin-account")
    assert MailuInstaller(executor, health_interval=0.05, probe=False).install(request).change_count == 0
    back = dataclasses.replace(request, config=request.config.replaced(postmaster="admin"))
    assert MailuInstaller(executor, health_interval=0.05, probe=False).install(back).changed_steps == (
        "env-file", "mailu-up", "admin-account")
