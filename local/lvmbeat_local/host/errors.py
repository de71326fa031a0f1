"""The host's own errors: each says what failed, with which value, and what to do."""

from __future__ import annotations


class HostError(RuntimeError):
    """The host cannot start (bad setting, app that does not load, bad route)."""


class SettingsError(HostError):
    """A setting is missing or local.settings.json cannot be used."""


class AppLoadError(HostError):
    """The function app cannot be found, imported or served."""


class RouteError(HostError):
    """A route template the host cannot serve."""


class ScheduleError(HostError):
    """A timer schedule that is not a six-field NCRONTAB expression."""
