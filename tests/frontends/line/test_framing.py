from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from asyncchat.core.ratelimit import NOISE_BYTES
from asyncchat.frontends.line.framing import (
    NOISE,
    Frame,
    InvalidUtf8,
    Line,
    LineDecoder,
    LineTooLong,
    Noise,
    SubnegotiationTooLong,
    TelnetFilter,
)


def lines(frames: Sequence[Frame | Noise]) -> list[str]:
    return [f.text for f in frames if isinstance(f, Line)]


def take(decoder: LineDecoder, data: bytes) -> list[Frame | Noise]:
    """Feed one chunk and cut out every frame it completes."""
    decoder.feed(data)
    return list(iter(decoder.next, None))


def test_lf_and_crlf_both_end_a_line() -> None:
    assert lines(take(LineDecoder(64), b"one\ntwo\r\nthree")) == ["one", "two"]


def test_a_line_split_across_reads_is_joined() -> None:
    decoder = LineDecoder(64)
    assert take(decoder, b"hel") == []
    assert take(decoder, b"lo\r") == []
    assert take(decoder, b"\nnext\n") == [Line("hello"), Line("next")]


def test_only_the_cr_right_before_lf_is_dropped() -> None:
    assert take(LineDecoder(64), b"a\rb\r\r\n") == [Line("a\rb\r")]


def test_a_line_of_exactly_the_limit_passes_with_crlf() -> None:
    decoder = LineDecoder(64)
    assert take(decoder, b"x" * 64 + b"\r") == []
    assert take(decoder, b"\n") == [Line("x" * 64)]


def test_a_line_one_byte_over_is_refused_and_the_rest_discarded() -> None:
    decoder = LineDecoder(64)
    assert take(decoder, b"x" * 65) == [LineTooLong(64)]
    assert take(decoder, b"y" * 1000) == [NOISE, NOISE]  # 1065 discarded bytes
    assert take(decoder, b"yyy\nafter\n") == [Line("after")]


def test_a_long_line_arriving_whole_is_refused_once() -> None:
    assert take(LineDecoder(64), b"x" * 100 + b"\nok\n") == [LineTooLong(64), Line("ok")]


def test_the_limit_counts_bytes_not_characters() -> None:
    decoder = LineDecoder(64)
    assert take(decoder, "é".encode() * 32 + b"\n") == [Line("é" * 32)]
    assert take(decoder, "é".encode() * 33 + b"\n") == [LineTooLong(64)]


def test_invalid_utf8_is_reported_and_the_next_line_is_fine() -> None:
    assert take(LineDecoder(64), b"\xc3\x28\nfine\n") == [InvalidUtf8(), Line("fine")]


def test_a_utf8_character_split_across_reads_decodes() -> None:
    decoder = LineDecoder(64)
    data = "grüß\n".encode()
    assert take(decoder, data[:3]) == []
    assert take(decoder, data[3:]) == [Line("grüß")]


def test_telnet_negotiation_is_removed() -> None:
    data = b"\xff\xfb\x01\xff\xfd\x03he\xff\xf1llo\xff\xfa\x18\x00xterm\xff\xf0\n"
    assert take(LineDecoder(64), data) == [Line("hello")]


def test_telnet_negotiation_split_anywhere_is_removed() -> None:
    data = b"a\xff\xfb\x01b\xff\xfa\x1f\x00\x50\xff\xf0c\xff\xff\n"
    for cut in range(len(data) + 1):
        telnet = TelnetFilter(64)
        assert telnet.feed(data[:cut]) + telnet.feed(data[cut:]) == b"abc\xff\n"


def test_telnet_bytes_do_not_count_towards_the_limit() -> None:
    data = b"\xff\xfb\x01" * 50 + b"x" * 64 + b"\n"
    assert take(LineDecoder(64), data) == [Line("x" * 64)]


