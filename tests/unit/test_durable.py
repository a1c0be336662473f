"""DurableWriter: disk work on a thread, acknowledgements back on the caller's thread, in order."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from shared.state.checkpoint import encode_checkpoint, read_checkpoint, store_checkpoint
from shared.state.durable import DurableWriteError, DurableWriter


def test_callbacks_run_on_the_polling_thread_only_after_their_job_and_every_earlier_one() -> None:
    writer = DurableWriter()
    first, second = threading.Event(), threading.Event()
    done: list[str] = []
    acked: list[tuple[str, list[str], str]] = []
    writer.submit(lambda: (first.wait(5), done.append("one")), lambda: acked.append(("a", list(done), th())))
    writer.submit(lambda: (second.wait(5), done.append("two")), lambda: acked.append(("b", list(done), th())))
    writer.submit(None, lambda: acked.append(("c", list(done), th())))  # nothing to write: after the rest
    assert writer.poll() == 0 and acked == []  # the first job is still running: nothing acknowledged
    first.set()
    for _ in range(500):
        if writer.poll():
            break
        threading.Event().wait(0.01)
    assert acked == [("a", ["one"], th())]  # its own job done, the second still running
    second.set()
    assert writer.drain(5)
    assert acked[1:] == [("b", ["one", "two"], th()), ("c", ["one", "two"], th())]
    assert th() != "durable"  # the callbacks ran here, on the caller's thread
    writer.close()


def th() -> str:
    return threading.current_thread().name


def test_a_queued_checkpoint_is_replaced_by_a_newer_one_and_both_acknowledged_after_it(tmp_path: Path) -> None:
    writer = DurableWriter()
    gate = threading.Event()
    path = tmp_path / "c.json"
    acked: list[int] = []
    writer.submit(lambda: gate.wait(5), None)  # keeps the thread busy while two checkpoints queue
    for n in (1, 2, 3):
        raw = encode_checkpoint(path, {"n": n})
        writer.submit(lambda raw=raw: store_checkpoint(path, raw), lambda n=n: acked.append(n), key=str(path))
    gate.set()
    writer.drain(5)
    assert acked == [1, 2, 3]
    assert writer.coalesced == 2 and writer.jobs == 2  # the gate, then only the newest checkpoint
    data = read_checkpoint(path)
    assert data == {"n": 3}
    writer.close()


def test_a_failed_write_is_raised_on_the_loop_and_nothing_after_it_is_acknowledged(tmp_path: Path) -> None:
    writer = DurableWriter()
    acked: list[str] = []

    def fail() -> None:
        raise OSError(28, "No space left on device")

    writer.submit(lambda: None, lambda: acked.append("before"))
    writer.submit(fail, lambda: acked.append("failed"))
    writer.submit(lambda: None, lambda: acked.append("after"))
    with pytest.raises(DurableWriteError, match="No space left"):
        writer.drain(5)
    with pytest.raises(DurableWriteError):
        writer.poll()
    assert "failed" not in acked and "after" not in acked


def test_with_nothing_queued_a_callback_runs_at_the_next_poll() -> None:
    writer = DurableWriter()
    acked: list[int] = []
    writer.submit(None, lambda: acked.append(1))
    assert writer.poll() == 1 and acked == [1]
    writer.close()
    with pytest.raises(DurableWriteError, match="closed"):
        writer.submit(None, None)
