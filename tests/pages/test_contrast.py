"""The pages' colour pairs meet WCAG 2 AA contrast (4.5:1 for text), read from site.css."""

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[2] / "api" / "static" / "api" / "site.css").read_text()
VARIABLES = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", CSS))
WHITE = "#ffffff"

# (text, background) as the stylesheet uses them.
PAIRS = [
    ("text", WHITE),
    ("muted", WHITE),
    ("link", WHITE),
    ("bad", WHITE),
    ("text", "soft"),
    ("muted", "soft"),
    ("link", "soft"),
    (WHITE, "accent"),
    ("accent", WHITE),
    ("wait", "wait-soft"),
    ("run", "run-soft"),
    ("ok", "ok-soft"),
    ("bad", "bad-soft"),
    ("accent", "accent-soft"),
]


def luminance(colour: str) -> float:
    colour = VARIABLES.get(colour, colour)
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(text: str, background: str) -> float:
    high, low = sorted([luminance(text), luminance(background)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_reference_values_of_the_formula():
    assert contrast("#000000", WHITE) == pytest.approx(21)
    assert contrast("#767676", WHITE) == pytest.approx(4.54, abs=0.01)


@pytest.mark.parametrize(("text", "background"), PAIRS)
def test_text_colours_have_aa_contrast_on_their_backgrounds(text, background):
    assert contrast(text, background) >= 4.5
