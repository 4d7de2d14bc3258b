"""The reference Python MCP SDK's client doing what `errand-bench mcp` does: connect and list tools, then `add`
called one at a time and eight at once. usage: mcp_client_bench.py URL [calls]"""
import asyncio
import sys
import time

import anyio
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def main(url, calls):
    start = time.perf_counter()
    async with streamable_http_client(url) as (read, write, *_):
        async with ClientSession(read, write) as session:
            await session.initialize()
            await session.list_tools()
            connect = time.perf_counter() - start
            for index in range(20):
                await session.call_tool("add", {"a": index, "b": 1})
            start = time.perf_counter()
            for index in range(calls):
                result = await session.call_tool("add", {"a": index, "b": 1})
                assert result.content[0].text == str(index + 1)
            sequential = time.perf_counter() - start

            async def worker(first):
                for index in range(first, calls, 8):
                    await session.call_tool("add", {"a": index, "b": 1})

            start = time.perf_counter()
            async with anyio.create_task_group() as group:
                for first in range(8):
                    group.start_soon(worker, first)
            parallel = time.perf_counter() - start
    print(f"python   connect+list {connect * 1000:7.1f} ms   sequential {sequential * 1000 / calls:6.2f} ms/call   8 at once {calls / parallel:6.0f} calls/s")


asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 300))
