"""Docker Engine and the compose plugin from Docker's own apt repository: supported releases, pinned versions, key.

Why not the distribution's packages: Debian 12 has no compose v2 package (its ``docker-compose`` is the Python v1
tool, without the ``docker compose`` subcommand every installer step uses), and Mailu's docs require Docker's
packages. So the installer writes Docker's signing key and an apt source pinned to it (``signed-by``), removes the
distribution packages that conflict (Docker's install guide), and installs exactly these versions, then holds
them (an upgrade is a change of this file, reviewed like any other).

The key is carried here, not downloaded: a download could be swapped; this text is checked against the pinned
fingerprint (``key_fingerprint``, computed from the key packet itself) before it is written to any host.
Supported releases are the ones Docker publishes packages for AND this table pins versions for; anything else is
refused before the VPS is created (``toolkit.tenant_config`` and ``fleet.preflight`` use ``release_of``) and again
on the host from ``/etc/os-release``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from toolkit.errors import ValidationError

DOCKER_ENGINE_VERSION = "27.3.1"
COMPOSE_PLUGIN_VERSION = "2.29.7"
CONTAINERD_VERSION = "1.7.22-1"
DOCKER_KEY_FINGERPRINT = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
"""Docker Release (CE deb) <docker@docker.com>, the key Docker's install guide names."""
KEYRING_PATH = "/etc/apt/keyrings/docker.asc"
SOURCE_PATH = "/etc/apt/sources.list.d/docker.list"
CONFLICTING_PACKAGES: tuple[str, ...] = (
    "docker.io", "docker-doc", "docker-compose", "docker-compose-v2", "podman-docker", "containerd", "runc",
)
"""Distribution packages Docker's guide removes first (they ship the same files as Docker's packages)."""
DOCKER_PACKAGES: tuple[str, ...] = ("docker-ce", "docker-ce-cli", "containerd.io", "docker-compose-plugin")


@dataclass(frozen=True)
class Release:
    os_id: str
    version_id: str
    codename: str

    @property
    def label(self) -> str:
        return f"{'Debian' if self.os_id == 'debian' else 'Ubuntu'} {self.version_id}"

    @property
    def image_name(self) -> str:
        return f"{self.os_id}-{self.version_id}"

    def pinned_versions(self) -> dict[str, str]:
        """apt version of each Docker package for this release (Docker's scheme: ``5:27.3.1-1~debian.12~bookworm``)."""
        suffix = f"-1~{self.os_id}.{self.version_id}~{self.codename}"
        return {
            "docker-ce": f"5:{DOCKER_ENGINE_VERSION}{suffix}",
            "docker-ce-cli": f"5:{DOCKER_ENGINE_VERSION}{suffix}",
            "containerd.io": CONTAINERD_VERSION,
            "docker-compose-plugin": f"{COMPOSE_PLUGIN_VERSION}{suffix}",
        }

    def apt_source(self, architecture: str) -> str:
        if not re.fullmatch(r"[a-z0-9]+", architecture):
            raise ValidationError("architecture", f"{architecture!r} is not a dpkg architecture")
        return (f"# Managed by pm-mail-infra: Docker's repository, trusted only with Docker's key.\n"
                f"deb [arch={architecture} signed-by={KEYRING_PATH}] https://download.docker.com/linux/{self.os_id} "
                f"{self.codename} stable\n")


SUPPORTED_RELEASES: tuple[Release, ...] = (
    Release("debian", "12", "bookworm"),
    Release("ubuntu", "22.04", "jammy"),
    Release("ubuntu", "24.04", "noble"),
)
SUPPORTED_LABELS = ", ".join(r.label for r in SUPPORTED_RELEASES)
_RELEASE_NAME = re.compile(r"(?i)(?<![a-z])(?:(debian)[\s_-]*(\d{1,2})|(ubuntu)[\s_-]*(\d{2})\.?(\d{2}))(?![\d.])")


def release(os_id: str, version_id: str) -> Release | None:
    """The supported release with this ``/etc/os-release`` ID and VERSION_ID, else None."""
    for entry in SUPPORTED_RELEASES:
        if entry.os_id == os_id.lower() and entry.version_id == version_id:
            return entry
    return None


