"""The service's settings: :class:`Settings`, one group per concern
(:mod:`selector.config.service`: how it runs; :mod:`selector.config.deciding`: how it
decides and learns), each setting read from its own ``SELECTOR_*`` variable."""

from selector.config.deciding import PACKAGE_DIR
from selector.config.group import host_name
from selector.config.service import AUTH_EXEMPTABLE
from selector.config.settings import (
    VARIABLES,
    Settings,
    get_settings,
    load_settings,
    unknown_variables,
)

__all__ = [
    "AUTH_EXEMPTABLE",
    "PACKAGE_DIR",
    "VARIABLES",
    "Settings",
    "get_settings",
    "host_name",
    "load_settings",
    "unknown_variables",
]
