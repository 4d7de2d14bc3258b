#!/usr/bin/env python3
"""The floor under a batch: RUNS chained runs of TURNS tool turns, CONCURRENCY at once, each over its own keep-alive
connection, JSON answers, no agent logic (raw sockets with asyncio): the mock server's own throughput, which no client
can beat. Usage: concurrent_floor.py PORT RUNS TURNS CONCURRENCY"""
import asyncio, json, sys, time

port, runs, turns, conc = map(int, sys.argv[1:5])

async def post(reader, writer, body):
    data = json.dumps(body).encode()
    writer.write(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
    await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"content-length"):
            length = int(line.split(b":")[1])
    return json.loads(await reader.readexactly(length))

async def one(sem):
    async with sem:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        r = await post(reader, writer, {"model": "mock", "input": "go", "tools": []})
        for _ in range(turns):
            call = r["output"][0]
            r = await post(reader, writer, {"model": "mock", "previous_response_id": r["id"],
                                            "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "x"}]})
        writer.close()
        assert r["output"][0]["type"] == "message", r

async def main():
    sem = asyncio.Semaphore(conc)
    start = time.perf_counter()
    await asyncio.gather(*[one(sem) for _ in range(runs)])
    print(f"floor runs={runs} turns={turns} concurrency={conc} wall_s={time.perf_counter() - start:.3f}")

asyncio.run(main())
