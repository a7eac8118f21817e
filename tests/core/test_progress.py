"""Progress output: a bar on a terminal, a few plain lines in a log file."""

import io

from tqdm import tqdm

from gald.progress import LineProgress, progress


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_log_file_gets_periodic_lines_not_carriage_returns():
    out = io.StringIO()
    bar = progress(range(500), desc="evaluate", unit="img", stream=out, interval=0.0)
    assert isinstance(bar, LineProgress)
    assert sum(1 for _ in bar) == 500
    text = out.getvalue()
    assert "\r" not in text and "evaluate: 500/500 img (100%)" in text


def test_lines_are_throttled_by_interval():
    out = io.StringIO()
    bar = progress(total=1000, desc="train", unit="step", stream=out, interval=3600.0, mininterval=2.0)
    for _ in range(1000):
        bar.update(1)
    bar.set_postfix(loss="0.123")
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train: 1000/1000 step (100%)") and "loss=0.123" in lines[0]


def test_terminal_gets_a_tqdm_bar_and_disabled_shows_nothing():
    assert isinstance(progress(range(3), stream=FakeTTY(), interval=5.0), tqdm)
    out = io.StringIO()
    assert list(progress(range(3), enabled=False, stream=out)) == [0, 1, 2]
    assert out.getvalue() == ""
