"""The report's HTML tables: cell formatting, escaping, and the numbers each table shows."""

from pathlib import Path

import pytest

from models.reporting.html_tables import (
    cost_table,
    direction_table,
    fmt,
    label,
    png_data_uri,
    ranking_table,
    table,
    verdict_box,
)


@pytest.mark.parametrize(("value", "kind", "digits", "text"), [
    (0.12345, "num", 3, "0.123"),
    (0.12345, "num", 2, "0.12"),
    (0.12345, "pct", 3, "12.3%"),
    (0.12345, "pct", 4, "12.35%"),
    (0.5, "pct", 2, "50.0%"),  # at least one decimal
    (12.34, "num1", 3, "12.3"),
    (1234567.8, "int", 3, "1,234,567"),
    (0.0004, "p", 3, "<0.001"),
    (0.0123, "p", 3, "0.012"),
    (None, "pct", 3, "n/a"),
    (float("nan"), "num", 3, "n/a"),
    (float("inf"), "p", 3, "n/a"),
    (True, "num", 3, "yes"),
    (False, "pct", 3, "no"),
])  # fmt: skip
def test_fmt(value, kind, digits, text):
    assert fmt(value, kind, digits) == text


def test_table_escapes_every_cell_header_caption_and_class():
    out = table(["a<b", "c"], [["1 & 2", "<i>x</i>"]], caption='say "hi"', cls="wide")
    assert out == (
        '<table class="wide"><thead><tr><th>a&lt;b</th><th>c</th></tr></thead>'
        "<tbody><tr><td>1 &amp; 2</td><td>&lt;i&gt;x&lt;/i&gt;</td></tr></tbody></table>"
        '<p class="muted">say &quot;hi&quot;</p>'
    )
    assert table(["h"], []) == "<table><thead><tr><th>h</th></tr></thead><tbody></tbody></table>"


def test_labels_of_variants_and_baselines():
    assert [label(n) for n in ("long_short", "long_only", "buy_and_hold", "class_prior")] == [
        "long/short", "long only", "buy and hold", "class prior",
    ]  # fmt: skip


def test_png_data_uri_embeds_a_png_and_refuses_anything_else(tmp_path: Path):
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x01")
    assert png_data_uri(png) == "data:image/png;base64,iVBORw0KGgoAAQ=="
    other = tmp_path / "b.png"
    other.write_bytes(b"GIF89a")
    with pytest.raises(ValueError, match=r"path must be a PNG file, got .*b\.png"):
        png_data_uri(other)


def test_direction_table_shows_the_formatted_numbers():
    out = direction_table({"n": 1234, "hit_rate": 0.5321, "expected_hit_rate": 0.5, "statistic": 2.3456,
                           "p_value": 0.0123, "flat_predictions_excluded": 66})  # fmt: skip
    assert "<tr><td>1,234</td><td>53.2%</td><td>50.0%</td><td>2.35</td><td>0.012</td></tr>" in out
    assert "(66 flat calls excluded), against the realised direction." in out


def test_ranking_table_rows():
    out = ranking_table({"ic_mean": 0.01234, "ic_std": 0.1, "ic_t_stat": 1.234, "rank_ic_mean": -0.00012,
                         "rank_ic_std": 0.2, "rank_ic_t_stat": float("nan"), "note": "per-date"})  # fmt: skip
    assert "<tr><td>IC (Pearson)</td><td>0.0123</td><td>0.1000</td><td>1.23</td></tr>" in out
    assert "<tr><td>rank IC (Spearman)</td><td>-0.0001</td><td>0.2000</td><td>n/a</td></tr>" in out
    assert out.endswith('<p class="muted">per-date</p>')


def test_cost_table_one_row_per_cost_and_none_without_a_grid():
    grid = [
        {"variant": v, "cost_bps": c, "annualised_return": r, "sharpe": s}
        for v, c, r, s in [("long_short", 0.0, 0.1, 1.234), ("long_short", 10.0, 0.05, 0.6),
                           ("long_only", 0.0, 0.2, 0.9), ("long_only", 10.0, 0.15, 0.7)]
    ]  # fmt: skip
    out = cost_table({"metrics": {"long_short": {}, "long_only": {}}, "cost_sensitivity": grid})
    assert "<th>long/short return/yr</th><th>long only return/yr</th><th>long/short Sharpe</th>" in out
    assert "<tr><td>0.0</td><td>10.0%</td><td>20.0%</td><td>1.23</td><td>0.90</td></tr>" in out
    assert "<tr><td>10.0</td><td>5.0%</td><td>15.0%</td><td>0.60</td><td>0.70</td></tr>" in out
    assert cost_table({"metrics": {"long_short": {}}}) == ""


def test_verdict_box_folds_the_detail_and_notes_the_trials():
    out = verdict_box("Probabilistic", {
        "verdict": "unused", "verdict_lines": ["Edge <all>", "beats a", "beats b"], "has_edge": True,
        "trials": {"n_trials": 2, "spa_p_value": 0.0004, "reality_check_p_value": 0.25, "spa_dates": 1500},
    })  # fmt: skip
    assert out.startswith('<div class="verdict edge"><h3>Probabilistic</h3><p><strong>Edge &lt;all&gt;</strong></p>')
    assert "<summary>against each baseline (2)</summary><p>beats a</p><p>beats b</p>" in out
    assert "2 configurations tried on this universe" in out
    assert "SPA p=&lt;0.001, Reality Check p=0.250 (1,500 shared dates)." in out
    plain = verdict_box("Directional", {"verdict": "No edge", "has_edge": False})
    assert plain == '<div class="verdict noedge"><h3>Directional</h3><p><strong>No edge</strong></p></div>'
