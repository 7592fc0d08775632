"""BatchWriter: writes asked for on an event loop, done together on a thread of its own."""

import asyncio
import threading

import pytest

from config.batch_writer import BatchWriter


class _Recorder:
    def __init__(self, *, fail_on: str | None = None, short: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.threads: set[int] = set()
        self.first_started, self.release = threading.Event(), threading.Event()
        self.fail_on, self.short = fail_on, short

    def __call__(self, items: list[str]) -> list[str]:
        self.batches.append(items)
        self.threads.add(threading.get_ident())
        if len(self.batches) == 1:
            self.first_started.set()
            self.release.wait(10)
        if self.fail_on in items:
            raise ValueError(f"cannot store {self.fail_on}")
        return [item.upper() for item in items][: -1 if self.short else None]


async def _burst(writer: BatchWriter, recorder: _Recorder, items: list[str], sizes=None):
    """The first item's write starts alone; the rest are asked for while it runs."""
    sizes = sizes or [0] * len(items)
    first = asyncio.ensure_future(writer.write(items[0], size=sizes[0]))
    await asyncio.get_running_loop().run_in_executor(None, recorder.first_started.wait, 10)
    rest = [
        asyncio.ensure_future(writer.write(item, size=size)) for item, size in zip(items[1:], sizes[1:], strict=True)
    ]
    await asyncio.sleep(0.05)
    recorder.release.set()
    return await asyncio.gather(first, *rest, return_exceptions=True)


def test_writes_asked_for_during_a_write_go_together_in_order_on_the_writers_thread():
    recorder = _Recorder()
    writer = BatchWriter(recorder)
    results = asyncio.run(_burst(writer, recorder, ["a", "b", "c", "d"]))
    assert results == ["A", "B", "C", "D"]
    assert recorder.batches == [["a"], ["b", "c", "d"]]
    assert len(recorder.threads) == 1
    assert threading.get_ident() not in recorder.threads


def test_a_batch_is_bounded_by_count_and_by_size():
    recorder = _Recorder()
    writer = BatchWriter(recorder, max_items=3, max_bytes=100)
    items = ["a", "b", "c", "d", "e", "f", "g", "h"]
    sizes = [0, 10, 10, 10, 60, 60, 150, 1]
    results = asyncio.run(_burst(writer, recorder, items, sizes))
    assert results == [item.upper() for item in items]
    # By count: b c d. By size: e + f would be 120; g alone is over the limit and goes alone all the same.
    assert recorder.batches == [["a"], ["b", "c", "d"], ["e"], ["f"], ["g"], ["h"]]


def test_a_failed_batch_fails_each_of_its_callers_and_the_next_batch_still_goes():
    recorder = _Recorder(fail_on="c")
    writer = BatchWriter(recorder, max_items=2)
    results = asyncio.run(_burst(writer, recorder, ["a", "b", "c", "d", "e"]))
    assert results[:1] == ["A"]
    assert [type(result) for result in results[1:3]] == [ValueError, ValueError]  # b and c shared a batch
    assert results[3:] == ["D", "E"]


def test_a_batch_function_that_loses_a_result_fails_the_whole_batch():
    recorder = _Recorder(short=True)
    recorder.release.set()
    writer = BatchWriter(recorder)

    async def one():
        return await writer.write("a")

    with pytest.raises(RuntimeError, match="0 results for 1 items"):
        asyncio.run(one())


def test_a_writer_outlives_the_event_loop_it_first_ran_on():
    recorder = _Recorder()
    recorder.release.set()
    writer = BatchWriter(recorder)
    assert asyncio.run(writer.write("a")) == "A"
    assert asyncio.run(writer.write("b")) == "B"  # a new loop, as each test request has


def test_the_call_after_written_batches_follows_each_and_merges_those_asked_for_while_it_runs():
    recorder = _Recorder()
    recorder.release.set()
    calls, answered, then_started, then_release = [], [], threading.Event(), threading.Event()

    def then():
        calls.append(len(recorder.batches))  # how many batches were written when it started
        if len(calls) == 1:
            then_started.set()
            then_release.wait(10)

    writer = BatchWriter(recorder, then=then)

    async def scenario():
        answered.append(await writer.write("a"))
        await asyncio.get_running_loop().run_in_executor(None, then_started.wait, 10)
        # Written while the first call runs: three batches, one call after it for all of them.
        for item in ("b", "c", "d"):
            answered.append(await writer.write(item))
        then_release.set()

    asyncio.run(scenario())
    writer.close()
    assert answered == ["A", "B", "C", "D"]  # nobody waited for the first call to finish
    assert calls == [1, 4]


def test_a_failed_batch_asks_for_no_call_after_it():
    recorder = _Recorder(fail_on="a")
    recorder.release.set()
    calls = []
    writer = BatchWriter(recorder, then=lambda: calls.append(1))
    with pytest.raises(ValueError, match="cannot store a"):
        asyncio.run(writer.write("a"))
    writer.settle()
    assert calls == []


def test_beyond_max_waiting_a_write_is_refused_at_once_and_the_queue_still_drains():
    from config.batch_writer import Full

    recorder = _Recorder()
    writer = BatchWriter(recorder, max_waiting=2)

    async def scenario():
        first = asyncio.ensure_future(writer.write("a"))
        await asyncio.get_running_loop().run_in_executor(None, recorder.first_started.wait, 10)
        queued = [asyncio.ensure_future(writer.write(item)) for item in ("b", "c")]
        await asyncio.sleep(0)  # "a" is being written; "b" and "c" wait: two waiting
        with pytest.raises(Full):
            await writer.write("d")
        recorder.release.set()
        return await asyncio.gather(first, *queued)

    assert asyncio.run(scenario()) == ["A", "B", "C"]
    assert recorder.batches == [["a"], ["b", "c"]]