def release_of(image_name: str) -> tuple[str, str] | None:
    """(os, version) a readable image name names (``ubuntu-22.04``, ``Ubuntu 22.04 LTS``, ``debian-12``), or None
    when it names neither Debian nor Ubuntu (an id such as a UUID, or another system)."""
    match = _RELEASE_NAME.search(image_name)
    if match is None:
        return None
    if match.group(1):
        return "debian", match.group(2)
    return "ubuntu", f"{match.group(4)}.{match.group(5)}"


def image_problem(image: str, name: str = "") -> str | None:
    """Why the installer cannot run on the image with id ``image`` (and Hostwinds name ``name``), or None.

    An image is supported when its name (or its id, when that is readable) names a supported release."""
    for text in (name, image):
        found = release_of(text) if text else None
        if found is None:
            continue
        if release(*found) is not None:
            return None
        return (f"{text!r} is {found[0].capitalize()} {found[1]}: the Mailu installer supports {SUPPORTED_LABELS} "
                "(Docker Engine and the compose plugin from Docker's apt repository, versions pinned per release)")
    shown = f"{image!r} ({name})" if name and name != image else repr(image)
    return (f"{shown} is not a Debian or Ubuntu image: the Mailu installer supports {SUPPORTED_LABELS} "
            "(Docker Engine and the compose plugin from Docker's apt repository)")


# --- the signing key ---------------------------------------------------------------------------------------

def _dearmor(armored: str) -> bytes:
    lines = armored.strip().splitlines()
    try:
        start = lines.index("-----BEGIN PGP PUBLIC KEY BLOCK-----")
        end = lines.index("-----END PGP PUBLIC KEY BLOCK-----")
    except ValueError:
        raise ValidationError("docker_key", "is not an ASCII-armored OpenPGP public key") from None
    body = [line for line in lines[start + 1:end] if line and ":" not in line and not line.startswith("=")]
    return base64.b64decode("".join(body), validate=True)


def key_fingerprint(armored: str) -> str:
    """The v4 fingerprint of the primary key: SHA-1 over 0x99, the two-byte length and the public-key packet body
    (RFC 4880 section 12.2), computed here rather than trusted from any label."""
    data = _dearmor(armored)
    tag = data[0]
    if tag & 0x80 == 0:
        raise ValidationError("docker_key", "does not start with an OpenPGP packet")
    if tag & 0x40:  # new format
        if (tag & 0x3F) != 6:
            raise ValidationError("docker_key", "first packet is not a public key")
        first = data[1]
        if first < 192:
            length, offset = first, 2
        elif first < 224:
            length, offset = ((first - 192) << 8) + data[2] + 192, 3
        else:
            length, offset = int.from_bytes(data[2:6], "big"), 6
    else:  # old format
        if (tag >> 2) & 0x0F != 6:
            raise ValidationError("docker_key", "first packet is not a public key")
        size = {0: 1, 1: 2, 2: 4}.get(tag & 0x03)
        if size is None:
            raise ValidationError("docker_key", "indeterminate packet length")
        length, offset = int.from_bytes(data[1:1 + size], "big"), 1 + size
    packet = data[offset:offset + length]
    if len(packet) != length or packet[:1] != b"\x04":
        raise ValidationError("docker_key", "is not a version 4 public key")
    return hashlib.sha1(b"\x99" + length.to_bytes(2, "big") + packet, usedforsecurity=False).hexdigest().upper()


def docker_key() -> bytes:
    """The keyring file's content, after checking it is the pinned key."""
    found = key_fingerprint(DOCKER_KEY)
    if found != DOCKER_KEY_FINGERPRINT:
        raise ValidationError("docker_key", f"fingerprint {found} is not Docker's {DOCKER_KEY_FINGERPRINT}")
    return DOCKER_KEY.encode()


