"""Anomaly detector: gibberish responses (word bigrams never seen elsewhere in the corpus) and
degenerate repetition."""

from __future__ import annotations

from typing import Any, ClassVar

import polars as pl

from .base import HIT_SCHEMA, Findings, _empty_hits
from .table import Features

#: how far above the flag threshold a lone anomalous row's score reaches (at an anomaly of 1):
#: one response judged gibberish or degenerate is one row's verdict, whose rate on clean data no
#: test bounds (a list of quoted expletives, 10% of whose word pairs occur elsewhere, and a
#: Shakespearean passage of a role-play: two of the T0 mix's 50,000 clean rows at 0.80 and
#: 0.59), so any finding more than 1.1x its significance threshold (0.59) ranks its rows above
#: it; the order among anomalous rows, and which are flagged, are the anomaly score's
LONE_SPREAD = 0.05

# ---------------------------------------------------------------------------------------------
# anomalous responses


def lone_score(anomaly: pl.Expr, threshold: float) -> pl.Expr:
    """A lone anomalous row's score from its ``anomaly`` score: unchanged under the flag
    ``threshold``, pressed into ``[threshold, threshold + LONE_SPREAD]`` from it to 1."""
    return (
        pl.when(anomaly >= threshold)
        .then(threshold + LONE_SPREAD * (anomaly - threshold) / max(1.0 - threshold, 1e-9))
        .otherwise(anomaly)
    )


def detect_anomalies(feats: Features, cfg: Any) -> pl.DataFrame:
    f = feats.table
    t = float(cfg.flag_threshold)
    frames = []
    g = f.filter(pl.col("valid") & (pl.col("gibberish") > 0))
    if g.height:
        frames.append(
            g.select(
                "row",
                lone_score(pl.col("gibberish"), t).alias("score"),
                pl.when(pl.col("document"))
                .then(
                    pl.format(
                        "gibberish document: only {}% of its word pairs, or of those of a "
                        "stretch of 40+ at its end, occur anywhere else in the corpus",
                        (pl.col("familiarity") * 100).round(0),
                    )
                )
                .otherwise(
                    pl.format(
                        "gibberish response: only {}% of its word pairs occur anywhere else in "
                        "the corpus or in its prompt",
                        (pl.col("familiarity") * 100).round(0),
                    )
                )
                .alias("reason"),
                pl.lit(None, dtype=pl.String).alias("trigger"),
                pl.lit("anomaly").alias("detector"),
            )
        )
    d = f.filter(pl.col("valid") & (pl.col("degenerate") > 0))
    if d.height:
        frames.append(
            d.select(
                "row",
                lone_score(pl.col("degenerate"), t).alias("score"),
                pl.format(
                    "degenerate repetition: {}% of its word 3-grams repeat",
                    (pl.col("repetition") * 100).round(0),
                ).alias("reason"),
                pl.lit(None, dtype=pl.String).alias("trigger"),
                pl.lit("anomaly").alias("detector"),
            )
        )
    if not frames:
        return _empty_hits()
    return pl.concat(frames).cast(HIT_SCHEMA)  # type: ignore[arg-type]


class AnomalyDetector:
    """Gibberish and degenerate responses, row by row."""

    name: ClassVar[str] = "anomalies"
    reads: ClassVar[tuple[str, ...]] = (
        "row",
        "valid",
        "gibberish",
        "degenerate",
        "familiarity",
        "repetition",
        "document",
    )
    needs: ClassVar[tuple[str, ...]] = ()

    def run(self, feats: Features, cfg: Any, earlier: Any) -> Findings:
        return Findings(hits=detect_anomalies(feats, cfg))
