"""A fake OpenAI-compatible backend (the LLM provider, for the LiteLLM plug-in's benchmark):
answers every chat completion with the model's name, and fails the models named in
``FAKE_LLM_FAILING`` (comma-separated) with a 500."""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()
FAILING = set(filter(None, os.environ.get("FAKE_LLM_FAILING", "").split(",")))


@app.post("/v1/chat/completions")
async def chat(request: Request) -> Any:
    body = await request.json()
    model = body["model"]
    if model in FAILING:
        return JSONResponse({"error": {"message": "overloaded", "type": "server_error"}}, 500)
    return {
        "id": "fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"answered by {model}"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
    }
