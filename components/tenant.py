"""``MailTenant``: everything one tenant needs, as one Pulumi component.

Order (dependencies, not code order, drive the engine):
  SSH keys (admin + tenant), SMTP admin credential, Mailu secret key and DKIM key -> straight into Vault
  -> the admin public key registered with Hostwinds -> the VPS created with it
  -> PTR + mail firewall profile -> Mailu installed over SSH with secrets read from Vault at run time
  -> DNS records (A, MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, autoconfig, SRV) -> verification.

Outputs hold public facts only: ids, addresses, fingerprints, Vault paths and versions; never a secret.
"""

from __future__ import annotations

import pulumi

from components.dkim_rotation import RotatableDkimKey, retired_dkim_records
from components.dns_records import MailDnsRecords
from components.hostwinds_instance import Instance
from components.hostwinds_network import MailNetworking, SshKey
from components.mail_data_copy import MailDataCopy
from components.mailu_install import MailuInstall, MailuInstallArgs
from components.mailu_secret_key import MailuSecretKey
from components.vault_keys import SmtpCredential, SshKeyPair
from components.verification import MailVerification
from fleet.verify import dns_settings, domain_inputs
from mailu.config import MailuConfig
from toolkit.tenant_config import TenantConfig

COMPONENT_TYPE = "pm:mail:Tenant"
SECRETS_LOADER = "vault.mailu_secrets:load"


