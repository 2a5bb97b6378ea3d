"""``MailTenant``: everything one tenant needs, as one Pulumi component.

Order (dependencies, not code order, drive the engine):
  SSH keys (admin + tenant), SMTP admin credential, Mailu secret key and DKIM key -> straight into Vault
  -> the admin public key registered with Hostwinds -> the VPS created with it
  -> PTR + mail firewall profile -> Mailu installed over SSH with secrets read from Vault at run time
  -> DNS records (A, MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, autoconfig, SRV) -> verification.

Day-2 state (key generations, SSH grace windows, DKIM selectors in service, retired and burned, the VPS generation
of a migration, the DMARC stage in force, an SMTP emergency reset's incident) comes from the tenant's intent record
(``fleet.intent``): the program is a pure function of the stack config and that intent, so ``pulumi up`` alone
reproduces what rotation, revocation and migration asked for.

Outputs hold public facts only: ids, addresses, fingerprints, Vault paths and versions; never a secret.
"""

from __future__ import annotations

import pulumi

from components.dkim_rotation import DkimKeyState, retired_dkim_records
from components.dns_records import MailDnsRecords
from components.hostwinds_instance import Instance
from components.hostwinds_network import MailNetworking, SshKey
from components.intent_record import IntentRecord
from components.mail_data_copy import MailDataCopy
from components.mailu_install import MailuInstall, MailuInstallArgs
from components.mailu_secret_key import MailuSecretKey
from components.root_access import RootAccess
from components.vault_keys import DkimKey, SmtpCredential, SshKeyPair
from components.verification import MailVerification
from fleet.intent import TenantIntent, apply
from fleet.verify import dns_settings, domain_inputs
from mailu.config import MailuConfig
from toolkit.tenant_config import TenantConfig
from vault.keys import DkimState
from vault.smtp import rotation_trigger as smtp_rotation_trigger

COMPONENT_TYPE = "pm:mail:Tenant"
SECRETS_LOADER = "vault.mailu_secrets:load"


