"""Code Companion for Jupyter: real-time collaborative code rooms."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .widget import CodeRoom


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import CodeCompanionApp

    return [{"module": "codecompanion_ext", "app": CodeCompanionApp}]


def __getattr__(name: str) -> Any:
    # The widget pulls in ipywidgets; the server extension must not pay for that.
    if name == "CodeRoom":
        from .widget import CodeRoom

        return CodeRoom
    raise AttributeError(name)


__all__ = ["CodeRoom", "__version__"]
