"""The bare-Temporal baseline of `bench/pipeline.py`: a tiny workflow and its worker.

``BareCase`` is started by signal-with-start; each ``incident`` signal runs two no-op
activities in turn (the second writes ``<tag> <epoch seconds>`` to the done file as it
runs, the analogue of the letter's .eml stamped by the SMTP sink), then the workflow waits
for the next signal. Its ``decide`` update runs two no-op activities and returns.

No codec, no sandbox passthroughs, default worker options: Temporal as it comes.

Run as ``python -m bench.baseline --address HOST:PORT --task-queue Q --done-file F``; it
prints ``baseline worker ready`` once polling and runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from datetime import timedelta
from typing import TextIO

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

ACTIVITY_TIMEOUT = timedelta(seconds=30)
_done: TextIO | None = None


@activity.defn(name="bare_noop")
async def bare_noop(tag: str) -> None:
    """Nothing."""


@activity.defn(name="bare_noop_done")
async def bare_noop_done(tag: str) -> None:
    """Nothing but a line in the done file: when the incident's last step ran."""
    if _done is not None:
        _done.write(f"{tag} {time.time():.6f}\n")
        _done.flush()


@workflow.defn(name="BareCase")
class BareCase:
    """Two no-op activities per signalled incident; two per update."""

    def __init__(self) -> None:
        self._pending: list[str] = []

    @workflow.run
    async def run(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self._pending))
            tag = self._pending.pop(0)
            await workflow.execute_activity(bare_noop, tag, start_to_close_timeout=ACTIVITY_TIMEOUT)
            await workflow.execute_activity(
                bare_noop_done, tag, start_to_close_timeout=ACTIVITY_TIMEOUT
            )

    @workflow.signal(name="incident")
    def incident(self, tag: str) -> None:
        self._pending.append(tag)

    @workflow.update(name="decide")
    async def decide(self, tag: str) -> str:
        await workflow.execute_activity(bare_noop, tag, start_to_close_timeout=ACTIVITY_TIMEOUT)
        await workflow.execute_activity(bare_noop, tag, start_to_close_timeout=ACTIVITY_TIMEOUT)
        return tag


async def serve(address: str, task_queue: str, done: TextIO) -> None:
    """Run the worker until SIGINT/SIGTERM."""
    global _done
    _done = done
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[BareCase],
        activities=[bare_noop, bare_noop_done],
    )
    async with worker:
        print("baseline worker ready", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--done-file", required=True)
    args = parser.parse_args()
    with open(args.done_file, "a", encoding="utf-8") as done:
        asyncio.run(serve(args.address, args.task_queue, done))


if __name__ == "__main__":
    main()
