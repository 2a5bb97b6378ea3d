"""The record model: normalisation, TXT splitting at 255 bytes, quoting, equality."""

from __future__ import annotations

import pytest

from dnsrecords.records import Record, index, quote_txt, txt_strings, unquote_txt
from toolkit.errors import ValidationError


def test_names_are_normalised_and_values_sorted() -> None:
    record = Record("Mail.Example.COM.", "a", 300, ("192.0.2.2", "192.0.2.1", "192.0.2.1"))
    assert record.name == "mail.example.com"
    assert record.type == "A"
    assert record.values == ("192.0.2.1", "192.0.2.2")
    assert record.key == ("mail.example.com", "A")


def test_host_values_lose_the_final_dot() -> None:
    assert Record("example.com", "MX", 60, ("10 Mail.Example.com.",)).values == ("10 mail.example.com",)
    assert Record("_imaps._tcp.example.com", "SRV", 60, ("0 1 993 mail.example.com.",)).values == (
        "0 1 993 mail.example.com",)


@pytest.mark.parametrize("size, strings", [(1, 1), (255, 1), (256, 2), (510, 2), (511, 3)])
def test_txt_is_split_into_255_byte_strings(size: int, strings: int) -> None:
    value = "x" * size
    parts = txt_strings(value)
    assert len(parts) == strings
    assert all(len(p) <= 255 for p in parts)
    assert b"".join(parts) == value.encode()


def test_dkim_sized_txt_round_trips_through_quoting() -> None:
    value = "v=DKIM1; k=rsa; p=" + "A" * 392 + '"quoted" back\\slash'
    quoted = quote_txt(value)
    assert quoted.count('" "') == 1
    assert unquote_txt(quoted) == value


def test_presplit_txt_strings_are_joined() -> None:
    record = Record.txt("k._domainkey.example.com", ["v=DKIM1; k=rsa; ", "p=ABC"])
    assert record.values == ("v=DKIM1; k=rsa; p=ABC",)


def test_a_presplit_txt_string_over_255_bytes_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"string 2 of 2 is 300 bytes; one TXT string holds at most 255"):
        Record.txt("x.example.com", ["ok", "y" * 300])


def test_same_data_compares_ttl_and_values() -> None:
    a = Record("mail.example.com", "A", 300, ("192.0.2.1",))
    assert a.same_data(Record("mail.example.com", "A", 300, ("192.0.2.1",)))
    assert not a.same_data(Record("mail.example.com", "A", 600, ("192.0.2.1",)))
    assert not a.same_data(Record("mail.example.com", "A", 300, ("192.0.2.9",)))
    assert not a.same_data(None)


def test_dict_round_trip() -> None:
    record = Record("example.com", "MX", 3600, ("10 mail.example.com",))
    assert Record.from_dict(record.to_dict()) == record


def test_two_records_for_one_rrset_are_refused() -> None:
    a = Record("mail.example.com", "A", 300, ("192.0.2.1",))
    with pytest.raises(ValidationError, match="given twice"):
        index([a, Record("mail.example.com", "A", 300, ("192.0.2.2",))])


def test_relative_names() -> None:
    assert Record("example.com", "MX", 60, ("10 mail.example.com",)).relative_name("example.com") == "@"
    assert Record("_dmarc.example.com", "TXT", 60, ("v=DMARC1; p=none",)).relative_name("example.com") == "_dmarc"
