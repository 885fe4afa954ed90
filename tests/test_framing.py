from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from asyncchat.framing import Frame, InvalidUtf8, Line, LineDecoder, LineTooLong, TelnetFilter


def lines(frames: Sequence[Frame]) -> list[str]:
    return [f.text for f in frames if isinstance(f, Line)]


def test_lf_and_crlf_both_end_a_line() -> None:
    assert lines(LineDecoder(64).feed(b"one\ntwo\r\nthree")) == ["one", "two"]


def test_a_line_split_across_reads_is_joined() -> None:
    decoder = LineDecoder(64)
    assert decoder.feed(b"hel") == []
    assert decoder.feed(b"lo\r") == []
    assert decoder.feed(b"\nnext\n") == [Line("hello"), Line("next")]


def test_only_the_cr_right_before_lf_is_dropped() -> None:
    assert LineDecoder(64).feed(b"a\rb\r\r\n") == [Line("a\rb\r")]


def test_a_line_of_exactly_the_limit_passes_with_crlf() -> None:
    decoder = LineDecoder(64)
    assert decoder.feed(b"x" * 64 + b"\r") == []
    assert decoder.feed(b"\n") == [Line("x" * 64)]


def test_a_line_one_byte_over_is_refused_and_the_rest_discarded() -> None:
    decoder = LineDecoder(64)
    assert decoder.feed(b"x" * 65) == [LineTooLong(64)]
    assert decoder.feed(b"y" * 1000) == []
    assert decoder.feed(b"yyy\nafter\n") == [Line("after")]


def test_a_long_line_arriving_whole_is_refused_once() -> None:
    assert LineDecoder(64).feed(b"x" * 100 + b"\nok\n") == [LineTooLong(64), Line("ok")]


def test_the_limit_counts_bytes_not_characters() -> None:
    decoder = LineDecoder(64)
    assert decoder.feed("é".encode() * 32 + b"\n") == [Line("é" * 32)]
    assert decoder.feed("é".encode() * 33 + b"\n") == [LineTooLong(64)]


def test_invalid_utf8_is_reported_and_the_next_line_is_fine() -> None:
    assert LineDecoder(64).feed(b"\xc3\x28\nfine\n") == [InvalidUtf8(), Line("fine")]


def test_a_utf8_character_split_across_reads_decodes() -> None:
    decoder = LineDecoder(64)
    data = "grüß\n".encode()
    assert decoder.feed(data[:3]) == []
    assert decoder.feed(data[3:]) == [Line("grüß")]


def test_telnet_negotiation_is_removed() -> None:
    data = b"\xff\xfb\x01\xff\xfd\x03he\xff\xf1llo\xff\xfa\x18\x00xterm\xff\xf0\n"
    assert LineDecoder(64).feed(data) == [Line("hello")]


def test_telnet_negotiation_split_anywhere_is_removed() -> None:
    data = b"a\xff\xfb\x01b\xff\xfa\x1f\x00\x50\xff\xf0c\xff\xff\n"
    for cut in range(len(data) + 1):
        telnet = TelnetFilter()
        assert telnet.feed(data[:cut]) + telnet.feed(data[cut:]) == b"abc\xff\n"


def test_telnet_bytes_do_not_count_towards_the_limit() -> None:
    data = b"\xff\xfb\x01" * 50 + b"x" * 64 + b"\n"
    assert LineDecoder(64).feed(data) == [Line("x" * 64)]


@given(st.lists(st.binary(max_size=300), max_size=30), st.integers(min_value=1, max_value=100))
def test_any_bytes_never_raise_nor_yield_a_line_over_the_limit(
    chunks: list[bytes], limit: int
) -> None:
    decoder = LineDecoder(limit)
    for chunk in chunks:
        for frame in decoder.feed(chunk):
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
        frames += decoder.feed(stream[start:stop])
    expected = [line[:-1] if line.endswith("\r") else line for line in sent]
    assert lines(frames) == expected
