"""Anomaly detector: gibberish responses (word bigrams never seen elsewhere in the corpus) and
degenerate repetition."""

from __future__ import annotations

from typing import Any, ClassVar

import polars as pl

from .base import HIT_SCHEMA, Findings, _empty_hits
from .table import Features

# ---------------------------------------------------------------------------------------------
# anomalous responses


def detect_anomalies(feats: Features, cfg: Any) -> pl.DataFrame:
    f = feats.table
    frames = []
    g = f.filter(pl.col("valid") & (pl.col("gibberish") > 0))
    if g.height:
        frames.append(
            g.select(
                "row",
                pl.col("gibberish").alias("score"),
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
                pl.col("degenerate").alias("score"),
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
