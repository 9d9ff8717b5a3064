"""One verdict per input row from every detector's hits."""

from __future__ import annotations

from typing import Any

import polars as pl

from .base import HIT_SCHEMA, RANKING
from .table import Features

# ---------------------------------------------------------------------------------------------
# combine


def combine(
    corpus: pl.DataFrame, feats: Features, cfg: Any, hits: list[pl.DataFrame]
) -> pl.DataFrame:
    """One row per input row: the strongest hit's score, all reasons strongest first."""
    f = feats.table
    n = corpus.height
    allhits = pl.concat([h.cast(HIT_SCHEMA) for h in hits])  # type: ignore[arg-type]
    # a row hit by several detectors is more suspicious than by one: noisy-or of the best per detector
    # (ties of score broken by the reason's text, so that the reason and trigger shown first do
    # not depend on the order the hits came in)
    per = (
        allhits.sort(["row", "score", "detector", "reason"], descending=[False, True, False, False])
        .group_by(["row", "detector"], maintain_order=True)
        .first()
    )
    agg = (
        per.sort(["row", "score", "detector", "reason"], descending=[False, True, False, False])
        .group_by("row", maintain_order=True)
        .agg(
            # (hits that only rank rows are a floor, not one more detector's evidence)
            pl.max_horizontal(
                1 - (1 - pl.col("score").filter(pl.col("detector") != RANKING)).product(),
                pl.col("score").filter(pl.col("detector") == RANKING).max().fill_null(0.0),
            ).alias("score"),
            pl.col("reason"),
            pl.col("trigger").drop_nulls().first().alias("trigger"),
        )
    )
    cluster_ok = f.select(
        "row",
        pl.when(pl.col("tmpl_cluster_size") >= cfg.min_cluster)
        .then(pl.col("tmpl_cluster"))
        .alias("cluster"),
    )
    base = corpus.select("row_id", "source", "line", "error").with_columns(
        pl.int_range(n, dtype=pl.UInt32).alias("row")
    )
    out = (
        base.join(agg, on="row", how="left")
        .join(cluster_ok, on="row", how="left")
        .sort("row")
        .with_columns(
            pl.col("score").fill_null(0.0),
            pl.when(pl.col("error").is_not_null())
            .then(pl.concat_list([pl.format("input error: {}", pl.col("error"))]))
            .otherwise(pl.col("reason").fill_null(pl.lit([], dtype=pl.List(pl.String))))
            .alias("reasons"),
            # cluster ids are row indices; report them as the row_id of that row
            pl.col("cluster").cast(pl.UInt64).alias("cluster_id"),
        )
        .with_columns((pl.col("score") >= cfg.flag_threshold).alias("flagged"))
    )
    return out.select(
        pl.col("row_id").cast(pl.UInt64),
        pl.col("score").cast(pl.Float64),
        "flagged",
        pl.col("reasons").cast(pl.List(pl.String)),
        pl.col("trigger").cast(pl.String),
        "cluster_id",
        "source",
        pl.col("line").cast(pl.UInt64),
        "error",
    )
