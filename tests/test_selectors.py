"""Label selectors in kubectl's syntax: what each requirement matches, and bad input."""

from __future__ import annotations

import pytest

from controller import selectors
from controller.errors import UsageError

LABELS = {"role": "web", "env": "prod", "tier": "1"}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("", True),
        ("role=web", True),
        ("role==web", True),
        ("role=db", False),
        ("role!=db", True),
        ("team!=x", True),
        ("env in (prod, stage)", True),
        ("env notin (prod)", False),
        ("team notin (a,b)", True),
        ("team in (a)", False),
        ("tier", True),
        ("!tier", False),
        ("!team,role=web,env in (prod)", True),
    ],
)
def test_selector_matches_as_kubectl_does(text: str, matches: bool) -> None:
    """Each requirement kind holds exactly as in kubectl; all of them must hold."""
    assert selectors.parse(text).matches(LABELS) is matches


@pytest.mark.parametrize("text", ["role web", "env in ()", "=web", "env in (a b)", "a=b=c"])
def test_bad_selector_is_a_usage_error_naming_it(text: str) -> None:
    """A selector that is not kubectl syntax is refused with its text in the message."""
    with pytest.raises(UsageError, match="invalid selector"):
        selectors.parse(text)