class MailTenant(pulumi.ComponentResource):
    def __init__(self, name: str, stack_config: TenantConfig, intent: TenantIntent,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        config = apply(stack_config, intent)
        child = pulumi.ResourceOptions(parent=self)
        tenant, purge = config.tenant_id, config.purge_secrets_on_destroy
        algorithm = "ed25519" if config.ssh_key_type == "ed25519" else "rsa"

        IntentRecord(f"{name}-intent", tenant_id=tenant, purge=purge, opts=child)
        admin_key = SshKeyPair(f"{name}-admin-ssh", tenant_id=tenant, kind="admin_ssh", algorithm=algorithm,
                               rotation_days=intent.admin_ssh.rotation_days, rotation_trigger=intent.admin_ssh.trigger,
                               purge=purge, opts=child)
        tenant_key = SshKeyPair(f"{name}-tenant-ssh", tenant_id=tenant, kind="tenant_ssh", algorithm=algorithm,
                                rotation_days=intent.tenant_ssh.rotation_days,
                                rotation_trigger=intent.tenant_ssh.trigger, revoked=intent.tenant_ssh.revoked,
                                purge=purge, opts=child)
        smtp = SmtpCredential(f"{name}-smtp-admin", tenant_id=tenant, domain=config.domain,
                              webmail_url=f"https://{config.mail_host}/webmail",
                              rotation_trigger=smtp_trigger(intent), purge=purge, opts=child)
        secret_key = MailuSecretKey(f"{name}-mailu-secret-key", tenant_id=tenant,
                                    rotation_trigger=generation_trigger(intent.secret_key_generation),
                                    purge=purge, opts=child)
        selector = intent.dkim.selector
        dkim = DkimKey(f"{name}-dkim-{selector}", domain=config.domain, selector=selector, nonce=intent.dkim.nonce,
                       purge=purge, opts=child)
        for entry in intent.dkim.retired:  # kept (not deleted, not purged) while its record stays published
            DkimKey(f"{name}-dkim-{entry.selector}", domain=config.domain, selector=entry.selector, purge=purge,
                    opts=child)

        hw = config.hostwinds
        key_name = f"pm-{tenant}-admin"
        registered = SshKey(f"{name}-hostwinds-admin-key", name=key_name, public_key=admin_key.public_key,
                            api_url=hw.api_url, opts=child)
        vps = Instance(
            f"{name}-vps", label=config.vps_label, location_id=config.location, plan_id=config.plan_id,
            image=config.image, ssh_key_names=[key_name], api_url=hw.api_url,
            poll_interval=hw.poll_interval, poll_timeout=hw.poll_timeout, generation=hw.vps_generation,
            wipe_on_delete=True, wipe_key_path=admin_key.path,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[registered]),
        )
        network = MailNetworking(f"{name}-network", serviceid=vps.serviceid, ip=vps.main_ip, rdns=config.mail_host,
                                 firewall_profile=hw.firewall_profile, api_url=hw.api_url, opts=child)
        grace_admin = [g.public_key for g in intent.admin_ssh.grace]
        root_access = RootAccess(
            f"{name}-root-access", host=vps.main_ip, admin_path=admin_key.path, admin_version=admin_key.version,
            authorized=admin_key.public_key.apply(lambda key: [key, *grace_admin]),
            connect_versions=list(intent.admin_ssh.connect_versions), opts=child,
        )

        records = MailDnsRecords(
            f"{name}-dns", inputs=domain_inputs(config, mail_ip=""), mail_ip=vps.main_ip,
            dkim_public_key=dkim.public_key, provider=config.dns.provider, settings=dns_settings(config),
            opts=child,
        )
        retired = retired_dkim_records(name, records, domain_inputs(config, mail_ip=""), intent.dkim.retired,
                                       provider=config.dns.provider, settings=dns_settings(config))
        dkim_txt = [r for key, r in records.records.items() if key.startswith(f"{selector}._domainkey.")]

        refs = pulumi.Output.all(admin_key.path, admin_key.version, dkim.path, dkim.version, smtp.path,
                                 smtp.version, secret_key.path, secret_key.version).apply(
            lambda v: {"admin_ssh_path": v[0], "admin_ssh_version": v[1], "dkim_path": v[2], "dkim_version": v[3],
                       "smtp_admin_path": v[4], "smtp_admin_version": v[5], "mailu_secret_key_path": v[6],
                       "mailu_secret_key_version": v[7]})
        grace_tenant = [g.public_key for g in intent.tenant_ssh.grace]
        tenant_keys = (pulumi.Output.from_input(grace_tenant) if intent.tenant_ssh.revoked
                       else tenant_key.public_key.apply(lambda key: [key, *grace_tenant]))
        # The new selector's TXT record is published before Mailu signs with it.
        mailu = MailuInstall(f"{name}-mailu", MailuInstallArgs(
            host=vps.main_ip, tenant_id=tenant, mailu_config=MailuConfig.from_tenant_config(config),
            secret_refs=refs, secrets_loader=SECRETS_LOADER, trust_on_first_use=True,
            tenant_public_keys=tenant_keys,
        ), opts=pulumi.ResourceOptions(parent=self, depends_on=[network, root_access, *dkim_txt]))

        copy = None
        if config.migration is not None:  # only while `dr.migrate` moves a trusted host (failure/upgrade)
            copy = MailDataCopy(f"{name}-mail-copy", source_host=config.migration.copy_from, dest_host=vps.main_ip,
                                admin_key_path=admin_key.path,
                                opts=pulumi.ResourceOptions(parent=self, depends_on=[mailu]))
        verification = MailVerification(
            f"{name}-verify", tenant_config=verification_config(config), mail_ip=vps.main_ip,
            serviceid=vps.serviceid,
            dkim_version=dkim.version, records=sorted(records.records),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*records.records.values(), *retired, network,
                                                                 mailu]),
        )
        after_verification = pulumi.ResourceOptions(parent=self, depends_on=[verification])
        DkimKeyState(f"{name}-dkim-state-{selector}", domain=config.domain, selector=selector,
                     state=DkimState.ACTIVE, opts=after_verification)
        for entry in intent.dkim.retired:
            DkimKeyState(f"{name}-dkim-state-{entry.selector}", domain=config.domain, selector=entry.selector,
                         state=DkimState.RETIRED, opts=after_verification)
        for burned in intent.dkim.burned:
            DkimKeyState(f"{name}-dkim-state-{burned}", domain=config.domain, selector=burned,
                         state=DkimState.COMPROMISED, opts=child)

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
            "dkim_retired": [entry.selector for entry in intent.dkim.retired],
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


def generation_trigger(generation: int) -> str:
    """``rotation_trigger`` of a secret at ``generation``: empty at 1 (the value before intent existed)."""
    return "" if generation == 1 else f"generation-{generation}"


def smtp_trigger(intent: TenantIntent) -> str:
    """The SMTP credential's trigger: its generation, and the incident id while an emergency reset made it (the
    provider then writes a 48-byte password and marks the replaced version compromised: ``vault.smtp``)."""
    emergency = intent.smtp_emergency
    incident = emergency.incident_id if emergency and emergency.generation == intent.smtp_generation else None
    return smtp_rotation_trigger(intent.smtp_generation, incident)


def verification_config(config: TenantConfig) -> str:
    """The config the verification re-checks against, without the transient ``migration`` block (its removal must
    not re-run verification) and the DMARC hold (a scheduling setting: nothing published depends on it)."""
    return config.model_dump_json(exclude={"migration", "dmarc_hold"})
