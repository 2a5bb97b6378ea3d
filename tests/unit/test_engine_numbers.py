"""The engine hands a dynamic provider every number as a double: one helper turns whole ones back into ints."""

from __future__ import annotations

from components.engine_numbers import whole_numbers
from mailu.config import MailuConfig
from mailu.secrets import SecretRefs


def test_whole_floats_become_ints_everywhere_and_nothing_else_changes() -> None:
    given = {"generation": 1.0, "ratio": 1.5, "flag": True, "name": "x", "nested": {"size": 5e7, "list": [2.0, "3"]},
             "pair": (1.0, None)}
    assert whole_numbers(given) == {"generation": 1, "ratio": 1.5, "flag": True, "name": "x",
                                    "nested": {"size": 50_000_000, "list": [2, "3"]}, "pair": (1, None)}
    assert type(whole_numbers(given)["generation"]) is int and whole_numbers(given)["flag"] is True


def test_mailu_inputs_round_trip_through_the_engines_doubles() -> None:
    config = MailuConfig(domain="acme.example", message_size_limit=50_000_000)
    refs = SecretRefs("vps/acme/admin_ssh", "dkim/acme.example/pm1", "smtp/acme/admin", "vps/acme/mailu_secret_key",
                      admin_ssh_version=1, dkim_version=3, smtp_admin_version=2)
    as_engine = {k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
                 for k, v in config.as_dict().items()}
    assert MailuConfig.from_dict(whole_numbers(as_engine)).digest() == config.digest()
    refs_engine = {k: float(v) if isinstance(v, int) else v for k, v in refs.as_dict().items()}
    assert SecretRefs.from_dict(whole_numbers(refs_engine)) == refs
