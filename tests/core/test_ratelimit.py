import pytest

from asyncchat.core.ratelimit import TokenBucket


def test_a_burst_passes_then_lines_wait_their_turn() -> None:
    bucket = TokenBucket(rate=10, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.1)
    assert bucket.take(0.0) == pytest.approx(0.2)


def test_the_bucket_refills_at_the_rate_up_to_the_burst() -> None:
    bucket = TokenBucket(rate=10, burst=2, now=0.0)
    bucket.take(0.0)
    bucket.take(0.0)
    assert bucket.take(0.1) == 0.0
    assert bucket.take(0.1) == pytest.approx(0.1)
    assert [bucket.take(100.0) for _ in range(2)] == [0.0, 0.0]
    assert bucket.take(100.0) > 0


def test_rate_zero_never_waits() -> None:
    bucket = TokenBucket(rate=0, burst=1, now=0.0)
    assert all(bucket.take(0.0) == 0.0 for _ in range(10_000))


def test_a_clock_going_backwards_does_not_add_tokens() -> None:
    bucket = TokenBucket(rate=10, burst=1, now=5.0)
    bucket.take(5.0)
    assert bucket.take(1.0) == pytest.approx(0.1)