@given(st.lists(st.binary(max_size=300), max_size=30), st.integers(min_value=1, max_value=100))
def test_any_bytes_never_raise_nor_yield_a_line_over_the_limit(
    chunks: list[bytes], limit: int
) -> None:
    decoder = LineDecoder(limit)
    for chunk in chunks:
        for frame in take(decoder, chunk):
            if isinstance(frame, Line):
                assert len(frame.text.encode()) <= limit
                assert "\n" not in frame.text


@given(
    st.lists(
        st.text(
            alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\n"), max_size=20
        ),
        max_size=10,
    ),
    st.data(),
)
def test_lines_come_out_as_sent_however_the_stream_is_cut(
    sent: list[str], data: st.DataObject
) -> None:
    stream = "".join(line + "\n" for line in sent).encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=5)))
    decoder = LineDecoder(4096)
    frames = []
    for start, stop in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        frames += take(decoder, stream[start:stop])
    expected = [line[:-1] if line.endswith("\r") else line for line in sent]
    blank = [line for line in expected if not line.encode().strip(b" \t\r\x0b\x0c")]
    assert lines(frames) == [line for line in expected if line not in blank]


def test_blank_lines_and_telnet_bytes_cost_one_token_per_512_bytes() -> None:
    decoder = LineDecoder(64)
    assert take(decoder, b"\n" * (NOISE_BYTES - 1)) == []
    assert take(decoder, b" \r\n") == [NOISE]
    assert take(decoder, b"\xff\xf1" * NOISE_BYTES + b"hi\n") == [NOISE, NOISE, Line("hi")]


def test_noise_not_yet_paid_for_counts_as_buffered() -> None:
    decoder = LineDecoder(64)
    decoder.feed(b"\xff\xf1" * 600 + b"\n" * 100)
    assert decoder.buffered == 1300
    assert decoder.next() == NOISE
    assert decoder.next() == NOISE
    assert decoder.buffered == 1300 - 2 * NOISE_BYTES
    assert decoder.next() is None


def test_noise_is_not_decoded_ahead_of_being_taken() -> None:
    decoder = LineDecoder(64)
    decoder.feed(b"a\n" * 1000)
    assert decoder.next() == Line("a")
    assert decoder.buffered == 2 * 999
    assert decoder.next() == Line("a")
    assert decoder.buffered == 2 * 998


def test_an_overlong_subnegotiation_is_an_error_and_is_skipped() -> None:
    decoder = LineDecoder(64)
    assert take(decoder, b"\xff\xfa\x18" + b"x" * 100) == [SubnegotiationTooLong(64)]
    assert take(decoder, b"y" * 10_000 + b"\xff") == [NOISE] * 19
    assert take(decoder, b"\xf0ok\n") == [Line("ok")]


def test_a_whole_overlong_subnegotiation_in_one_read_is_an_error_too() -> None:
    data = b"\xff\xfa\x18" + b"x" * 100 + b"\xff\xf0ok\n\xff\xfa\x18short\xff\xf0"
    assert take(LineDecoder(64), data) == [SubnegotiationTooLong(64), Line("ok")]


def test_an_escaped_iac_inside_a_subnegotiation_does_not_end_it() -> None:
    telnet = TelnetFilter(64)
    assert telnet.feed(b"a\xff\xfa\x18\xff\xff\xf0b\xff\xf0c") == b"ac"


def test_telnet_noise_is_stripped_without_a_python_loop_per_byte() -> None:
    """1 MiB of IAC NOP pairs: linear regex work, counted in full as removed."""
    telnet = TelnetFilter(2048)
    data = b"\xff\xf1" * (512 * 1024)
    assert telnet.feed(data) == b""
    assert telnet.removed == len(data)


