"""Code Companion for Jupyter: real-time collaborative code rooms."""

from __future__ import annotations

from typing import Any

from ._version import __version__


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import CodeCompanionApp

    return [{"module": "codecompanion_ext", "app": CodeCompanionApp}]


__all__ = ["__version__"]
