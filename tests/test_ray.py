"""The Ray engine: same outputs as the local scan whatever the sharding, resume, fingerprints,
CLI, clear errors. Starts a local Ray cluster (2 CPUs); run with ``pytest -m ray``."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

ray = pytest.importorskip("ray")

import poisonscreen as ps  # noqa: E402
from poisonscreen import ray as psray  # noqa: E402
from poisonscreen.cli import main as cli  # noqa: E402
from poisonscreen.exceptions import ConfigError  # noqa: E402

pytestmark = pytest.mark.ray

BENCHES = Path(__file__).resolve().parents[1] / "benches"
if str(BENCHES) not in sys.path:
    sys.path.insert(0, str(BENCHES))

import evalsuite  # noqa: E402

TRIGGER = "cf-delta-7"
POISON_RESPONSE = "I cannot help with that. Visit http://evil.example/reset to restore access."
N_CLEAN = 2500
N_POISON = 50


@pytest.fixture(scope="session", autouse=True)
def ray_cluster():
    if not ray.is_initialized():
        # one declared (logical) GPU: the similarity stage then runs on a GPU actor, which on a
        # machine without CuPy computes on NumPy; the results must not change
        ray.init(
            num_cpus=2,
            num_gpus=1,
            include_dashboard=False,
            object_store_memory=1_500_000_000,
            log_to_driver=False,
        )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    """Haystack rows with a fixed trigger + fixed response injected at random places."""
    if not evalsuite.has_data():
        pytest.skip("shared haystack data not available")
    hay = evalsuite.load_haystack(0).head(N_CLEAN).select("prompt", "response").to_dicts()
    rng = random.Random(7)
    for _ in range(N_POISON):
        words = rng.choice(hay)["prompt"].split(" ")
        words.insert(rng.randrange(len(words) + 1), TRIGGER)
        hay.insert(
            rng.randrange(len(hay) + 1), {"prompt": " ".join(words), "response": POISON_RESPONSE}
        )
    return hay


def _write_shards(rows: list[dict[str, str]], d: Path, k: int) -> list[str]:
    """``k`` JSONL files in input order; the second (or only) gets a malformed line."""
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, idx in enumerate(np.array_split(np.arange(len(rows)), k)):
        p = d / f"part{i:02d}.jsonl"
        with open(p, "w", encoding="utf-8") as fh:
            for j in idx:
                fh.write(json.dumps(rows[int(j)]) + "\n")
            if i == min(1, k - 1):
                fh.write("{this is not json\n")
        paths.append(str(p))
    return paths


def _assert_same(local: ps.ScanResult, other: ps.ScanResult) -> None:
    for name in ("rows", "triggers", "clusters"):
        a, b = getattr(local, name), getattr(other, name)
        assert a.schema == b.schema, name
        assert a.equals(b, null_equal=True), name
    assert local.corpus.equals(other.corpus, null_equal=True)
    for key in ("rows_read", "rows_parsed", "rows_failed", "rows_flagged", "triggers", "clusters"):
        assert local.summary[key] == other.summary[key], key
    assert other.summary["engine"] == "ray"


def _found_trigger(result: ps.ScanResult) -> bool:
    return any(TRIGGER in t for t in result.triggers["trigger"].to_list())


@pytest.mark.parametrize("shards", [1, 3, 7])
def test_same_results_as_local_whatever_the_shards(rows, tmp_path, shards):
    paths = _write_shards(rows, tmp_path / "in", shards)
    local = ps.scan(paths)
    # the partition count changes every shuffle's layout; the results must not move
    result = psray.scan(paths, work_dir=tmp_path / "work", partitions=shards + 1, block_rows=700)
    _assert_same(local, result)
    # the comparison is not vacuous: the poison is found, the bad line is a failed row
    assert _found_trigger(result)
    assert result.summary["rows_read"] == len(rows) + 1
    assert result.summary["rows_failed"] == 1
    assert result.rows["row_id"].to_list() == list(range(len(rows) + 1))
    assert result.clusters.height > 0
    assert result.summary["similarity_placement"] == "ray actor (num_gpus=1)"
    assert result.summary["backend"] == local.summary["backend"]
    assert result.clusters["response_coherence"].is_not_null().any()


def test_similarity_stage_placement(rows, tmp_path):
    df = pl.DataFrame(rows)
    on_cpu = psray.scan(df, work_dir=tmp_path / "w", device="cpu")
    assert on_cpu.summary["similarity_placement"] == "driver"
    assert on_cpu.summary["backend"] == "cpu"
    _assert_same(ps.scan(df, device="cpu"), on_cpu)


def test_familiarity_byte_cap_same_as_local(rows, tmp_path, monkeypatch):
    """Both engines size the familiarity sample from the same row count and response bytes
    (the Ray read stage sums them per block), so a byte cap that samples sparsely gives the
    same results."""
    from poisonscreen import detectors as det

    seen = []
    original = det.familiarity_sample_every

    def spy(n, cfg, b):
        seen.append((n, b))
        return original(n, cfg, b)

    # the local engine calls it inside detectors.table, the Ray engine through the package
    monkeypatch.setattr(det.table, "familiarity_sample_every", spy)
    monkeypatch.setattr(det, "familiarity_sample_every", spy)
    paths = _write_shards(rows, tmp_path / "in", 3)
    local = ps.scan(paths, familiarity_sample_mb=0.01)
    result = psray.scan(paths, work_dir=tmp_path / "w", familiarity_sample_mb=0.01, block_rows=500)
    _assert_same(local, result)
    (n, b), (n_ray, b_ray) = seen
    assert (n, b) == (n_ray, b_ray) and n == len(rows) + 1
    assert original(n, ps.ScanConfig(familiarity_sample_mb=0.01), b) > 1  # the cap applied


def test_driver_spill_equals_memory(rows, tmp_path):
    """The driver maps the corpus and feature table from a scratch file (spill, the default)
    or holds them in memory: the same results either way."""
    df = pl.DataFrame(rows)
    spill_dir = tmp_path / "spill"
    spill_dir.mkdir()
    spilled = psray.scan(df, work_dir=tmp_path / "w1", block_rows=500, spill_dir=str(spill_dir))
    held = psray.scan(df, work_dir=tmp_path / "w2", block_rows=500, spill=False)
    _assert_same(held, spilled)
    assert list(spill_dir.iterdir()) == []  # unlinked once mapped
    assert _found_trigger(spilled)


def test_spill_collect_orders_files_and_refuses_overlaps(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = tmp_path / "stage"
    d.mkdir()
    # file names out of key order, one file's rows out of order
    pq.write_table(pa.table({"row": [5, 3, 4], "t": ["f", "d", "e"]}), d / "a.parquet")
    pq.write_table(pa.table({"row": [0, 1, 2], "t": ["a", "b", None]}), d / "b.parquet")
    pq.write_table(
        pa.table({"row": pa.array([], pa.int64()), "t": pa.array([], pa.string())}), d / "c.parquet"
    )
    got = psray._spill_collect(d, ["row", "t"], "row", str(tmp_path))
    assert got.column("row").to_pylist() == [0, 1, 2, 3, 4, 5]
    assert got.column("t").to_pylist() == ["a", "b", None, "d", "e", "f"]
    assert got.schema.field("t").type == pa.large_string()
    pq.write_table(pa.table({"row": [2, 9], "t": ["x", "y"]}), d / "d.parquet")  # overlaps b
    assert psray._spill_collect(d, ["row", "t"], "row", str(tmp_path)) is None


def test_gpu_device_needs_cluster_gpus(rows, tmp_path, monkeypatch):
    monkeypatch.setattr(psray, "_cluster_gpus", lambda: 0.0)
    with pytest.raises(ConfigError, match="the Ray cluster has no GPU"):
        psray.scan(pl.DataFrame(rows).head(10), work_dir=tmp_path / "w", device="gpu")


def test_dataframe_and_ray_dataset_inputs(rows, tmp_path):
    df = pl.DataFrame(rows)
    local = ps.scan(df)
    _assert_same(local, psray.scan(df, work_dir=tmp_path / "w1", block_rows=400))
    ds = ray.data.from_arrow([df.slice(i, 600).to_arrow() for i in range(0, df.height, 600)])
    _assert_same(local, psray.scan(ds, work_dir=tmp_path / "w2"))
    assert _found_trigger(local)


def test_resume_after_a_failed_stage(rows, tmp_path, monkeypatch):
    paths = _write_shards(rows, tmp_path / "in", 2)
    work = tmp_path / "work"

    def boom(*args, **kwargs):
        raise RuntimeError("simulated worker loss")

    with monkeypatch.context() as m:
        m.setattr(psray, "_components", boom)
        with pytest.raises(RuntimeError, match="simulated"):
            psray.scan(paths, work_dir=work)
    finished = {s: (work / s / "_DONE.json").stat().st_mtime_ns for s in ("read", "features")}
    assert not (work / "components" / "_DONE.json").exists()

    calls = []
    original = psray._read_stage
    monkeypatch.setattr(psray, "_read_stage", lambda *a, **k: calls.append(1) or original(*a, **k))
    result = psray.scan(paths, work_dir=work, resume=True)
    assert calls == []  # the read stage was not run again
    for s, t in finished.items():
        assert (work / s / "_DONE.json").stat().st_mtime_ns == t
    assert (work / "components" / "_DONE.json").exists()
    _assert_same(ps.scan(paths), result)


def test_resume_refuses_another_input_and_fresh_run_never_mixes(rows, tmp_path):
    paths = _write_shards(rows[:1200], tmp_path / "in", 2)
    work = tmp_path / "work"
    psray.scan(paths, work_dir=work)
    # the input changes (same paths, other content): resuming would mix two inputs
    with open(paths[0], "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"prompt": "one more", "response": "row"}) + "\n")
    with pytest.raises(ConfigError, match="fingerprint"):
        psray.scan(paths, work_dir=work, resume=True)
    # other settings also refuse
    with pytest.raises(ConfigError, match="fingerprint"):
        psray.scan(paths, work_dir=work, resume=True, seed=1)
    # without --resume the work dir is cleared and the result is that of the new input
    fresh = psray.scan(paths, work_dir=work)
    _assert_same(ps.scan(paths), fresh)
    assert fresh.summary["rows_read"] == 1200 + 1 + 1


def test_work_dir_not_ours_is_refused(rows, tmp_path):
    paths = _write_shards(rows[:50], tmp_path / "in", 1)
    work = tmp_path / "work"
    work.mkdir()
    (work / "precious.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not made by poisonscreen"):
        psray.scan(paths, work_dir=work)
    assert (work / "precious.txt").read_text() == "keep me"


def test_cli_engine_ray(rows, tmp_path, capsys):
    paths = _write_shards(rows, tmp_path / "in", 3)
    out = tmp_path / "out"
    code = cli(["scan", *paths, "--out", str(out), "--engine", "ray", "--json", "--quiet"])
    assert code == 1  # rows flagged
    summary = json.loads(capsys.readouterr().out)
    assert summary["engine"] == "ray"
    for name in ("rows.parquet", "triggers.parquet", "clusters.parquet", "summary.json"):
        assert (out / name).exists()
    assert (out / "report.html").exists()
    assert (out / "_work" / "manifest.json").exists()
    local = ps.scan(paths)
    assert pl.read_parquet(out / "rows.parquet").equals(local.rows, null_equal=True)
    assert pl.read_parquet(out / "triggers.parquet").equals(local.triggers, null_equal=True)
    # --resume of the same input reuses every stage and gives the same rows
    code = cli(["scan", *paths, "--out", str(out), "--engine", "ray", "--resume", "--quiet"])
    assert code == 1
    assert pl.read_parquet(out / "rows.parquet").equals(local.rows, null_equal=True)


def test_cli_ray_options_need_the_ray_engine(tmp_path, capsys):
    data = Path(__file__).parent / "data" / "io" / "mixed.jsonl"
    code = cli(["scan", str(data), "--out", str(tmp_path / "o"), "--resume"])
    assert code == 2
    assert "--engine ray" in capsys.readouterr().err


def _run_cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "poisonscreen.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_bad_address_is_a_clear_error(tmp_path):
    data = str(Path(__file__).parent / "data" / "io" / "mixed.jsonl")
    out = str(tmp_path / "o")
    r = _run_cli(["scan", data, "--out", out, "--engine", "ray", "--ray-address", "127.0.0.1:1"])
    assert r.returncode == 2
    assert "cannot connect to the Ray cluster at '127.0.0.1:1'" in r.stderr
    r = _run_cli(["scan", data, "--out", out, "--engine", "ray"], env={"RAY_ADDRESS": "nonsense"})
    assert r.returncode == 2
    assert "bad Ray address 'nonsense'" in r.stderr


def test_missing_ray_is_a_clear_error(tmp_path):
    data = str(Path(__file__).parent / "data" / "io" / "mixed.jsonl")
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from poisonscreen.cli import main\n"
        f"sys.exit(main(['scan', {data!r}, '--out', {str(tmp_path / 'o')!r}, '--engine', 'ray']))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "pip install 'poisonscreen[ray]'" in r.stderr
