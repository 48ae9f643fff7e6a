"""What the lab writes into nodes: the authorized_keys archive."""

import io
import tarfile

from flotilla.lab.lab import _tar_authorized_keys


def test_authorized_keys_archive_has_private_modes():
    data = _tar_authorized_keys(b"ssh-ed25519 AAAA flotilla-lab\n")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert members["root/.ssh"].isdir() and members["root/.ssh"].mode == 0o700
        keys = members["root/.ssh/authorized_keys"]
        assert keys.mode == 0o600 and keys.uid == 0
        assert tar.extractfile(keys).read() == b"ssh-ed25519 AAAA flotilla-lab\n"
