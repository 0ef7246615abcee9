"""Talk to a running Home Assistant the way the frontend does: REST and websocket.

Onboarding, logging in through the auth flow, adding a config entry through the
config-flow API, reading states and sending websocket commands.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import aiohttp

LANGUAGE = "en"


class HomeAssistantError(Exception):
    """Home Assistant answered something other than what the step expects."""


class WebsocketCommandError(HomeAssistantError):
    """A websocket command failed; ``code`` says why, e.g. ``not_found``."""

    def __init__(self, command_type: str, code: str, message: str) -> None:
        """Describe the failed command."""
        super().__init__(f"{command_type}: {code}: {message}")
        self.code = code


class HomeAssistantClient:
    """A user of one Home Assistant instance, e.g. ``http://127.0.0.1:8123``."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        """Talk to ``base_url`` over ``session``; log in before calling the API."""
        self._session = session
        self.base_url = base_url.rstrip("/")
        # The frontend's own client id: the instance's address.
        self.client_id = f"{self.base_url}/"
        self.access_token: str | None = None

    async def wait_until_up(self) -> None:
        """Wait until the frontend answers; bound it with ``asyncio.timeout``."""
        while True:
            try:
                async with self._session.get(
                    f"{self.base_url}/manifest.json",
                    timeout=aiohttp.ClientTimeout(total=5),
                ) as response:
                    if response.status == HTTPStatus.OK:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.5)

    async def wait_until_running(self) -> None:
        """Wait until Home Assistant has finished starting (needs a login)."""
        while True:
            if (await self.get("/api/config"))["state"] == "RUNNING":
                return
            await asyncio.sleep(0.5)

    async def version(self) -> str:
        """Return the version of Home Assistant, e.g. "2026.10.4" (needs a login)."""
        version: str = (await self.get("/api/config"))["version"]
        return version

    async def onboarding_steps_done(self) -> dict[str, bool]:
        """Return each onboarding step and whether it is done (empty: all done)."""
        async with self._session.get(f"{self.base_url}/api/onboarding") as response:
            # Once onboarded, Home Assistant no longer serves onboarding at all.
            if response.status == HTTPStatus.NOT_FOUND:
                return {}
            steps = await _json(response)
        return {step["step"]: step["done"] for step in steps}

    async def onboard(self, name: str, username: str, password: str) -> bool:
        """Finish onboarding as a new owner; return False if it was already done.

        Creates the owner, accepts the core configuration (``configuration.yaml``
        sets the location), leaves analytics off and finishes the integration step,
        and stays logged in as the owner. Steps an earlier run finished are skipped.
        """
        done = await self.onboarding_steps_done()
        if all(done.values()):
            return False
        if not done["user"]:
            result = await self._post_json(
                "/api/onboarding/users",
                {
                    "name": name,
                    "username": username,
                    "password": password,
                    "client_id": self.client_id,
                    "language": LANGUAGE,
                },
            )
            await self._exchange_auth_code(result["auth_code"])
        else:
            await self.login(username, password)
        if not done["core_config"]:
            await self._post_json("/api/onboarding/core_config", {})
        if not done["analytics"]:
            await self._post_json("/api/onboarding/analytics", {})
        if not done["integration"]:
            await self._post_json(
                "/api/onboarding/integration",
                {"client_id": self.client_id, "redirect_uri": self._redirect_uri},
            )
        return True

    async def login(self, username: str, password: str) -> None:
        """Log in through the login flow of the login form, then get an access token."""
        flow = await self._post_json(
            "/auth/login_flow",
            {
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": self._redirect_uri,
            },
        )
        result = await self._post_json(
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": self.client_id, "username": username, "password": password},
        )
        if result.get("type") != "create_entry":
            raise HomeAssistantError(f"Login refused: {result.get('errors')}")
        await self._exchange_auth_code(result["result"])

    async def config_entries(self, domain: str | None = None) -> list[dict[str, Any]]:
        """Return the config entries, of ``domain`` only if given."""
        query = f"?domain={domain}" if domain else ""
        entries: list[dict[str, Any]] = await self.get(
            f"/api/config/config_entries/entry{query}"
        )
        return entries

    async def start_config_flow(self, domain: str) -> dict[str, Any]:
        """Start adding an integration, as the "Add integration" dialog does."""
        step: dict[str, Any] = await self._post_json(
            "/api/config/config_entries/flow",
            {"handler": domain, "show_advanced_options": False},
        )
        return step

    async def submit_config_flow(
        self, flow_id: str, user_input: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Submit a step of a config flow; return the next step or the result."""
        step: dict[str, Any] = await self._post_json(
            f"/api/config/config_entries/flow/{flow_id}", user_input
        )
        return step

    async def states(self) -> list[dict[str, Any]]:
        """Return the state of every entity."""
        states: list[dict[str, Any]] = await self.get("/api/states")
        return states

    async def call_service(self, domain: str, service: str, **data: Any) -> Any:
        """Call an action through the REST API and wait for it."""
        return await self._post_json(f"/api/services/{domain}/{service}", data)

    async def get(self, path: str) -> Any:
        """GET a path of the REST API and return its JSON."""
        async with self._session.get(
            f"{self.base_url}{path}", headers=self._headers
        ) as response:
            return await _json(response)

    async def websocket(self, *commands: Mapping[str, Any]) -> list[Any]:
        """Send websocket commands on one connection; return their results in order.

        Raises:
            WebsocketCommandError: A command failed.
        """
        async with self._session.ws_connect(f"{self.base_url}/api/websocket") as ws:
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": self.access_token})
            if (reply := await ws.receive_json())["type"] != "auth_ok":
                raise HomeAssistantError(f"Websocket login refused: {reply}")
            results = []
            for message_id, command in enumerate(commands, start=1):
                await ws.send_json({"id": message_id, **command})
                reply = await ws.receive_json()
                if not reply["success"]:
                    raise WebsocketCommandError(
                        command["type"],
                        reply["error"]["code"],
                        reply["error"]["message"],
                    )
                results.append(reply["result"])
            return results

    async def websocket_command(self, command_type: str, **payload: Any) -> Any:
        """Send one websocket command and return its result."""
        return (await self.websocket({"type": command_type, **payload}))[0]

    @property
    def _redirect_uri(self) -> str:
        return f"{self.base_url}/?auth_callback=1"

    @property
    def _headers(self) -> dict[str, str]:
        if self.access_token is None:
            return {}
        return {"Authorization": f"Bearer {self.access_token}"}

    async def _exchange_auth_code(self, code: str) -> None:
        async with self._session.post(
            f"{self.base_url}/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": self.client_id,
            },
        ) as response:
            self.access_token = (await _json(response))["access_token"]

    async def _post_json(self, path: str, payload: Mapping[str, Any]) -> Any:
        async with self._session.post(
            f"{self.base_url}{path}", json=dict(payload), headers=self._headers
        ) as response:
            return await _json(response)


async def _json(response: aiohttp.ClientResponse) -> Any:
    """Return the JSON of a successful answer, or raise with what went wrong."""
    if response.status >= HTTPStatus.BAD_REQUEST:
        raise HomeAssistantError(
            f"{response.method} {response.url.path}: {response.status} "
            f"{await response.text()}"
        )
    return await response.json()
