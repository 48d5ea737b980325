"""Typed parsers for the environment variables that configure Exec.

Each parser raises `SettingsError` with the variable's name and the accepted
values, so that a bad value stops start-up with one readable line.
"""

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_VALUES = frozenset({"1", "true", "yes", "on"})
FALSE_VALUES = frozenset({"0", "false", "no", "off"})


class SettingsError(ImproperlyConfigured):
    """An environment variable contains a value that Exec cannot use."""


def _raw(name: str, environ: Mapping[str, str]) -> str | None:
    """Return the variable's value, or the contents of the file named by NAME_FILE."""
    value = environ.get(name)
    path = environ.get(f"{name}_FILE")
    if value is not None and path is not None:
        raise SettingsError(f"{name} and {name}_FILE are both set; set only one.")
    if path is None:
        return value

    try:
        with open(path, encoding="utf-8") as secret_file:
            return secret_file.read().strip()
    except OSError as error:
        raise SettingsError(
            f"{name}_FILE: cannot read {path!r} ({error.strerror}); "
            "point it at a readable file that contains the value."
        ) from error


def env_str(
    name: str, default: str | None = None, environ: Mapping[str, str] = os.environ
) -> str | None:
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    return value


def env_bool(name: str, default: bool, environ: Mapping[str, str] = os.environ) -> bool:
    value = _raw(name, environ)
    if value is None or value.strip() == "":
        return default

    normalized = value.strip().lower()
    if normalized in TRUE_VALUES:
        return True
    if normalized in FALSE_VALUES:
        return False
    raise SettingsError(
        f"{name}: invalid boolean {value!r}; use one of 1, true, yes, on, "
        "0, false, no, off."
    )


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] = os.environ,
) -> int:
    value = _raw(name, environ)
    if value is None or value.strip() == "":
        return default

    try:
        number = int(value.strip())
    except ValueError:
        raise SettingsError(
            f"{name}: invalid integer {value!r}; use a whole number such as {default}."
        ) from None
    if minimum is not None and number < minimum:
        raise SettingsError(f"{name}: {number} is below the minimum of {minimum}.")
    if maximum is not None and number > maximum:
        raise SettingsError(f"{name}: {number} is above the maximum of {maximum}.")
    return number


def env_list(
    name: str, default: list[str], environ: Mapping[str, str] = os.environ
) -> list[str]:
    """Parse a comma-separated list, dropping blanks around each item."""
    value = _raw(name, environ)
    if value is None or value.strip() == "":
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(
    name: str,
    default: str,
    choices: tuple[str, ...],
    environ: Mapping[str, str] = os.environ,
) -> str:
    value = _raw(name, environ)
    if value is None or value.strip() == "":
        return default

    normalized = value.strip().upper()
    upper_choices = tuple(choice.upper() for choice in choices)
    if normalized not in upper_choices:
        raise SettingsError(
            f"{name}: invalid value {value!r}; use one of {', '.join(choices)}."
        )
    return choices[upper_choices.index(normalized)]


def env_url(
    name: str,
    default: str | None,
    schemes: tuple[str, ...],
    environ: Mapping[str, str] = os.environ,
) -> str | None:
    """Parse an absolute URL whose scheme is one of `schemes`."""
    value = _raw(name, environ)
    if value is None or value.strip() == "":
        return default

    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise SettingsError(
            f"{name}: invalid URL {value!r}; the scheme must be one of "
            f"{', '.join(schemes)}."
        )
    if not parts.netloc and parts.scheme not in ("sqlite",):
        raise SettingsError(f"{name}: invalid URL {value!r}; it has no host.")
    return value
