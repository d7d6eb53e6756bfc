import asyncio
import threading

import pytest
import yoton


class Calc(yoton.RepChannel):
    def add(self, x, y):
        return x + y


def test_recv_async_waits_without_blocking_the_loop(pair):
    a, b = pair
    pub = yoton.PubChannel(a, "aio")
    sub = yoton.SubChannel(b, "aio")

    async def main():
        ticks = []

        async def ticker():
            while True:
                ticks.append(1)
                await asyncio.sleep(0.01)

        t = asyncio.ensure_future(ticker())
        # Sent from another thread while the loop waits.
        threading.Timer(0.2, pub.send, args=("late",)).start()
        got = await sub.recv_async(timeout=5)
        t.cancel()
        return got, len(ticks)

    got, ticks = asyncio.run(main())
    assert got == "late"
    assert ticks >= 5  # the loop kept running while waiting


def test_recv_async_returns_queued_and_times_out(pair):
    a, b = pair
    pub = yoton.PubChannel(a, "aio2")
    sub = yoton.SubChannel(b, "aio2")
    pub.send("first")
    pub.send("second")

    async def main():
        got = [await sub.recv_async(5), await sub.recv_async(5)]
        with pytest.raises(asyncio.TimeoutError):
            await sub.recv_async(0.1)
        return got

    assert asyncio.run(main()) == ["first", "second"]


def test_await_future(pair):
    a, b = pair
    rep = Calc(b, "aio")
    rep.set_mode("thread")
    req = yoton.ReqChannel(a, "aio")

    async def main():
        results = await asyncio.gather(*(req.add(i, i) for i in range(20)))
        with pytest.raises(Exception, match="not implemented"):
            await req.missing()
        return results

    assert asyncio.run(main()) == [2 * i for i in range(20)]


def test_await_future_event_mode_served_by_the_loop(pair):
    # The replier runs in event mode: only the asyncio loop processes yoton events here.
    a, b = pair
    rep = Calc(b, "aio-ev")
    rep.set_mode("event")
    req = yoton.ReqChannel(a, "aio-ev")

    async def main():
        return await req.add(20, 22)

    assert asyncio.run(main()) == 42