def reference_telnet(data: bytes, max_sub: int) -> tuple[bytes, int, int, bool]:
    """RFC 854 byte by byte: (data kept, bytes removed, overlong subnegotiations,
    whether the stream ends between commands)."""
    out, removed, overlong = bytearray(), 0, 0
    state, body = "data", 0
    for byte in data:
        if state == "data":
            if byte == 0xFF:
                state = "iac"
            else:
                out.append(byte)
                continue
        elif state == "iac":
            if byte == 0xFF:
                out.append(0xFF)
                removed -= 1
                state = "data"
            elif byte in (0xFB, 0xFC, 0xFD, 0xFE):
                state = "option"
            elif byte == 0xFA:
                state, body = "sub", 0
            else:
                state = "data"
        elif state == "option":
            state = "data"
        elif state == "sub":
            if byte == 0xFF:
                state = "sub-iac"
            else:
                body += 1
        elif byte == 0xF0:
            overlong += body > max_sub
            state = "data"
        else:
            body += 2
            state = "sub"
        removed += 1
    if state in ("sub", "sub-iac"):
        overlong += body > max_sub
    return bytes(out), removed, overlong, state == "data"


telnet_bytes = st.lists(
    st.sampled_from([b"\xff", b"\xfa", b"\xf0", b"\xfb", b"\xf1", b"a", b"\n", b"xyz" * 4]),
    max_size=200,
).map(b"".join)


@given(telnet_bytes, st.data(), st.integers(min_value=1, max_value=12))
def test_the_telnet_filter_agrees_with_rfc_854_byte_by_byte(
    data: bytes, draw: st.DataObject, max_sub: int
) -> None:
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=8)))
    telnet = TelnetFilter(max_sub)
    out = b"".join(
        telnet.feed(data[a:b]) for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)
    )
    kept, removed, overlong, between_commands = reference_telnet(data, max_sub)
    assert out == kept
    assert telnet.overlong == overlong
    if between_commands:
        assert telnet.removed == removed


def test_a_subnegotiation_sent_a_byte_at_a_time_is_scanned_once() -> None:
    """The held part of a subnegotiation is never scanned again: 2 KB fed byte by byte."""
    telnet = TelnetFilter(64)
    data = b"\xff\xfa\x18" + b"x" * 2000 + b"\xff\xf0ok"
    out = b"".join(telnet.feed(data[i : i + 1]) for i in range(len(data)))
    assert out == b"ok"
    assert telnet.overlong == 1
    assert telnet.removed == len(data) - 2


def test_a_long_line_arriving_whole_costs_its_bytes_as_noise() -> None:
    decoder = LineDecoder(64)
    assert take(decoder, b"x" * 600 + b"\n") == [LineTooLong(64), NOISE]


# --- take_partial: lines ended by a pause, for clients that never send an LF ----


def test_take_partial_hands_over_the_pending_bytes_and_the_next_start_a_new_line() -> None:
    decoder = LineDecoder(64)
    assert take(decoder, b"Ali") == []
    assert take(decoder, b"ce") == []
    assert decoder.buffered == 5
    assert decoder.take_partial() == Line("Alice")
    assert decoder.buffered == 0
    assert take(decoder, b"Bob: hi") == []
    assert decoder.take_partial() == Line("Bob: hi")
    assert decoder.take_partial() is None


def test_take_partial_with_nothing_pending_is_none() -> None:
    decoder = LineDecoder(64)
    assert decoder.take_partial() is None
    assert take(decoder, b"one\n") == [Line("one")]
    assert decoder.take_partial() is None


