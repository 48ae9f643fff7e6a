#!/usr/bin/python
"""What the firewall role must know about a host before it writes anything there.

Standard library only: it runs before nftables is installed.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: firewall_state
short_description: Read a host's nftables packages, Flotilla's rule set and unit, and the loaded table
description:
  - One read of everything the role's apply step would otherwise look at task by task: whether
    C(nft) is there, whether the packages are installed, whether each file has the wanted content
    and mode (owned by root), whether the unit is enabled and active, and the digest in the
    comment of the table the kernel has loaded.
  - O(settled) in the result is true when nothing is left to do: every package installed, every
    file as wanted, the unit enabled and active, and the loaded table named O(digest).
  - Read-only; never reports changed.
options:
  packages:
    type: list
    elements: str
    default: []
    description: Packages that must be installed.
  files:
    type: list
    elements: dict
    default: []
    description: Files the role writes, each with C(path), C(content) and C(mode) (octal string).
  unit:
    type: str
    required: true
    description: The systemd unit that loads the rule set at boot.
  table:
    type: str
    default: inet flotilla
    description: The nftables table (family and name) the rule set defines.
  digest:
    type: str
    required: true
    description: The digest the loaded table's comment must carry (C(flotilla <digest>)).
author: Flotilla
"""

RETURN = r"""
nft:
  description: C(/usr/sbin/nft) exists.
  returned: always
  type: bool
missing_packages:
  description: Packages of O(packages) that are not installed.
  returned: always
  type: list
stale_files:
  description: Paths of O(files) whose content, mode or owner differ (or that are missing).
  returned: always
  type: list
unit:
  description: C(enabled) and C(active), as systemctl says them.
  returned: always
  type: dict
loaded:
  description: The digest in the comment of the loaded table (empty when none is loaded).
  returned: always
  type: str
settled:
  description: Nothing to install, write, enable, start or load.
  returned: always
  type: bool
"""

import os
import re
import stat
import subprocess

from ansible.module_utils.basic import AnsibleModule

NFT = "/usr/sbin/nft"


def _run(argv: list[str]) -> tuple[int, str]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError:
        return 127, ""
    return done.returncode, done.stdout


def missing_packages(packages: list[str]) -> list[str]:
    if not packages:
        return []
    _, out = _run(["dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\n", *packages])
    installed = {line.split()[0] for line in out.splitlines() if len(line.split()) > 1 and line.split()[1] == "ii"}
    return [name for name in packages if name not in installed]


def stale(path: str, content: str, mode: str) -> bool:
    try:
        info = os.stat(path)
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return True
    return (data != content.encode() or stat.S_IMODE(info.st_mode) != int(mode, 8)
            or info.st_uid != 0 or info.st_gid != 0)


def loaded_digest(table: str) -> str:
    if not os.path.exists(NFT):
        return ""
    rc, out = _run([NFT, "list", "table", *table.split()])
    found = re.search(r'comment "flotilla ([0-9a-f]+)"', out) if rc == 0 else None
    return found.group(1) if found else ""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "packages": {"type": "list", "elements": "str", "default": []},
            "files": {"type": "list", "elements": "dict", "default": []},
            "unit": {"type": "str", "required": True},
            "table": {"type": "str", "default": "inet flotilla"},
            "digest": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    nft = os.path.exists(NFT)
    missing = missing_packages(params["packages"])
    stale_files = [f["path"] for f in params["files"] if stale(f["path"], f["content"], str(f["mode"]))]
    unit = {
        "enabled": _run(["systemctl", "is-enabled", params["unit"]])[1].strip(),
        "active": _run(["systemctl", "is-active", params["unit"]])[1].strip(),
    }
    loaded = loaded_digest(params["table"])
    settled = (nft and not missing and not stale_files and unit == {"enabled": "enabled", "active": "active"}
               and loaded == params["digest"])
    module.exit_json(changed=False, nft=nft, missing_packages=missing, stale_files=stale_files, unit=unit,
                     loaded=loaded, settled=settled)


if __name__ == "__main__":
    main()
