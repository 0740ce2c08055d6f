from __future__ import annotations

from pathlib import Path

from collector.store.wal import WriteAheadLog


def _fill(wal: WriteAheadLog, payloads: list[bytes]) -> list[int]:
    futures = [wal.append(1, p) for p in payloads]
    return [f.result(timeout=10) for f in futures]


def test_appended_records_survive_a_restart_in_order(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    assert list(wal.replay()) == []
    wal.start()
    seqs = _fill(wal, [b"a", b"bb", b"ccc"])
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    wal.close()

    again = WriteAheadLog(tmp_path)
    records = list(again.replay())
    assert [(r.seq, r.kind, r.payload) for r in records] == [
        (s, 1, p) for s, p in zip(seqs, [b"a", b"bb", b"ccc"], strict=True)
    ]
    again.start()
    newer = _fill(again, [b"d"])
    assert newer[0] > seqs[-1], "sequence numbers keep growing across restarts"
    again.close()


def test_committed_segments_are_trimmed_and_close_removes_a_fully_committed_log(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=10)
    wal.start()
    seqs = _fill(wal, [b"0123456789ab", b"0123456789cd", b"x"])
    assert len(list(tmp_path.glob("*.seg"))) >= 2
    wal.committed(seqs[:2])
    assert wal.outstanding == 1
    wal.committed(seqs[2:])
    wal.close()
    assert list(tmp_path.glob("*.seg")) == []
    assert list(WriteAheadLog(tmp_path).replay()) == []


def test_uncommitted_records_are_replayed_and_committed_ones_are_not(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=1)  # one group per segment
    wal.start()
    seqs = [_fill(wal, [payload])[0] for payload in (b"first", b"second", b"third")]
    wal.committed([seqs[0]])
    wal.close()
    replayed = [r.payload for r in WriteAheadLog(tmp_path).replay()]
    assert replayed == [b"second", b"third"]


def test_a_torn_tail_ends_replay_without_losing_earlier_records(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.start()
    _fill(wal, [b"kept-1", b"kept-2"])
    wal.close()
    segment = sorted(tmp_path.glob("*.seg"))[-1]
    with segment.open("ab") as f:
        f.write(b"\x40\x00\x00\x00garbage")  # a header cut short by a crash
    assert [r.payload for r in WriteAheadLog(tmp_path).replay()] == [b"kept-1", b"kept-2"]


def test_a_corrupted_record_is_detected_by_its_checksum(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.start()
    _fill(wal, [b"good", b"will-be-flipped"])
    wal.close()
    segment = sorted(tmp_path.glob("*.seg"))[-1]
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0xFF
    segment.write_bytes(bytes(data))
    assert [r.payload for r in WriteAheadLog(tmp_path).replay()] == [b"good"]


def test_many_concurrent_appends_are_group_committed(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.start()
    futures = [wal.append(2, str(i).encode()) for i in range(2000)]
    seqs = [f.result(timeout=30) for f in futures]
    assert len(set(seqs)) == 2000
    wal.close()
    assert len(list(WriteAheadLog(tmp_path).replay())) == 2000