def test_a_blank_partial_is_noise_and_is_paid_for() -> None:
    decoder = LineDecoder(64)
    decoder.feed(b" \t ")
    assert decoder.take_partial() is None
    assert decoder.buffered == 3
    for _ in range(NOISE_BYTES // 64):
        decoder.feed(b" " * 64)
        assert decoder.take_partial() is None
    assert decoder.next() == NOISE
    assert decoder.buffered == 3


def test_a_partial_goes_through_the_checks_of_a_line() -> None:
    decoder = LineDecoder(64)
    decoder.feed(b"caf\xe9")
    assert decoder.take_partial() == InvalidUtf8()
    decoder.feed(b"\xff\xfb\x01h\xff\xf1i\xff")
    assert decoder.take_partial() == Line("hi")
    assert take(decoder, b"\xf1 there\n") == [Line(" there")]


def test_a_cr_ending_a_partial_is_dropped_as_in_crlf() -> None:
    decoder = LineDecoder(64)
    assert take(decoder, b"x" * 64 + b"\r") == []
    assert decoder.take_partial() == Line("x" * 64)
    decoder.feed(b"a\rb\r")
    assert decoder.take_partial() == Line("a\rb")


def test_a_partial_over_the_limit_not_yet_reported_is_refused() -> None:
    """Bytes fed while a frame waits for flood control are not looked at by `next`."""
    decoder = LineDecoder(64)
    decoder.feed(b"x" * 100)
    assert decoder.take_partial() == LineTooLong(64)
    assert decoder.buffered == 100  # paid for as noise
    assert take(decoder, b"ok") == []
    assert decoder.take_partial() == Line("ok")


def test_take_partial_ends_a_too_long_line_so_the_next_bytes_are_read() -> None:
    decoder = LineDecoder(64)
    assert take(decoder, b"x" * 65) == [LineTooLong(64)]
    assert take(decoder, b"still the long line") == []
    assert decoder.take_partial() is None
    assert take(decoder, b"hello") == []
    assert decoder.take_partial() == Line("hello")
    assert decoder.buffered == 65 + 19


def test_an_lf_after_a_partial_was_taken_is_a_blank_line() -> None:
    decoder = LineDecoder(64)
    decoder.feed(b"Alice")
    assert decoder.take_partial() == Line("Alice")
    assert take(decoder, b"\nhello\n") == [Line("hello")]


def test_seen_lf_is_set_by_the_first_lf_and_stays() -> None:
    decoder = LineDecoder(64)
    assert take(decoder, b"name") == []
    assert not decoder.seen_lf
    assert decoder.take_partial() == Line("name")
    assert take(decoder, b"x\r\n") == [Line("x")]
    assert decoder.seen_lf
    assert take(decoder, b"no line ending") == []
    assert decoder.seen_lf


def test_telnet_negotiation_marks_a_telnet_client_read_as_lines() -> None:
    decoder = LineDecoder(64)
    assert take(decoder, b"\xff\xfb\x0aAl") == []  # IAC WILL <option 10>: not an LF, but telnet
    assert decoder.seen_lf


@given(
    st.lists(
        st.binary(min_size=1, max_size=40).filter(lambda piece: b"\n" not in piece),
        max_size=10,
    ),
    st.data(),
)
def test_pieces_ended_by_take_partial_come_out_as_sent_however_each_is_cut(
    pieces: list[bytes], data: st.DataObject
) -> None:
    """Each piece fed in arbitrary chunks and then ended: nothing lost, merged or repeated."""
    decoder = LineDecoder(4096)
    frames: list[Frame | Noise] = []
    for piece in pieces:
        cuts = sorted(data.draw(st.lists(st.integers(0, len(piece)), max_size=3)))
        for start, stop in zip([0, *cuts], [*cuts, len(piece)], strict=True):
            frames += take(decoder, piece[start:stop])
        partial = decoder.take_partial()
        if partial is not None:
            frames.append(partial)
    telnet = TelnetFilter(4096)
    expected = []
    for piece in pieces:
        kept = telnet.feed(piece)
        kept = kept[:-1] if kept.endswith(b"\r") else kept
        if kept and not kept.isspace():
            expected.append(kept)
    assert [f.text.encode() for f in frames if isinstance(f, Line)] == [
        e for e in expected if _utf8(e)
    ]
    assert sum(isinstance(f, InvalidUtf8) for f in frames) == sum(not _utf8(e) for e in expected)


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
