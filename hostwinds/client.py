"""Hostwinds Cloud API client: every operation the toolkit needs, with limits, retries and redaction.

Each call goes: circuit breaker -> rate limiter -> form POST -> JSON decode -> error check, retried with
exponential backoff when (and only when) the failure is transient. ``add_instance`` is never re-sent blindly:
a lost reply is resolved by looking the instance up by its unique label first (no double billing).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from hostwinds import firewall, keys
from hostwinds.breaker import CircuitBreaker
from hostwinds.catalog import Catalog
from hostwinds.egress import egress_note
from hostwinds.errors import (
    AuthError,
    CircuitOpenError,
    HostwindsApiError,
    HostwindsError,
    HostwindsTransientError,
    HostwindsValidationError,
    InvalidServiceIdError,
)
from hostwinds.models import GONE_STATUSES as GONE_STATUSES  # re-exported: callers import it from here
from hostwinds.models import (
    FirewallProfile,
    Image,
    Instance,
    InstanceIp,
    Location,
    Plan,
    by_label,
    instance_ips_from_api,
    instances_from_api,
    with_serviceid,
)
from hostwinds.parsing import ResultEntry, decode, mutation_results, raise_for_error, read_payload
from hostwinds.polling import wait_for
from hostwinds.ratelimit import RateLimiter
from hostwinds.settings import ENV_SETTINGS, ClientSettings
from hostwinds.transport import FormValue, RequestsTransport, Transport, encode_form
from toolkit.errors import TransientError, ValidationError
from toolkit.redact import redact_mapping, scrub
from toolkit.validate import domain
from toolkit.wait import WaitTimeout
from toolkit.wait import wait_for as poll_until

log = logging.getLogger("hostwinds")

_ACTION = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
_LABEL = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_SERVICEID = re.compile(r"^[0-9]{1,12}$")
# [guess] how an empty account may answer get_instances with an error instead of an empty list.
EMPTY_ACCOUNT = re.compile(r"\bno (instances?|servers?|services?|vps)\b|\bnothing found\b|\bno results?\b", re.I)
_HOURLY_DISABLED = re.compile(r"hourly products are disabled", re.I)


def _serviceid(value: object) -> str:
    text = str(value) if isinstance(value, int | str) else ""
    if not _SERVICEID.match(text):
        raise ValidationError("serviceid", f"{value!r} must be the numeric Hostwinds service id")
    return text


def _label(value: object, field_name: str = "label") -> str:
    if not isinstance(value, str) or not _LABEL.match(value):
        raise ValidationError(field_name, f"{value!r} must be 1..63 lower-case letters, digits or hyphens "
                                          "(e.g. pm-<tenant>-<generation>)")
    return value


def _nonempty(value: object, field_name: str) -> str:
    if not isinstance(value, str | int) or not str(value).strip():
        raise ValidationError(field_name, "must be a non-empty value")
    return str(value).strip()


@dataclass(frozen=True)
class CreateRequest:
    """What to create. ``label`` must be unique per account: it is how a re-run finds the instance."""

    label: str
    template: str
    plan_id: str
    location_id: str
    ssh_key_names: tuple[str, ...] = ()
    billing_cycle: str | None = None
    """None: the account's setting (``ClientSettings.billing_cycle``, PM_HOSTWINDS_BILLING_CYCLE)."""
    extra: Mapping[str, str] = field(default_factory=dict)

    def form(self) -> dict[str, FormValue]:
        fields: dict[str, FormValue] = {
            "template": _nonempty(self.template, "template"),
            "rid": _nonempty(self.plan_id, "plan_id"),
            "location_id": _nonempty(self.location_id, "location_id"),
            "srvrname": _label(self.label),
            "billingcycle": _nonempty(self.billing_cycle or "hourly", "billing_cycle"),
            "qty": "1",
        }
        if self.ssh_key_names:
            fields["keys"] = [keys.key_name(name) for name in self.ssh_key_names]
        fields.update(self.extra)
        return fields


