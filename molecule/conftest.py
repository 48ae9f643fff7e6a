"""Shared by every scenario's testinfra checks: a failing check never prints a secret.

A failed assertion shows the values it compared (a join token before and after rotation, an
unlock key searched for in a playbook's output); the report that reaches the terminal, the junit
file and CI's log has them replaced by a marker.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

import pytest

SECRET = re.compile(r"SWMTKN-1-[0-9a-z-]+|SWMKEY-1-[A-Za-z0-9+/=]+")


def redact(text: str) -> str:
    return SECRET.sub(lambda m: m.group(0)[:9] + "<redacted>", text)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.longrepr is not None and SECRET.search(str(report.longrepr)):
        report.longrepr = redact(str(report.longrepr))
    report.sections = [(title, redact(content)) for title, content in report.sections]
