"""examples/chat: the page is served and a message reaches every participant."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tests.conftest import Runner
from tests.ws.wsutil import serve, wait_for

APP = Path(__file__).resolve().parents[2] / "examples" / "chat" / "app.py"


def load_chat() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chat_example", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_chat_room_relays_messages_to_everyone_and_replays_history(run: Runner[Any]) -> None:
    chat = load_chat()

    async def body() -> None:
        async with serve(chat.make_app()) as served:
            base = f"http://127.0.0.1:{served.port}"
            async with httpx.AsyncClient() as http:
                page = await http.get(base + "/")
            assert page.status_code == 200
            assert "new WebSocket" in page.text
            url = served.url("/chatsocket")
            async with connect(url, origin=base, proxy=None) as ada:  # type: ignore[arg-type]
                async with connect(url, origin=base, proxy=None) as bob:  # type: ignore[arg-type]
                    await ada.send(json.dumps({"name": "ada", "body": "hello <b>"}))
                    for ws in (ada, bob):
                        got = json.loads(await wait_for(ws.recv()))
                        assert (got["name"], got["body"]) == ("ada", "hello <b>")
                    await bob.send("not json")
                    assert "error" in json.loads(await wait_for(bob.recv()))
                async with connect(url, origin=base, proxy=None) as cid:  # type: ignore[arg-type]
                    history = json.loads(await wait_for(cid.recv()))
                    assert history["body"] == "hello <b>"

    run(body())
