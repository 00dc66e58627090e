"""A blocking call (a name lookup, an HTTP request, a channel's send) run beside the event
loop, in a daemon thread of its own.

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
import typing
from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")


def in_daemon_thread(function: Callable[..., _T], *args: Any,
                     name: str = "linkwatch-blocking") -> asyncio.Future[_T]:
    """A future of `function(*args)`, which runs in a new daemon thread named `name`."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()

    def settle(result: _T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(typing.cast(_T, result))

    def run() -> None:
        result: _T | None = None
        error: BaseException | None = None
        try:
            result = function(*args)
        except BaseException as e:  # handed to the awaiting task, not lost
            error = e
        # RuntimeError: the loop is gone, so nobody waits for this call any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future
