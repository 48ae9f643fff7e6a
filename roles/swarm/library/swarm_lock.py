#!/usr/bin/python
"""The cluster lock: one Flotilla run at a time changes a swarm.

The lock is a swarm config object named ``flotilla-lock``, kept in the swarm itself (raft), so
every controller sees it. Creating a config whose name exists fails on the manager, atomically:
of two runs that try at once, one gets the lock and the other is refused.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: swarm_lock
short_description: Take or release the cluster lock that keeps two Flotilla runs from changing a swarm at once
description:
  - The lock is the swarm config C(flotilla-lock), labelled with the holder's run ID, a description
    of the holder and an expiry time. Run on a manager; needs the Docker SDK for Python.
  - O(state=present) creates it for O(run); a lock this run already holds is kept (changed=false);
    an expired lock, or one whose run ID is in O(take_over), is replaced; a lock another live run
    holds fails the task, returning that C(holder).
  - O(state=absent) removes the lock if this run holds it.
options:
  state:
    type: str
    choices: [present, absent]
    default: present
    description: Take or release the lock.
  run:
    type: str
    required: true
    description: This run's ID.
  holder:
    type: dict
    default: {}
    description: What to record about this run (user, controller, pid, playbook).
  ttl:
    type: int
    default: 3600
    description: Seconds after which the lock counts as abandoned.
  take_over:
    type: list
    elements: str
    default: []
    description: Run IDs whose lock may be replaced (runs known to be dead).
author: Flotilla
"""

RETURN = r"""
holder:
  description: The holder of the lock as found (run, user, controller, pid, playbook, since, expires), or {}.
  returned: always
  type: dict
"""

import json
import time

from ansible.module_utils.basic import AnsibleModule

NAME = "flotilla-lock"
PREFIX = "io.flotilla.lock."


def holder_of(config: dict) -> dict:
    """The holder recorded in a lock config's labels."""
    labels = (config.get("Spec") or {}).get("Labels") or {}
    found = {key[len(PREFIX):]: value for key, value in labels.items() if key.startswith(PREFIX)}
    found["id"] = config.get("ID", "")
    return found


def may_replace(holder: dict, run: str, now: float, take_over: list[str]) -> bool:
    """Whether a lock held by ``holder`` may be replaced by ``run``: expired, or its run is dead."""
    try:
        expired = float(holder.get("expires", "0")) < now
    except ValueError:
        expired = True
    return holder.get("run") != run and (expired or holder.get("run") in take_over)


def labels_for(run: str, holder: dict, now: float, ttl: int) -> dict:
    labels = {f"{PREFIX}{key}": str(value) for key, value in holder.items()}
    labels.update({f"{PREFIX}run": run, f"{PREFIX}since": str(int(now)), f"{PREFIX}expires": str(int(now + ttl))})
    return labels


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "run": {"type": "str", "required": True},
            "holder": {"type": "dict", "default": {}},
            "ttl": {"type": "int", "default": 3600},
            "take_over": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    try:
        import docker
        from docker.errors import APIError, NotFound
    except ImportError:
        module.fail_json(msg="swarm_lock needs the Docker SDK for Python (python3-docker) on the manager")
    params = module.params
    try:
        client = docker.APIClient(version="auto")
    except docker.errors.DockerException as exc:
        if params["state"] == "absent":   # no engine any more (a reset that removed it): no lock
            module.exit_json(changed=False, holder={})
        module.fail_json(msg=f"cannot reach the engine for the cluster lock: {exc}")

    def current() -> dict | None:
        found = client.configs(filters={"name": NAME})
        exact = [c for c in found if (c.get("Spec") or {}).get("Name") == NAME]
        return exact[0] if exact else None

    now = time.time()
    try:
        lock = current()
    except APIError as exc:
        if params["state"] == "absent":   # the swarm is gone (a whole reset): so is its lock
            module.exit_json(changed=False, holder={})
        module.fail_json(msg=f"cannot read the cluster lock: {exc.explanation or exc}")
    if params["state"] == "absent":
        if lock and holder_of(lock).get("run") == params["run"] and not module.check_mode:
            try:
                client.remove_config(lock["ID"])
            except NotFound:
                pass
        module.exit_json(changed=False, holder=holder_of(lock) if lock else {})

    for _ in range(2):
        if lock is None:
            if module.check_mode:   # it would be this run's
                module.exit_json(changed=False, holder={"run": params["run"]})
            try:
                client.create_config(NAME, json.dumps({"run": params["run"]}).encode(),
                                     labels=labels_for(params["run"], params["holder"], now, params["ttl"]))
                module.exit_json(changed=False, holder=holder_of(current() or {}))
            except APIError as exc:
                if exc.response is None or exc.response.status_code != 409:
                    module.fail_json(msg=f"cannot take the cluster lock: {exc.explanation or exc}")
                lock = current()   # another run created it just now
                continue
        holder = holder_of(lock)
        if holder.get("run") == params["run"]:
            module.exit_json(changed=False, holder=holder)
        if not may_replace(holder, params["run"], now, params["take_over"]):
            module.fail_json(msg="the cluster lock is held by another run", holder=holder)
        if module.check_mode:
            module.exit_json(changed=False, holder={"run": params["run"]})
        try:
            client.remove_config(lock["ID"])
        except NotFound:
            pass
        lock = None
    module.fail_json(msg="the cluster lock changed hands while this run tried to take it; run again",
                     holder=holder_of(current() or {}))


if __name__ == "__main__":
    main()