class MailTenant(pulumi.ComponentResource):
    def __init__(self, name: str, config: TenantConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tenant, purge = config.tenant_id, config.purge_secrets_on_destroy
        algorithm = "ed25519" if config.ssh_key_type == "ed25519" else "rsa"

        admin_key = SshKeyPair(f"{name}-admin-ssh", tenant_id=tenant, kind="admin_ssh", algorithm=algorithm,
                               purge=purge, opts=child)
        tenant_key = SshKeyPair(f"{name}-tenant-ssh", tenant_id=tenant, kind="tenant_ssh", algorithm=algorithm,
                                purge=purge, opts=child)
        rotation = secrets_rotation_trigger(config)
        smtp = SmtpCredential(f"{name}-smtp-admin", tenant_id=tenant, domain=config.domain,
                              webmail_url=f"https://{config.mail_host}/webmail", rotation_trigger=rotation,
                              purge=purge, opts=child)
        secret_key = MailuSecretKey(f"{name}-mailu-secret-key", tenant_id=tenant, rotation_trigger=rotation,
                                    purge=purge, opts=child)
        # Adopts a key `rotate.dkim` already put in service at this selector instead of generating another.
        dkim = RotatableDkimKey(f"{name}-dkim", domain=config.domain, selector=config.dkim_selector, purge=purge,
                                opts=child)

        hw = config.hostwinds
        registered = SshKey(f"{name}-hostwinds-admin-key", name=f"pm-{tenant}-admin",
                            public_key=admin_key.public_key, api_url=hw.api_url, opts=child)
        vps = Instance(
            f"{name}-vps", label=config.vps_label, location_id=config.location, plan_id=config.plan_id,
            image=config.image, ssh_key_names=registered.id.apply(lambda key: [key]), api_url=hw.api_url,
            poll_interval=hw.poll_interval, poll_timeout=hw.poll_timeout, generation=hw.vps_generation,
            wipe_on_delete=True, wipe_key_path=admin_key.path, opts=child,
        )
        network = MailNetworking(f"{name}-network", serviceid=vps.serviceid, ip=vps.main_ip, rdns=config.mail_host,
                                 firewall_profile=hw.firewall_profile, api_url=hw.api_url, opts=child)

        refs = pulumi.Output.all(admin_key.path, admin_key.version, dkim.path, dkim.version, smtp.path,
                                 smtp.version, secret_key.path, secret_key.version).apply(
            lambda v: {"admin_ssh_path": v[0], "admin_ssh_version": v[1], "dkim_path": v[2], "dkim_version": v[3],
                       "smtp_admin_path": v[4], "smtp_admin_version": v[5], "mailu_secret_key_path": v[6],
                       "mailu_secret_key_version": v[7]})
        mailu = MailuInstall(f"{name}-mailu", MailuInstallArgs(
            host=vps.main_ip, tenant_id=tenant, mailu_config=MailuConfig.from_tenant_config(config),
            secret_refs=refs, secrets_loader=SECRETS_LOADER, trust_on_first_use=True,
            tenant_public_keys=tenant_key.public_key.apply(lambda key: [key]),
        ), opts=pulumi.ResourceOptions(parent=self, depends_on=[network]))

        records = MailDnsRecords(
            f"{name}-dns", inputs=domain_inputs(config, mail_ip=""), mail_ip=vps.main_ip,
            dkim_public_key=dkim.public_key, provider=config.dns.provider, settings=dns_settings(config),
            opts=child,
        )
        # Selectors retired by `rotate.dkim` keep their TXT record until the stack's `dkim_retired` entry is dropped.
        retired_dkim_records(name, records, domain_inputs(config, mail_ip=""),
                             [entry.selector for entry in config.dkim_retired or ()],
                             provider=config.dns.provider, settings=dns_settings(config))
        copy = None
        if config.migration is not None:  # only while `dr.migrate` moves a trusted host (failure/upgrade)
            copy = MailDataCopy(f"{name}-mail-copy", source_host=config.migration.copy_from, dest_host=vps.main_ip,
                                admin_key_path=admin_key.path,
                                opts=pulumi.ResourceOptions(parent=self, depends_on=[mailu]))
        verification = MailVerification(
            f"{name}-verify", tenant_config=verification_config(config), mail_ip=vps.main_ip,
            serviceid=vps.serviceid,
            dkim_version=dkim.version, records=sorted(records.records),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*records.records.values(), network, mailu]),
        )

        self.serviceid = vps.serviceid
        self.main_ip = vps.main_ip
        outputs = {
            "tenant_id": tenant,
            "serviceid": vps.serviceid,
            "main_ip": vps.main_ip,
            "vps_hostname": vps.hostname,
            "mail_host": config.mail_host,
            "vps_label": config.vps_label,
            "admin_ssh_fingerprint": admin_key.fingerprint,
            "tenant_ssh_fingerprint": tenant_key.fingerprint,
            "tenant_user": config.tenant_user,
            "dkim_selector": dkim.selector,
            "dns_records": sorted(records.records),
            "vault": {
                "admin_ssh": {"path": admin_key.path, "version": admin_key.version},
                "tenant_ssh": {"path": tenant_key.path, "version": tenant_key.version},
                "smtp_admin": {"path": smtp.path, "version": smtp.version},
                "mailu_secret_key": {"path": secret_key.path, "version": secret_key.version},
                "dkim": {"path": dkim.path, "version": dkim.version},
            },
            "mailu_files_digest": mailu.files_digest,
            "verification_checks": verification.checks,
        }
        if copy is not None:
            outputs["mail_data_copy"] = {"copied": copy.copied, "bytes": copy.bytes_copied, "warning": copy.warning}
        self.outputs = outputs
        self.register_outputs(outputs)


def secrets_rotation_trigger(config: TenantConfig) -> str:
    """``rotation_trigger`` of the Mailu admin password and SECRET_KEY: empty at generation 1 (the value stacks
    had before the setting existed, so they do not rotate), else a new value per generation."""
    generation = config.secrets_generation
    return "" if generation == 1 else f"secrets-generation-{generation}"


def verification_config(config: TenantConfig) -> str:
    """The config the verification re-checks against: without the transient ``migration`` block (its removal
    must not re-run verification) and without settings at their pre-existing defaults (no diff for old stacks)."""
    exclude: set[str] = {"migration", "dkim_retired"}  # dkim_retired: records kept by rotate.dkim
    if config.secrets_generation == 1:
        exclude.add("secrets_generation")
    return config.model_dump_json(exclude=exclude)
