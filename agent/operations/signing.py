"""Each agent's Ed25519 signing key, which signs its exports (`linkwatch keys` makes it).

The private key is a PEM file (PKCS#8, unencrypted: the agent signs unattended) readable by
its owner only; the public half is written `ed25519:<base64 of its 32 bytes>`, short enough
to read out on a telephone line and to paste into the importing server's config:

    key = create_key(Path("/var/lib/linkwatch/signing.key"))    # once, mode 0600
    print(public_text(key))                                     # ed25519:Gb9EC...
    signature = sign(key, message)
    verify("ed25519:Gb9EC...", message, signature)              # True / False
"""

from __future__ import annotations

import base64
import contextlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from linkwatch.agent.config.schema import PUBLIC_KEY_PREFIX, public_key_bytes

KEY_MODE = 0o600
_MAX_KEY_FILE = 4096


class SigningKeyError(Exception):
    """A signing key that cannot be created or used; the message names the file and the fix."""


def create_key(path: Path) -> Ed25519PrivateKey:
    """A new key written to `path` (mode 0600; a missing directory is made 0700).

    Never overwrites: an existing file raises SigningKeyError.
    """
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_MODE)
    except FileExistsError as e:
        raise SigningKeyError(f"{path} exists already: linkwatch never replaces a signing "
                              "key (the importing servers list its public half)") from e
    except OSError as e:
        raise SigningKeyError(f"cannot create {path}: {e.strerror}; run as the user the "
                              "agent runs as (sudo -u linkwatch ...), or set "
                              "carry.signing_key to a writable place") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        with contextlib.suppress(OSError):
            path.unlink()
        raise SigningKeyError(f"cannot write {path}: {e.strerror}") from e
    return key


def load_key(path: Path) -> Ed25519PrivateKey:
    """The key in `path`; refused when others than its owner may read it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError as e:
        raise SigningKeyError(f"no signing key at {path}: create it once with `linkwatch keys "
                              "-c CONFIG` (as the agent's user) and list its public half in "
                              "the importing server's config (carry.trusted)") from e
    except OSError as e:
        raise SigningKeyError(f"cannot read the signing key {path}: {e.strerror}; run as the "
                              "user the agent runs as (sudo -u linkwatch ...)") from e
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise SigningKeyError(f"{path} is not a regular file")
        if mode & 0o077:
            raise SigningKeyError(f"{path} may be read by others (mode {mode & 0o777:04o}): "
                                  f"chmod 600 {path}")
        data = f.read(_MAX_KEY_FILE + 1)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise SigningKeyError(f"{path} is not a linkwatch signing key; move it aside and "
                              "create one with `linkwatch keys`") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 key; "
                              "move it aside and create one with `linkwatch keys`")
    return key


def public_text(key: Ed25519PrivateKey) -> str:
    """`ed25519:<base64>`: the public half, as the importing server's config lists it."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode()


def sign(key: Ed25519PrivateKey, message: bytes) -> bytes:
    return key.sign(message)


def verify(public: str, message: bytes, signature: bytes) -> bool:
    """Whether `signature` is the holder of `public`'s signature of `message`."""
    raw = public_key_bytes(public)
    if raw is None:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
