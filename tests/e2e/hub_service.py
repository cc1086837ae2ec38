"""The Code Companion service on a test hub: the `c.JupyterHub.services` entry and roles
the README shows, with this test's paths (tests/test_hub_service.py and the browser test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub_harness import ADMIN_SERVICE, HubProcess

from codecompanion_ext.testing import free_port, venv_script

SERVICE = "codecompanion"
PREFIX = f"services/{SERVICE}/"
MANAGE_SCOPE = "custom:codecompanion:manage"
# `teacher` is in the `teachers` group; `cara` manages by the custom scope (a role), in no
# group; `ana` and `ben` are students.
USERS = ("teacher", "ana", "ben", "cara")
# The hub's custom scope, as the README shows it.
CUSTOM_SCOPES = f"""
c.JupyterHub.custom_scopes = {{
    {MANAGE_SCOPE!r}: {{"description": "Create, list and manage every Code Companion room"}},
}}
"""


def service_config(workdir: Path, port: int, *args: str) -> dict[str, Any]:
    """The `c.JupyterHub.services` entry the README shows, with paths of this test."""
    jupyter = {
        f"JUPYTER_{kind.upper()}_DIR": str(workdir / "service" / kind)
        for kind in ("config", "data", "runtime")
    }
    return {
        "name": SERVICE,
        "url": f"http://127.0.0.1:{port}",
        "command": [venv_script("codecompanion"), f"--db={workdir / 'rooms.db'}", *args],
        "oauth_no_confirm": True,
        # Hub logins (OAuth) carry the custom scope to the service only when listed here.
        "oauth_client_allowed_scopes": [MANAGE_SCOPE],
        "environment": jupyter,
    }


HUB_ROLES = [
    # Every hub user may log in to the service (guests need no hub account at all).
    {"name": "user", "scopes": ["self", f"access:services!service={SERVICE}"]},
    # The service reads the hub's user names, which guests may then not take.
    {"name": "codecompanion-service", "scopes": ["list:users", "read:users:name"],
     "services": [SERVICE]},
    # Managers without the `teachers` group: the custom scope, granted by a role.
    {"name": "codecompanion-managers", "scopes": [MANAGE_SCOPE], "users": ["cara"]},
    # The test's own: API tokens of hub users.
    {"name": "test-tokens", "scopes": ["tokens", "read:users"], "services": [ADMIN_SERVICE]},
]  # fmt: skip


def start_hub(workdir: Path, *service_args: str) -> HubProcess:
    hub = HubProcess(
        workdir,
        users=USERS,
        services=[service_config(workdir, free_port(), *service_args)],
        roles=HUB_ROLES,
        groups={"teachers": {"users": ["teacher"]}},
        extra_config=CUSTOM_SCOPES,
    )
    hub.start()
    hub.wait_until(
        lambda: hub.request("GET", PREFIX + "api")[0] == 200,
        60,
        "the service to answer through the proxy",
    )
    return hub
