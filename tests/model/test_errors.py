"""The message table: every hand-written rule of the schemas has its message there."""

from __future__ import annotations

import re
from pathlib import Path

import prominence.model
from prominence.model.errors import MESSAGES

RULE = re.compile(r'spec_error\("(\w+)"')


def test_every_rule_raised_has_a_message():
    sources = Path(prominence.model.__file__).parent.glob("*.py")
    raised = {rule for path in sources for rule in RULE.findall(path.read_text())}
    known = {kind for table in MESSAGES.values() for entry in table.values() for kind in entry}
    assert len(raised) > 20
    assert raised - known == set()
