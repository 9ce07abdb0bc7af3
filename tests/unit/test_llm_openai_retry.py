"""The OpenAI-compatible backend asks again when a server drops a kept-alive connection
without answering (a real local socket server, no mocks)."""

from __future__ import annotations

import asyncio
import json

from models.config import OpenAISettings
from models.llm.base import ChatMessage, SamplingDefaults
from models.llm.openai_compat import OpenAICompatLLM


async def test_a_connection_closed_without_an_answer_is_retried_once() -> None:
    requests = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        await reader.readuntil(b"\r\n\r\n")
        requests += 1
        if requests == 1:  # as a server whose keep-alive timer fired: nothing answered
            writer.close()
            return
        data = json.dumps({"choices": [{"delta": {"content": "hello"}}]})
        body = f"data: {data}\n\ndata: [DONE]\n\n".encode()
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                     b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    llm = OpenAICompatLLM(OpenAISettings(base_url=f"http://127.0.0.1:{port}/v1"),
                          SamplingDefaults(timeout_s=10))
    try:
        out = await llm.complete([ChatMessage("user", "hi")])
    finally:
        await llm.aclose()
        server.close()
    assert out.text == "hello" and requests == 2
