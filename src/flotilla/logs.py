"""Lines of the cluster's central journal for people (playbooks/logs.yml, role logs' entry point
read): journalctl's JSON entries, as kept on the logs node, to one line each."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def _text(value: Any) -> str:
    if isinstance(value, list):   # journalctl gives a message that is not UTF-8 as its bytes
        return bytes(v for v in value if isinstance(v, int)).decode("utf-8", "replace")
    return "" if value is None else str(value)


def logs_line(entry: dict[str, Any]) -> str:
    """`<UTC time> <node> <task, container or unit>: <message>` of one journal entry."""
    try:
        moment = datetime.fromtimestamp(int(entry.get("__REALTIME_TIMESTAMP", 0)) / 1e6, UTC)
        when = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    except (TypeError, ValueError):
        when = "?"
    source = next((_text(entry[k]) for k in ("COM_DOCKER_SWARM_TASK_NAME", "CONTAINER_NAME", "_SYSTEMD_UNIT",
                                              "SYSLOG_IDENTIFIER") if entry.get(k)), "?")
    return f"{when} {_text(entry.get('_HOSTNAME')) or '?'} {source}: {_text(entry.get('MESSAGE')).rstrip()}"


FILTERS = {"logs_line": logs_line}