class HostwindsClient:
    def __init__(
        self,
        settings: ClientSettings,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._transport = transport or RequestsTransport(settings.url, settings.http_timeout)
        self._clock = clock
        self._sleep = sleep
        self._limiter = RateLimiter(settings.rate_per_second, clock=clock, sleep=sleep)
        self.breaker = CircuitBreaker(settings.breaker_threshold, settings.breaker_reset_after, clock=clock)

    def __repr__(self) -> str:
        return f"HostwindsClient(url={self.settings.url!r}, rate_per_second={self.settings.rate_per_second})"

    def clock(self) -> float:
        return self._clock()

    def pause(self, seconds: float) -> None:
        self._sleep(seconds)

    # --- the one way out -------------------------------------------------------------------------

    def call(self, action: str, params: Mapping[str, FormValue] | None = None, *, retry: bool = True) -> Any:
        """POST one action and return the decoded reply; raises a typed error if it says ``error``."""
        if not _ACTION.match(action):
            raise ValidationError("action", f"{action!r} is not a snake_case API action name")
        if not retry:
            return self._send(action, params or {})
        policy = self.settings.retry
        retrying = Retrying(
            stop=stop_after_attempt(policy.attempts),
            wait=wait_exponential(multiplier=policy.base_delay, max=policy.max_delay),
            retry=retry_if_exception(_retryable),
            sleep=self._sleep,
            before_sleep=_log_retry,
            reraise=True,
        )
        return retrying(self._send, action, params or {})

    def _send(self, action: str, params: Mapping[str, FormValue]) -> Any:
        self.breaker.before_call()
        self._limiter.acquire()
        fields = encode_form({"action": action, "API": self.settings.api_key.reveal(), **params})
        if log.isEnabledFor(logging.DEBUG):
            log.debug("hostwinds -> %s %s", action, scrub(str(redact_mapping(dict(params)))))
        try:
            reply = self._transport.post(fields, action)
            payload = decode(reply.text, action)
            raise_for_error(payload, action)
        except AuthError as exc:
            self.breaker.record_failure()
            log.warning("hostwinds %s failed: %s", action, scrub(str(exc)))
            raise AuthError(exc.request_action, f"{exc.api_message} ({egress_note(self.settings.url)})",
                            exc.api_action, exc.error_code) from None
        except HostwindsTransientError as exc:
            self.breaker.record_failure()
            log.warning("hostwinds %s failed: %s", action, scrub(str(exc)))
            raise
        except HostwindsError as exc:
            # The API answered and refused: the service itself is healthy.
            self.breaker.record_success()
            log.info("hostwinds %s refused: %s", action, scrub(str(exc)))
            raise
        self.breaker.record_success()
        if log.isEnabledFor(logging.DEBUG):
            log.debug("hostwinds <- %s %s", action, scrub(str(_redact_payload(payload)))[:2000])
        return payload

    def read(self, action: str, params: Mapping[str, FormValue] | None = None) -> Any:
        return read_payload(self.call(action, params), action)

    def mutate(self, action: str, params: Mapping[str, FormValue] | None = None, *,
               retry: bool = True) -> list[ResultEntry]:
        return mutation_results(self.call(action, params, retry=retry), action)

    # --- discovery ---------------------------------------------------------------------------------

    def list_instances(self, location_id: str | None = None) -> list[Instance]:
        """Every instance of the account. An empty account may answer an empty list, an empty object, null or
        false, or an error saying there are none [guess: no source shows it]: each is an empty list."""
        params: dict[str, FormValue] = {"location_id": location_id} if location_id else {}
        try:
            payload = self.read("get_instances", params)
        except HostwindsApiError as exc:
            if isinstance(exc, AuthError) or not EMPTY_ACCOUNT.search(exc.api_message):
                raise
            log.info("hostwinds get_instances: %s (read as no instances)", exc.api_message)
            return []
        return instances_from_api(payload)

    def get_instance(self, serviceid: str | int) -> Instance:
        payload = self.read("get_instance", {"serviceid": _serviceid(serviceid)})
        if isinstance(payload, list) and len(payload) == 1:
            payload = payload[0]
        if not isinstance(payload, Mapping):
            raise HostwindsError(f"Hostwinds get_instance: expected an object, got {type(payload).__name__}")
        return Instance.from_api(payload)

    def find_by_label(self, label: str) -> Instance | None:
        """The one live instance whose ``srvrname`` is ``label``; None if there is none."""
        return by_label(self.list_instances(), _label(label))

    def is_live(self, serviceid: str | int) -> bool:
        """Whether the account lists instance ``serviceid`` in a state that is not terminal (absent = gone)."""
        found = with_serviceid(self.list_instances(), _serviceid(serviceid))
        return found is not None and not found.gone

    def instance_ips(self, serviceid: str | int) -> list[InstanceIp]:
        """The addresses of an instance with their reverse DNS names (``get_instance_ips``)."""
        return instance_ips_from_api(self.read("get_instance_ips", {"serviceid": _serviceid(serviceid)}))

    def get_instance_ips(self, serviceid: str | int) -> list[str]:
        return [entry.ip for entry in self.instance_ips(serviceid)]

    def rdns(self, serviceid: str | int, ip: str) -> str | None:
        """The PTR name the API reports for ``ip`` of instance ``serviceid`` (no trailing dot), else None."""
        return next((e.rdns for e in self.instance_ips(serviceid) if e.ip == ip and e.rdns), None)

    def list_locations(self) -> list[Location]:
        payload = self.read("get_locations")
        if isinstance(payload, Mapping):
            return [Location.from_api(v if isinstance(v, Mapping) else {"name": v}, str(k))
                    for k, v in payload.items()]
        return [Location.from_api(item) for item in payload if isinstance(item, Mapping)]

    def list_images(self) -> list[Image]:
        """The public OS images (``get_public_images``): their ids are what ``add_instance`` takes as template."""
        payload = self.read("get_public_images")
        if isinstance(payload, Mapping):
            return [Image.from_api(v if isinstance(v, Mapping) else {"name": v}, str(k)) for k, v in payload.items()]
        return [Image.from_api(item) for item in payload if isinstance(item, Mapping)]

    def list_plans(self, managed: bool = False) -> list[Plan]:
        """The plans of ``get_price_list``: unmanaged ones by default (the API lists managed ones unless told
        ``managed=0`` [doc]; the toolkit manages the host itself)."""
        payload = self.read("get_price_list", {"managed": "1" if managed else "0"})
        if isinstance(payload, Mapping):
            return [Plan.from_api(v, str(k)) for k, v in payload.items() if isinstance(v, Mapping)]
        return [Plan.from_api(item) for item in payload if isinstance(item, Mapping)]

    def catalog(self) -> Catalog:
        """Images, locations and unmanaged plans, for resolving what a stack file names (``hostwinds.catalog``)."""
        return Catalog.fetch(self)

    # --- lifecycle ----------------------------------------------------------------------------------

    def create_instance(self, request: CreateRequest) -> Instance:
        """Create (or adopt) the instance labelled ``request.label`` and wait until it is ready."""
        form = replace(request, billing_cycle=request.billing_cycle or self.settings.billing_cycle).form()
        existing = self.find_by_label(request.label)
        if existing is not None:
            log.info("hostwinds: adopting existing instance %s labelled %s", existing.serviceid, request.label)
            return self.wait_ready(existing.serviceid)
        policy = self.settings.retry
        for attempt in range(1, policy.attempts + 1):
            try:
                self.mutate("add_instance", form, retry=False)
                break
            except HostwindsApiError as exc:
                if _HOURLY_DISABLED.search(exc.api_message):
                    raise HostwindsValidationError(
                        "add_instance", f"{exc.api_message} (billing cycle {form['billingcycle']!r}): this account "
                        f"takes no hourly products; set {ENV_SETTINGS['billing_cycle']}=monthly in the environment "
                        "of `pulumi` (nothing was created)", exc.api_action, exc.error_code, field="billingcycle",
                    ) from None
                raise
            except TransientError as exc:
                if isinstance(exc, CircuitOpenError) or attempt == policy.attempts:
                    raise
                # The reply may be lost while the instance exists: look before sending again.
                log.warning("hostwinds add_instance %s: %s; checking whether it was created", request.label, exc)
                self._sleep(policy.delay_before(attempt + 1))
                found = self._await_label(request.label, self.settings.lost_create_grace)
                if found is not None:
                    log.info("hostwinds: create reply was lost; adopting %s", found.serviceid)
                    return self.wait_ready(found.serviceid)
        created = self._await_label(request.label, self.settings.poll.timeout)
        if created is None:
            raise HostwindsError(f"Hostwinds add_instance replied success but no instance labelled "
                                 f"{request.label!r} appeared within {self.settings.poll.timeout:g} s")
        return self.wait_ready(created.serviceid)

    def _await_label(self, label: str, timeout: float) -> Instance | None:
        try:
            return poll_until(lambda: self.find_by_label(label), lambda found: found is not None,
                              what=f"an instance labelled {label!r}", timeout=timeout,
                              interval=self.settings.poll.interval, tolerate=(HostwindsTransientError,),
                              clock=self._clock, sleep=self._sleep)
        except WaitTimeout:
            return None

    def wait_ready(self, serviceid: str | int) -> Instance:
        """Poll until status is ACTIVE with an empty task_state."""
        sid = _serviceid(serviceid)
        return wait_for(lambda: self.get_instance(sid), lambda i: i.ready, f"instance {sid} to become ACTIVE",
                        self.settings.poll, self._clock, self._sleep)

    def terminate(self, serviceid: str | int, wait: bool = True) -> None:
        """Terminate (irreversible). Idempotent: an instance that is already gone is not an error."""
        sid = _serviceid(serviceid)
        try:
            self.mutate("terminate", {"serviceid": sid})
        except InvalidServiceIdError:
            if self.is_live(sid):
                raise
            log.info("hostwinds: instance %s is already gone", sid)
            return
        if wait:
            wait_for(lambda: self.is_live(sid), lambda live: not live, f"instance {sid} to be terminated",
                     self.settings.poll, self._clock, self._sleep)

    def reinstall(self, serviceid: str | int, template: str, wait: bool = True) -> Instance | None:
        sid = _serviceid(serviceid)
        self.mutate("reinstall_instance", {"serviceid": sid, "template": _nonempty(template, "template")})
        return self.wait_ready(sid) if wait else None

    def rename(self, serviceid: str | int, label: str, wait: bool = True) -> Instance | None:
        """Change the label (``edit_instance`` with ``srvrname``); waits until the API shows it."""
        sid = _serviceid(serviceid)
        new_label = _label(label)
        self.mutate("edit_instance", {"serviceid": sid, "srvrname": new_label})
        if not wait:
            return None
        return wait_for(lambda: self.get_instance(sid), lambda i: i.label == new_label,
                        f"instance {sid} to be labelled {new_label!r}", self.settings.poll, self._clock, self._sleep)

    def power(self, serviceid: str | int, action: str) -> None:
        if action not in ("boot", "shutdown", "reboot"):
            raise ValidationError("action", f"{action!r} must be boot, shutdown or reboot")
        self.mutate(action, {"serviceid": _serviceid(serviceid)})

    # --- networking -----------------------------------------------------------------------------------

    def set_rdns(self, serviceid: str | int, ip: str, rdns: str) -> None:
        try:
            address = str(ipaddress.ip_address(ip))
        except ValueError:
            raise ValidationError("ip", f"{ip!r} is not an IP address") from None
        self.mutate("set_rdns", {"serviceid": _serviceid(serviceid), "ip": address, "rdns": domain(rdns, "rdns")})

    def get_firewall_profiles(self, serviceid: str | int) -> list[FirewallProfile]:
        """The instance's firewall profile(s), from either reply shape (``hostwinds.firewall``)."""
        return firewall.profiles(self, _serviceid(serviceid))

    def get_firewall_profile(self, serviceid: str | int) -> FirewallProfile:
        found = self.get_firewall_profiles(serviceid)
        return found[0] if found else FirewallProfile(name="")

    def set_firewall_profile(self, serviceid: str | int, name: str, wait: bool = True) -> FirewallProfile | None:
        """Apply profile ``name`` (matched by its chosen name); fails fast when it does not exist."""
        return firewall.apply(self, _serviceid(serviceid), _nonempty(name, "firewall_profile"), wait)

    # --- ssh keys ---------------------------------------------------------------------------------------

    def add_ssh_key(self, name: str, public_key: str) -> str:
        """Register ``public_key`` under ``name`` (``hostwinds.keys.register``): "added", "adopted" or
        "replaced"."""
        return keys.register(self, name, public_key)

    def delete_ssh_key(self, name: str) -> None:
        """Delete the key named ``name``; idempotent (a key that is already gone is not an error)."""
        keys.delete(self, name)

    def list_ssh_keys(self) -> dict[str, str] | None:
        """Name -> public key, when a listing action is configured and known to the API; else None."""
        return keys.list_keys(self)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, TransientError) and not isinstance(exc, CircuitOpenError)


def _log_retry(state: RetryCallState) -> None:
    outcome = state.outcome
    error = outcome.exception() if outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning("hostwinds: try %d failed (%s); retrying in %.1f s", state.attempt_number,
                scrub(str(error)), wait)


def _redact_payload(payload: Any) -> Any:
    if isinstance(payload, Mapping):
        return redact_mapping(payload)
    if isinstance(payload, list):
        return [_redact_payload(item) for item in payload]
    return payload
