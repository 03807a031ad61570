"""The baseline: a bare FastAPI endpoint that takes the same JSON payload and echoes it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

app = FastAPI()


@app.post("/echo")
async def echo(body: dict[str, Any]) -> dict[str, Any]:
    return body
