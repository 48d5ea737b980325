"""Template filters of the audit pages."""

import json
from typing import Any

from django import template

register = template.Library()


@register.filter
def as_json(value: Any) -> str:
    """Show a JSON value as JSON, not as Python's repr."""
    if value is None:
        return ""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