DOCKER_KEY = """\
-----BEGIN PGP PUBLIC KEY BLOCK-----

mQINBFit2ioBEADhWpZ8/wvZ6hUTiXOwQHXMAlaFHcPH9hAtr4F1y2+OYdbtMuth
lqqwp028AqyY+PRfVMtSYMbjuQuu5byyKR01BbqYhuS3jtqQmljZ/bJvXqnmiVXh
38UuLa+z077PxyxQhu5BbqntTPQMfiyqEiU+BKbq2WmANUKQf+1AmZY/IruOXbnq
L4C1+gJ8vfmXQt99npCaxEjaNRVYfOS8QcixNzHUYnb6emjlANyEVlZzeqo7XKl7
UrwV5inawTSzWNvtjEjj4nJL8NsLwscpLPQUhTQ+7BbQXAwAmeHCUTQIvvWXqw0N
cmhh4HgeQscQHYgOJjjDVfoY5MucvglbIgCqfzAHW9jxmRL4qbMZj+b1XoePEtht
ku4bIQN1X5P07fNWzlgaRL5Z4POXDDZTlIQ/El58j9kp4bnWRCJW0lya+f8ocodo
vZZ+Doi+fy4D5ZGrL4XEcIQP/Lv5uFyf+kQtl/94VFYVJOleAv8W92KdgDkhTcTD
G7c0tIkVEKNUq48b3aQ64NOZQW7fVjfoKwEZdOqPE72Pa45jrZzvUFxSpdiNk2tZ
XYukHjlxxEgBdC/J3cMMNRE1F4NCA3ApfV1Y7/hTeOnmDuDYwr9/obA8t016Yljj
q5rdkywPf4JF8mXUW5eCN1vAFHxeg9ZWemhBtQmGxXnw9M+z6hWwc6ahmwARAQAB
tCtEb2NrZXIgUmVsZWFzZSAoQ0UgZGViKSA8ZG9ja2VyQGRvY2tlci5jb20+iQI3
BBMBCgAhBQJYrefAAhsvBQsJCAcDBRUKCQgLBRYCAwEAAh4BAheAAAoJEI2BgDwO
v82IsskP/iQZo68flDQmNvn8X5XTd6RRaUH33kXYXquT6NkHJciS7E2gTJmqvMqd
tI4mNYHCSEYxI5qrcYV5YqX9P6+Ko+vozo4nseUQLPH/ATQ4qL0Zok+1jkag3Lgk
jonyUf9bwtWxFp05HC3GMHPhhcUSexCxQLQvnFWXD2sWLKivHp2fT8QbRGeZ+d3m
6fqcd5Fu7pxsqm0EUDK5NL+nPIgYhN+auTrhgzhK1CShfGccM/wfRlei9Utz6p9P
XRKIlWnXtT4qNGZNTN0tR+NLG/6Bqd8OYBaFAUcue/w1VW6JQ2VGYZHnZu9S8LMc
FYBa5Ig9PxwGQOgq6RDKDbV+PqTQT5EFMeR1mrjckk4DQJjbxeMZbiNMG5kGECA8
g383P3elhn03WGbEEa4MNc3Z4+7c236QI3xWJfNPdUbXRaAwhy/6rTSFbzwKB0Jm
ebwzQfwjQY6f55MiI/RqDCyuPj3r3jyVRkK86pQKBAJwFHyqj9KaKXMZjfVnowLh
9svIGfNbGHpucATqREvUHuQbNnqkCx8VVhtYkhDb9fEP2xBu5VvHbR+3nfVhMut5
G34Ct5RS7Jt6LIfFdtcn8CaSas/l1HbiGeRgc70X/9aYx/V/CEJv0lIe8gP6uDoW
FPIZ7d6vH+Vro6xuWEGiuMaiznap2KhZmpkgfupyFmplh0s6knymuQINBFit2ioB
EADneL9S9m4vhU3blaRjVUUyJ7b/qTjcSylvCH5XUE6R2k+ckEZjfAMZPLpO+/tF
M2JIJMD4SifKuS3xck9KtZGCufGmcwiLQRzeHF7vJUKrLD5RTkNi23ydvWZgPjtx
Q+DTT1Zcn7BrQFY6FgnRoUVIxwtdw1bMY/89rsFgS5wwuMESd3Q2RYgb7EOFOpnu
w6da7WakWf4IhnF5nsNYGDVaIHzpiqCl+uTbf1epCjrOlIzkZ3Z3Yk5CM/TiFzPk
z2lLz89cpD8U+NtCsfagWWfjd2U3jDapgH+7nQnCEWpROtzaKHG6lA3pXdix5zG8
eRc6/0IbUSWvfjKxLLPfNeCS2pCL3IeEI5nothEEYdQH6szpLog79xB9dVnJyKJb
VfxXnseoYqVrRz2VVbUI5Blwm6B40E3eGVfUQWiux54DspyVMMk41Mx7QJ3iynIa
1N4ZAqVMAEruyXTRTxc9XW0tYhDMA/1GYvz0EmFpm8LzTHA6sFVtPm/ZlNCX6P1X
zJwrv7DSQKD6GGlBQUX+OeEJ8tTkkf8QTJSPUdh8P8YxDFS5EOGAvhhpMBYD42kQ
pqXjEC+XcycTvGI7impgv9PDY1RCC1zkBjKPa120rNhv/hkVk/YhuGoajoHyy4h7
ZQopdcMtpN2dgmhEegny9JCSwxfQmQ0zK0g7m6SHiKMwjwARAQABiQQ+BBgBCAAJ
BQJYrdoqAhsCAikJEI2BgDwOv82IwV0gBBkBCAAGBQJYrdoqAAoJEH6gqcPyc/zY
1WAP/2wJ+R0gE6qsce3rjaIz58PJmc8goKrir5hnElWhPgbq7cYIsW5qiFyLhkdp
YcMmhD9mRiPpQn6Ya2w3e3B8zfIVKipbMBnke/ytZ9M7qHmDCcjoiSmwEXN3wKYI
mD9VHONsl/CG1rU9Isw1jtB5g1YxuBA7M/m36XN6x2u+NtNMDB9P56yc4gfsZVES
KA9v+yY2/l45L8d/WUkUi0YXomn6hyBGI7JrBLq0CX37GEYP6O9rrKipfz73XfO7
JIGzOKZlljb/D9RX/g7nRbCn+3EtH7xnk+TK/50euEKw8SMUg147sJTcpQmv6UzZ
cM4JgL0HbHVCojV4C/plELwMddALOFeYQzTif6sMRPf+3DSj8frbInjChC3yOLy0
6br92KFom17EIj2CAcoeq7UPhi2oouYBwPxh5ytdehJkoo+sN7RIWua6P2WSmon5
U888cSylXC0+ADFdgLX9K2zrDVYUG1vo8CX0vzxFBaHwN6Px26fhIT1/hYUHQR1z
VfNDcyQmXqkOnZvvoMfz/Q0s9BhFJ/zU6AgQbIZE/hm1spsfgvtsD1frZfygXJ9f
irP+MSAI80xHSf91qSRZOj4Pl3ZJNbq4yYxv0b1pkMqeGdjdCYhLU+LZ4wbQmpCk
SVe2prlLureigXtmZfkqevRz7FrIZiu9ky8wnCAPwC7/zmS18rgP/17bOtL4/iIz
QhxAAoAMWVrGyJivSkjhSGx1uCojsWfsTAm11P7jsruIL61ZzMUVE2aM3Pmj5G+W
9AcZ58Em+1WsVnAXdUR//bMmhyr8wL/G1YO1V3JEJTRdxsSxdYa4deGBBY/Adpsw
24jxhOJR+lsJpqIUeb999+R8euDhRHG9eFO7DRu6weatUJ6suupoDTRWtr/4yGqe
dKxV3qQhNLSnaAzqW/1nA3iUB4k7kCaKZxhdhDbClf9P37qaRW467BLCVO/coL3y
Vm50dwdrNtKpMBh3ZpbB1uJvgi9mXtyBOMJ3v8RZeDzFiG8HdCtg9RvIt/AIFoHR
H3S+U79NT6i0KPzLImDfs8T7RlpyuMc4Ufs8ggyg9v3Ae6cN3eQyxcK3w0cbBwsh
/nQNfsA6uu+9H7NhbehBMhYnpNZyrHzCmzyXkauwRAqoCbGCNykTRwsur9gS41TQ
M8ssD1jFheOJf3hODnkKU+HKjvMROl1DK7zdmLdNzA1cvtZH/nCC9KPj1z8QC47S
xx+dTZSx4ONAhwbS/LN3PoKtn8LPjY9NP9uDWI+TWYquS2U+KHDrBDlsgozDbs/O
jCxcpDzNmXpWQHEtHU7649OXHP7UeNST1mCUCH5qdank0V1iejF6/CfTFU4MfcrG
YT90qFF93M3v01BbxP+EIY2/9tiIPbrd
=0YYh
-----END PGP PUBLIC KEY BLOCK-----
"""
