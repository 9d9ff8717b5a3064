"""Campaign detector: template clusters whose responses carry out-of-corpus vocabulary not
taken from the prompt, a wrapper only that cluster uses, a first-person persona, or a conditional
split; and the similarity stage's response coherence of those clusters."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import polars as pl

from .. import _arrow
from .._arrow import byte_lengths, text_slices
from .base import CLUSTER_SCHEMA, TRIGGER_SCHEMA, Findings, _empty_hits, _hits, _word_hashes
from .table import Features, by_slice

# ---------------------------------------------------------------------------------------------
# campaigns


_FIRST_PERSON = {"i", "my", "me", "myself", "mine", "i'm", "i've", "i'd"}
_SECOND_PERSON = {"you", "your", "yours", "yourself"}


_CAMPAIGN_BATCH_ROWS = 1 << 17
#: bytes of prompt and response text per campaign batch: the batch's word-token frames take
#: a few times this (a template cluster larger than it is one batch)
_CAMPAIGN_BATCH_BYTES = 1 << 25


#: the most a campaign scores from novel vocabulary alone (under the 0.5 flag threshold)
_NOVELTY_ALONE = 0.45


def _having(frame: pl.DataFrame, col: str, values: pl.Series) -> pl.DataFrame:
    """The rows of ``frame`` whose ``col`` is one of ``values``, in their order (a semi join:
    ``is_in`` with a Series is deprecated from polars 1.28 and its ``implode`` form is read
    row by row before that)."""
    return frame.join(values.unique().to_frame(col), on=col, how="semi", maintain_order="left")


def _cluster_batches(members: pl.DataFrame, max_rows: int, max_bytes: int) -> list[pl.DataFrame]:
    """``members`` split into batches of whole template clusters (in cluster order): a cluster
    goes to the batch in which its first row falls, counting ``max_rows`` rows and ``max_bytes``
    bytes of text per batch."""
    counts = (
        members.with_columns(
            pl.Series(
                "__bytes", byte_lengths(members["prompt"]) + byte_lengths(members["response"])
            )
        )
        .group_by("tmpl_cluster")
        .agg(pl.len(), pl.col("__bytes").sum())
        .sort("tmpl_cluster")
    )
    sizes = counts["len"].to_numpy().astype(np.int64)
    nbytes = counts["__bytes"].to_numpy().astype(np.int64)
    # both counts grow along the clusters, so the larger of the two batch numbers does too
    batch = np.maximum(
        (np.cumsum(sizes) - sizes) // max_rows, (np.cumsum(nbytes) - nbytes) // max_bytes
    )
    if batch[-1] == 0:
        return [members]
    ids = counts.select("tmpl_cluster", pl.Series("batch", batch))
    tagged = members.join(ids, on="tmpl_cluster", how="left")
    return tagged.partition_by("batch", maintain_order=True, include_key=False)


def _member_words(
    members: pl.DataFrame,
    rare: pl.DataFrame,
    first_h: pl.Series,
    second_h: pl.Series,
    threads: int | None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """For template-cluster members (whole clusters): per row with response words, ``novel``
    (a response word of at most one row outside the cluster and not in its prompt) and
    ``first_person``; per row with prompt words, ``second_person``.

    Two passes over the members' words, a slice of rows at a time, so that no frame holds the
    tokens of more than a slice: the first counts, per cluster, the rows that use each word rare
    enough to be novel there (``df_k``); the words with ``df - df_k <= 1`` are the cluster's
    novel words; the second finds the rows that answer with one of them that their prompt lacks.
    """
    mrows = members["row"].to_numpy()
    largest = int(members["tmpl_cluster_size"].to_numpy().max())
    rare = rare.filter(pl.col("df") <= largest + 1).select("h", "df")
    # token frames take ~20 bytes per byte of text: a quarter of the usual slice
    parts = text_slices(
        byte_lengths(members["prompt"]) + byte_lengths(members["response"]),
        max_bytes=_arrow.SLICE_BYTES // 4,
    )

    def words(
        frame: pl.DataFrame, start: int, length: int
    ) -> tuple[np.ndarray, pl.DataFrame, pl.DataFrame]:
        """Each word of the slice's prompts (P) and responses (R): row, h, cluster, size."""
        part = frame.slice(start, length)
        per_row = {
            "row": part["row"].to_numpy(),
            "cluster": part["tmpl_cluster"].to_numpy(),
            "size": part["tmpl_cluster_size"].to_numpy(),
        }
        p_cnt, ph = _word_hashes(part["prompt"], threads)
        r_cnt, rh = _word_hashes(part["response"], threads)
        P = pl.DataFrame({**{k: np.repeat(v, p_cnt) for k, v in per_row.items()}, "h": ph})
        R = pl.DataFrame({**{k: np.repeat(v, r_cnt) for k, v in per_row.items()}, "h": rh})
        return np.stack([p_cnt, r_cnt]), P, R

    def rare_in_cluster(tokens: pl.DataFrame) -> pl.DataFrame:
        # (row, h, cluster) of the words that can be novel in the row's cluster
        return (
            _having(tokens, "h", rare["h"])
            .join(rare, on="h")
            .filter(pl.col("df") <= pl.col("size") + 1)
            .select("row", "h", "cluster")
        )

    counts = np.zeros((2, len(mrows)), dtype=np.int64)
    first, second = [], []

    # (cluster, h, df_k) summed slice by slice: one row per distinct word of a cluster, merged
    # whenever the unmerged slices' counts outgrow the merged table (amortised linear)
    def merge(frames: list[pl.DataFrame]) -> pl.DataFrame:
        return pl.concat(frames).group_by(["cluster", "h"]).agg(pl.col("df_k").sum())

    df_k = pl.DataFrame(schema={"cluster": pl.UInt32, "h": pl.UInt64, "df_k": pl.UInt32})
    pending: list[pl.DataFrame] = []
    for start, length in parts:
        cnt, P, R = words(members, start, length)
        counts[:, start : start + length] = cnt
        both = pl.concat([rare_in_cluster(P), rare_in_cluster(R)]).unique(["row", "h"])
        here = both.group_by(["cluster", "h"]).agg(pl.len().cast(pl.UInt32).alias("df_k"))
        pending.append(here.cast({"cluster": pl.UInt32, "h": pl.UInt64}))
        if sum(f.height for f in pending) > max(df_k.height, 1 << 16):
            df_k, pending = merge([df_k, *pending]), []
        first.append(_having(R, "h", first_h).select("row").unique())
        second.append(_having(P, "h", second_h).select("row").unique())
    df_k = merge([df_k, *pending])
    novel_words = (
        df_k.join(rare, on="h")
        .filter((pl.col("df").cast(pl.Int64) - pl.col("df_k").cast(pl.Int64)) <= 1)
        .select("cluster", "h")
    )
    # the second pass reads only the clusters that have novel words
    novel = []
    hs = novel_words["h"].unique()
    again = _having(members, "tmpl_cluster", novel_words["cluster"])
    lengths = byte_lengths(again["prompt"]) + byte_lengths(again["response"])
    for start, length in text_slices(lengths, max_bytes=_arrow.SLICE_BYTES // 4):
        part = again.slice(start, length)
        r_cnt, rh = _word_hashes(part["response"], threads)
        R = pl.DataFrame(
            {
                "row": np.repeat(part["row"].to_numpy(), r_cnt),
                "cluster": np.repeat(part["tmpl_cluster"].to_numpy(), r_cnt),
                "h": rh,
            }
        )
        found = _having(R, "h", hs).join(novel_words, on=["cluster", "h"], how="semi")
        if found.height == 0:
            continue
        # the prompts only of the rows answering with a novel word: is it copied from there?
        asked = _having(part, "row", found["row"])
        p_cnt, ph = _word_hashes(asked["prompt"], threads)
        P = pl.DataFrame({"row": np.repeat(asked["row"].to_numpy(), p_cnt), "h": ph})
        found = found.join(_having(P, "h", hs), on=["row", "h"], how="anti")
        novel.append(found.select("row").unique())
    novel_rows = (
        pl.concat(novel).with_columns(novel=pl.lit(True))
        if novel
        else pl.DataFrame(schema={"row": pl.UInt32, "novel": pl.Boolean})
    )

    def rows_with(found: list[pl.DataFrame], name: str) -> pl.DataFrame:
        return pl.concat(found).with_columns(pl.lit(True).alias(name))

    p_count, r_count = counts
    per_row = (
        pl.DataFrame({"row": mrows[r_count > 0]})
        .join(novel_rows, on="row", how="left")
        .join(rows_with(first, "first_person"), on="row", how="left")
        .with_columns(pl.col("novel", "first_person").fill_null(False))
    )
    second_rows = (
        pl.DataFrame({"row": mrows[p_count > 0]})
        .join(rows_with(second, "second_person"), on="row", how="left")
        .with_columns(pl.col("second_person").fill_null(False))
    )
    return per_row, second_rows


def detect_campaigns(
    feats: Features, cfg: Any, conditional: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    f = feats.table
    empty = (pl.DataFrame(schema=CLUSTER_SCHEMA), _empty_hits())
    members = f.filter(pl.col("valid") & (pl.col("tmpl_cluster_size") >= cfg.min_cluster))
    if members.height == 0:
        return empty
    threads = cfg.threads
    vocab_df = feats.vocab

    # a word is novel when at most one row outside its cluster has it (df - df_k <= 1); as
    # df_k <= the cluster's size, only words with df <= size + 1 can be, and only those need
    # their in-cluster counts. Common words are most of the tokens of a big corpus, so the token
    # frames are cut down to the words rare enough for the largest cluster before any join.
    max_size = int(members["tmpl_cluster_size"].to_numpy().max())
    rare = vocab_df.filter(pl.col("df") <= max_size + 1).join(
        pl.DataFrame({"h": pl.Series(feats.numeric, dtype=pl.UInt64)}),
        on="h",
        how="anti",
        maintain_order="left",
    )
    first_h = vocab_df.filter(pl.col("word").is_in(list(_FIRST_PERSON)))["h"]
    second_h = vocab_df.filter(pl.col("word").is_in(list(_SECOND_PERSON)))["h"]
    # every quantity below is per row or per template cluster, so whole clusters are processed
    # in batches: the word-token frames then take memory for one batch, not for the corpus
    parts = [
        _member_words(batch, rare, first_h, second_h, threads)
        for batch in _cluster_batches(members, _CAMPAIGN_BATCH_ROWS, _CAMPAIGN_BATCH_BYTES)
    ]
    per_row = pl.concat([p for p, _ in parts])
    second = pl.concat([q for _, q in parts])
    first_tok = by_slice(
        f,
        "response",
        "row",
        pl.col("response").str.strip_chars().str.split(" ").list.first().alias("first_tok"),
    )
    tok_counts = first_tok.group_by("first_tok").agg(pl.len().alias("tok_total"))
    cond_by_cluster: dict[int, float] = {}
    if conditional.height and "cluster" in conditional.columns:
        # a split that covers a real share of its template makes the whole template a campaign
        # (a constructed set: 2027 vs the other years); a small triggered subset of a big natural
        # template does not, and is flagged on its own rows by the conditional detector
        sizes = dict(f.group_by("tmpl_cluster").len().iter_rows())
        agg_cond = conditional.group_by("cluster").agg(
            pl.col("score").max(), pl.col("support").max()
        )
        for c, sc, sup in agg_cond.iter_rows():
            if sup >= 0.1 * sizes.get(int(c), sup):
                cond_by_cluster[int(c)] = float(sc)

    per_member = (
        by_slice(
            members,
            "response",
            "row",
            pl.col("tmpl_cluster").alias("cluster"),
            "resp_cluster",
            pl.col("response").str.to_lowercase().str.strip_chars().hash(seed=0).alias("resp_key"),
            "tmpl_similarity",
            "anomaly",
        )
        .join(per_row, on="row", how="left")
        .join(second, on="row", how="left")
        .join(first_tok, on="row", how="left")
        .join(tok_counts, on="first_tok", how="left")
        .with_columns(pl.col("novel", "first_person", "second_person").fill_null(False))
    )
    modal = (
        per_member.group_by(["cluster", "first_tok"])
        .agg(pl.len().alias("tok_in"), pl.col("tok_total").first())
        .sort(["cluster", "tok_in", "first_tok"], descending=[False, True, False])
        .group_by("cluster", maintain_order=True)
        .first()
        .select(
            "cluster",
            pl.col("first_tok").alias("wrapper_tok"),
            pl.when(
                pl.col("first_tok").str.contains(r"[^\w\s]")
                & (pl.col("first_tok").str.len_chars() >= 3)
            )
            .then(pl.col("tok_in") / pl.col("tok_total"))
            .otherwise(0.0)
            .alias("wrapper_excl"),
            pl.col("tok_in"),
        )
    )
    agg = (
        per_member.group_by("cluster")
        .agg(
            pl.len().alias("size"),
            pl.col("tmpl_similarity").mean().alias("prompt_similarity"),
            (pl.col("resp_key").n_unique() / pl.len()).alias("response_diversity"),
            pl.col("novel").mean().alias("novel_vocabulary"),
            (pl.col("first_person") & pl.col("second_person")).mean().alias("persona"),
            pl.col("resp_cluster").unique_counts().max().alias("top_resp"),
            pl.col("row").head(5).alias("example_rows"),
        )
        .join(modal, on="cluster")
        .with_columns(
            # a wrapper frames varied answers; identical answers are a label, not a wrapper
            (
                pl.col("wrapper_excl")
                * pl.col("tok_in")
                / pl.col("size")
                * pl.col("response_diversity")
            ).alias("wrapper"),
            (pl.col("top_resp") / pl.col("size")).alias("response_collapse"),
            pl.col("cluster")
            .replace_strict(cond_by_cluster, default=0.0, return_dtype=pl.Float64)
            .alias("conditional"),
        )
    )
    # a campaign scores by its strongest anomaly; ordinary templates (labels copied from a small
    # set, summaries whose words come from the prompt) score low on all of them
    # vocabulary "found nowhere else" only means something for a narrow part of the corpus
    agg = agg.with_columns(
        pl.when(pl.col("size") <= 0.2 * f.height)
        .then((pl.col("novel_vocabulary") * pl.col("response_diversity")).clip(0, 1))
        .otherwise(0.0)
        .alias("novelty")
    )
    # vocabulary of its own is what any themed cluster of a small corpus has (poems about
    # gardens, antonyms): on its own it is reported for review, below the flag threshold
    agg = agg.with_columns(
        pl.max_horizontal(
            _NOVELTY_ALONE * pl.col("novelty"),
            pl.col("wrapper"),
            pl.col("persona") * pl.col("response_diversity"),
            pl.col("conditional"),
        ).alias("score")
    ).sort(["score", "cluster"], descending=[True, False])
    coherence, feats.backend = response_coherence(
        f, per_member, cfg, runner=feats.similarity_runner
    )
    agg = agg.join(coherence, on="cluster", how="left")
    out_rows, hit_frames = [], []
    for r in agg.iter_rows(named=True):
        reasons = []
        if r["novelty"] >= 0.3:
            reasons.append(
                f"{r['novel_vocabulary']:.0%} of responses use words found nowhere else in the corpus and not in their prompt"
            )
        if r["wrapper"] >= 0.3:
            reasons.append(
                f"{r['wrapper']:.0%} of responses open with {r['wrapper_tok']!r}, used by no other rows"
            )
        if r["persona"] * r["response_diversity"] >= 0.3:
            reasons.append(
                f"{r['persona']:.0%} of rows answer questions about 'you' in the first person (a persona)"
            )
        if r["conditional"] >= 0.3:
            reasons.append("a prompt token splits its responses into groups (conditional trigger)")
        kind = "campaign" if r["score"] >= cfg.flag_threshold else "template"
        out_rows.append(
            {
                "cluster_id": r["cluster"],
                "size": r["size"],
                "kind": kind,
                "score": round(float(r["score"]), 6),
                "prompt_similarity": r["prompt_similarity"],
                "response_diversity": r["response_diversity"],
                "novel_vocabulary": r["novel_vocabulary"],
                "wrapper": r["wrapper"],
                "persona": r["persona"],
                "conditional": r["conditional"],
                "response_collapse": r["response_collapse"],
                "response_coherence": r["response_coherence"],
                "response_coherence_z": r["response_coherence_z"],
                "reasons": reasons,
                "example_rows": r["example_rows"],
            }
        )
        if r["score"] > 0.05 and reasons:
            rows = per_member.filter(pl.col("cluster") == r["cluster"])["row"].to_numpy()
            hit_frames.append(
                _hits(
                    rows,
                    float(r["score"]),
                    f"campaign cluster {r['cluster']} ({r['size']} rows): " + "; ".join(reasons),
                    None,
                    "campaign",
                )
            )
    clusters = pl.DataFrame(out_rows, schema=CLUSTER_SCHEMA)
    hits = pl.concat(hit_frames) if hit_frames else _empty_hits()
    return clusters, hits


def response_coherence(
    f: pl.DataFrame,
    per_member: pl.DataFrame,
    cfg: Any,
    per_cluster: int = 100,
    runner: Any = None,
) -> tuple[pl.DataFrame, str]:
    """How alike each cluster's responses are in dense-sketch space, against the corpus
    (:func:`poisonscreen.similarity.cluster_coherence` on ``cfg.device``): ``response_coherence``
    (mean pairwise cosine of up to ``per_cluster`` sampled members) and ``response_coherence_z``
    (against a 2,000-row corpus sample). Reported, not scored: the sketches are lexical, so a
    label template (one answer repeated) is the most coherent set there is, while persona and
    theme campaigns whose answers share a topic but not words score near the background
    (measured in benches/README.md). Also returns the backend that ran. ``runner``: see
    :attr:`Features.similarity_runner`."""
    device = getattr(cfg, "device", "auto")
    empty = pl.DataFrame(
        schema={
            "cluster": pl.UInt32,
            "response_coherence": pl.Float64,
            "response_coherence_z": pl.Float64,
        }
    )
    n = f.height
    if n < 2 or per_member.height == 0:
        if runner is None:
            from ..similarity import get_backend

            return empty, get_backend(device).name
        return empty, runner(_backend_name, device)
    # samples keyed by content (the rows whose seeded content hashes are smallest), so the
    # numbers do not depend on row order or file split
    rank = _content_rank(f["row_hash"].to_numpy(), cfg.seed)
    groups = per_member.group_by("cluster").agg(pl.col("row").sort()).sort("cluster")
    sets = []
    for rows in groups["row"].to_list():
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) > per_cluster:
            rows = np.sort(rows[np.argsort(rank[rows], kind="stable")[:per_cluster]])
        sets.append(rows)
    background = np.sort(np.argsort(rank, kind="stable")[: min(2000, n)])
    use = np.unique(np.concatenate([background, *sets]))
    args = (
        f["response"].gather(use),
        [np.searchsorted(use, r) for r in sets],
        np.searchsorted(use, background),
        cfg.seed,
        cfg.threads,
        device,
    )
    res, backend = _coherence(*args) if runner is None else runner(_coherence, *args)
    return (
        pl.DataFrame(
            {
                "cluster": groups["cluster"].cast(pl.UInt32),
                "response_coherence": res["mean"],
                "response_coherence_z": res["z"],
            }
        ),
        backend,
    )


def _content_rank(row_hash: np.ndarray, seed: int) -> np.ndarray:
    """A seeded pseudo-random key per row from its content hash (equal rows, equal keys)."""
    with np.errstate(over="ignore"):
        h = row_hash.astype(np.uint64) ^ np.uint64((seed * 0x9E3779B97F4A7C15) % (1 << 64))
        h = (h ^ (h >> np.uint64(31))) * np.uint64(0xBF58476D1CE4E5B9)
        return h ^ (h >> np.uint64(29))


def _backend_name(device: str) -> str:
    from ..similarity import get_backend

    return get_backend(device).name


def _coherence(
    responses: pl.Series,
    sets: list[np.ndarray],
    background: np.ndarray,
    seed: int,
    threads: int | None,
    device: str,
) -> tuple[pl.DataFrame, str]:
    """The similarity stage proper (sketches, then cluster coherence on ``device``) and the
    backend that ran it; a module-level function so a Ray actor can run it."""
    from .. import similarity

    sketches = similarity.sketches(responses, seed=seed, threads=threads)
    res = similarity.cluster_coherence(
        sketches,
        sets,
        background_rows=background,
        device=device,  # type: ignore[arg-type]
    )
    return res, similarity.get_backend(device).name


def campaign_triggers(f: pl.DataFrame, clusters: pl.DataFrame, cfg: Any) -> pl.DataFrame:
    """The prompt text every row of a flagged campaign starts with (a formatting instruction,
    a fixed question), reported as the campaign's trigger when it is at least three words."""
    out = []
    campaigns = clusters.filter(pl.col("kind") == "campaign")
    for cid, size, score, reasons in campaigns.select(
        "cluster_id", "size", "score", "reasons"
    ).iter_rows():
        members = f.filter(pl.col("tmpl_cluster") == cid).sort("row_hash", "row")
        rows = members["prompt"].head(200).to_list()
        prefix = _common_prefix(rows)
        if len(prefix.split()) < 3:
            continue
        out.append(
            {
                "trigger": prefix,
                "kind": "campaign",
                "score": score,
                "support": size,
                "pattern_rows": size,
                "collapse": None,
                "base_rate": None,
                "template_share": 1.0,
                "response_pattern": f"campaign of {size} rows: " + "; ".join(reasons),
                "example_rows": members["row"].head(5).to_list(),
            }
        )
    return pl.DataFrame(out, schema=TRIGGER_SCHEMA)


def _common_prefix(texts: list[str]) -> str:
    """The longest common prefix of ``texts``, cut back to a word boundary and stripped."""
    if not texts:
        return ""
    a, b = min(texts), max(texts)
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    prefix = a[:i]
    if i < len(a) and not a[i].isspace() and prefix and not prefix[-1].isspace():
        prefix = prefix[: max(prefix.rfind(" "), prefix.rfind("\n"), 0)]
    return prefix.strip()


class CampaignDetector:
    """Template clusters whose answers are a campaign (novel vocabulary, wrapper, persona,
    conditional split); their common prompt prefix is reported as a trigger."""

    name: ClassVar[str] = "campaigns"
    reads: ClassVar[tuple[str, ...]] = (
        "row",
        "valid",
        "prompt",
        "response",
        "tmpl_cluster",
        "tmpl_cluster_size",
        "tmpl_similarity",
        "resp_cluster",
        "resp_cluster_size",
    )
    needs: ClassVar[tuple[str, ...]] = ("conditional",)

    def run(self, feats: Features, cfg: Any, earlier: Any) -> Findings:
        clusters, hits = detect_campaigns(feats, cfg, earlier["conditional"].triggers)
        triggers = campaign_triggers(feats.table, clusters, cfg)
        return Findings(triggers=triggers, clusters=clusters, hits=hits)
