"""A blocking call (a name lookup, an HTTP request) run beside the event loop, in a daemon
thread of its own.

Not asyncio.to_thread: the default executor's threads are joined when the loop shuts down,
so a call that hangs (a dead DNS server, an unanswered request) would hold up the agent's
exit until it returns. A daemon thread is simply left behind; whoever awaits the result may
stop waiting (a timeout, a cancellation) at any moment.

    infos = await asyncio.wait_for(in_daemon_thread(socket.getaddrinfo, name, None), 2.0)
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any


def in_daemon_thread(function: Callable[..., Any], *args: Any,
                     name: str = "linkwatch-blocking") -> asyncio.Future:
    """A future of `function(*args)`, which runs in a new daemon thread."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def run() -> None:
        try:
            result, error = function(*args), None
        except BaseException as e:  # handed to the awaiting task, not lost
            result, error = None, e
        # RuntimeError: the loop is gone, so nobody waits for this call any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future
