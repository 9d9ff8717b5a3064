"""MinHash signatures and near-duplicate clustering: poisonscreen against datasketch and rensa.

    python benches/run_peers.py                 # the full run (about 10 minutes on 2 cores)
    python benches/run_peers.py --quick         # small sizes, a smoke test (about 1 minute)

Builds the benchmark corpus once (``benches/corpus.py``) in a subprocess that writes it to an Arrow
IPC file in a temporary directory (deleted at the end; nothing is written to the repository), then
runs every measurement in a fresh subprocess, so each peak RSS is that measurement's own. Prints
a markdown table with the machine and the command.

Shingles for the peers: word 5-grams of ``text.lower().split()`` joined by spaces (texts with fewer
than 5 words: one shingle of all their words), built in Python inside the timed region.
poisonscreen shingles NFKC-normalised, case-folded text split into UAX#29 words, in Rust (more
work per byte). 128 permutations everywhere. Timings stop at each tool's native signature output
(datasketch: ``MinHash`` objects; rensa: its digest matrix / lists / objects; poisonscreen: a
NumPy array).

Peak RSS: the kernel's high-water mark is reset (``/proc/self/clear_refs``) after the input is
loaded, so ``peak`` is the high-water mark during the measurement (input included) and ``delta``
is peak minus the RSS with the input loaded. For 2-process runs it is parent + largest child
(an upper bound: forked children share the input pages).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NUM_PERM = 128
NGRAM = 5
THRESHOLD = 0.8
SEED = 0

# --------------------------------------------------------------------------------------------
# helpers shared by the workers


def shingles(text: str, k: int = NGRAM) -> list[str]:
    """Word k-grams of ``text.lower().split()`` (one shingle of all words if fewer than k)."""
    w = text.lower().split()
    if len(w) < k:
        return [" ".join(w)] if w else []
    return list({" ".join(w[i : i + k]) for i in range(len(w) - k + 1)})


def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _hwm_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _cpu() -> float:
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


class Meter:
    """Wall time, CPU time (self + children) and RSS high-water mark of one measurement."""

    def __enter__(self) -> Meter:
        _reset_hwm()
        self.base = _rss_kb()
        self.cpu0 = _cpu()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.cpu_s = _cpu() - self.cpu0
        self.peak = _hwm_kb()

    def result(self, **extra: object) -> dict:
        return {
            "seconds": self.seconds,
            "cpu_s": self.cpu_s,
            "base_kb": self.base,
            "peak_kb": self.peak,
            **extra,
        }


class UnionFind:
    def __init__(self, n: int) -> None:
        self.p = list(range(n))

    def find(self, x: int) -> int:
        p = self.p
        while p[x] != x:
            p[x] = p[p[x]]
            x = p[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if ra < rb:
                self.p[rb] = ra
            else:
                self.p[ra] = rb

    def clusters(self) -> tuple[int, int]:
        """(clusters of size > 1, rows in them)."""
        from collections import Counter

        c = Counter(self.find(i) for i in range(len(self.p)))
        big = [v for v in c.values() if v > 1]
        return len(big), sum(big)


# --------------------------------------------------------------------------------------------
# workers: each runs in its own process and prints one JSON line


def _load(path: str, rows: int):
    import pyarrow as pa

    with pa.OSFile(path) as f:  # read, not mmap: the input is anonymous memory like a real load
        table = pa.ipc.open_file(f).read_all()
    col = table.column(0)
    arr = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    return arr.slice(0, rows)  # zero-copy: no second copy of the text stays in the pool


_TEXTS: list[str] = []


def _sig_part(args: tuple[str, int, int]) -> tuple[float, float, int]:
    """Child of a 2-process run: (shingle s, hash s, rows) of the peer on its share of _TEXTS."""
    tool, lo, hi = args
    fn = PEER_SIGS[tool]
    return (*fn(_TEXTS[lo:hi]), hi - lo)


def _ds_sig(texts: list[str]) -> tuple[float, float]:
    from datasketch import MinHash

    t0 = time.perf_counter()
    sets = [[s.encode("utf-8") for s in shingles(t)] for t in texts]
    t1 = time.perf_counter()
    ms = MinHash.bulk(sets, num_perm=NUM_PERM, seed=SEED)
    t2 = time.perf_counter()
    assert len(ms) == len(texts)
    return t1 - t0, t2 - t1


def _rensa_update(texts: list[str]) -> tuple[float, float]:
    from rensa import RMinHash

    t0 = time.perf_counter()
    sets = [shingles(t) for t in texts]
    t1 = time.perf_counter()
    out = []
    for s in sets:
        m = RMinHash(NUM_PERM, SEED)
        m.update(s)
        out.append(m)
    t2 = time.perf_counter()
    assert len(out) == len(texts)
    return t1 - t0, t2 - t1


def _rensa_cupdate(texts: list[str]) -> tuple[float, float]:
    from rensa import CMinHash

    t0 = time.perf_counter()
    sets = [shingles(t) for t in texts]
    t1 = time.perf_counter()
    out = []
    for s in sets:
        m = CMinHash(NUM_PERM, SEED)
        m.update(s)
        out.append(m)
    t2 = time.perf_counter()
    assert len(out) == len(texts)
    return t1 - t0, t2 - t1


def _rensa_matrix(texts: list[str]) -> tuple[float, float]:
    from rensa import RMinHash

    t0 = time.perf_counter()
    sets = [shingles(t) for t in texts]
    t1 = time.perf_counter()
    m = RMinHash.digest_matrix_from_token_sets(sets, NUM_PERM, SEED)
    t2 = time.perf_counter()
    assert m.len() == len(texts)
    return t1 - t0, t2 - t1


def _rensa_cbulk(texts: list[str]) -> tuple[float, float]:
    from rensa import CMinHash

    t0 = time.perf_counter()
    sets = [shingles(t) for t in texts]
    t1 = time.perf_counter()
    d = CMinHash.digests_from_token_sets(sets, NUM_PERM, SEED)
    t2 = time.perf_counter()
    assert len(d) == len(texts)
    return t1 - t0, t2 - t1


PEER_SIGS = {
    "datasketch MinHash.bulk": _ds_sig,
    "rensa RMinHash.update": _rensa_update,
    "rensa CMinHash.update": _rensa_cupdate,
    "rensa RMinHash.digest_matrix_from_token_sets": _rensa_matrix,
    "rensa CMinHash.digests_from_token_sets": _rensa_cbulk,
}


def _ps_sig(arr, threads: int, as_list: bool, num_perm: int = NUM_PERM) -> dict:
    import poisonscreen
    from poisonscreen._arrow import text_chunks

    texts = arr.to_pylist() if as_list else arr
    with Meter() as m:
        sig = poisonscreen.minhash(texts, num_perm=num_perm, ngram=NGRAM, threads=threads)
    assert sig.shape == (len(arr), num_perm)
    extra = {}
    if as_list:  # what the list -> Arrow conversion alone costs
        t1 = time.perf_counter()
        text_chunks(texts)
        extra["convert_s"] = time.perf_counter() - t1
    return m.result(**extra)


def _ps_profile(arr) -> dict:
    """Where poisonscreen.minhash spends its time, 1 thread: the core call with parts switched off."""
    from poisonscreen import _poisonscreen as core
    from poisonscreen._arrow import text_chunks

    t0 = time.perf_counter()
    chunks, _ = text_chunks(arr)
    out = {"text_chunks (Arrow input)": time.perf_counter() - t0}
    cases = [
        ("num_perm=128, NFKC + casefold (the default)", 128, True, True),
        ("num_perm=1, NFKC + casefold", 1, True, True),
        ("num_perm=1, casefold only", 1, False, True),
        ("num_perm=1, neither (UAX#29 words + shingle hashing)", 1, False, False),
        ("num_perm=128, neither", 128, False, False),
    ]
    for name, p, nfkc, cf in cases:
        c0 = _cpu()
        core.signatures(
            chunks,
            num_perm=p,
            seed=0,
            threads=1,
            k=NGRAM,
            mode="word",
            nfkc=nfkc,
            casefold=cf,
            collapse_whitespace=True,
        )
        out[name] = _cpu() - c0
    return {"seconds": 0.0, "cpu_s": 0.0, "base_kb": 0, "peak_kb": 0, "profile": out}


def _ps_dups(arr, threads: int, verify: str) -> dict:
    import polars as pl

    import poisonscreen

    with Meter() as m:
        d = poisonscreen.near_duplicates(
            arr, threshold=THRESHOLD, num_perm=NUM_PERM, ngram=NGRAM, threads=threads, verify=verify
        )
    c = d.filter(pl.col("cluster_size") > 1)
    return m.result(clusters=c["cluster_id"].n_unique(), in_clusters=c.height)


def _ds_dups(texts: list[str]) -> dict:
    from datasketch import MinHash, MinHashLSH

    with Meter() as mt:
        ms = MinHash.bulk(
            [[s.encode("utf-8") for s in shingles(t)] for t in texts], num_perm=NUM_PERM, seed=SEED
        )
        lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
        with lsh.insertion_session() as sess:
            for i, m in enumerate(ms):
                sess.insert(i, m, check_duplication=False)
        uf = UnionFind(len(ms))
        for i, m in enumerate(ms):
            for j in lsh.query(m):
                if j > i and m.jaccard(ms[j]) >= THRESHOLD:
                    uf.union(i, j)
        nc, nr = uf.clusters()
    return mt.result(clusters=nc, in_clusters=nr, bands=f"{lsh.b}x{lsh.r}")


def _rensa_dups(texts: list[str], bands: int) -> dict:
    from rensa import RMinHash, RMinHashLSH

    with Meter() as mt:
        ms = RMinHash.from_token_sets([shingles(t) for t in texts], NUM_PERM, SEED)
        lsh = RMinHashLSH(THRESHOLD, NUM_PERM, bands)
        lsh.insert_many(ms)
        cands = lsh.query_all(ms)
        uf = UnionFind(len(ms))
        for i, cs in enumerate(cands):
            m = ms[i]
            for j in cs:
                if j > i and m.jaccard(ms[j]) >= THRESHOLD:
                    uf.union(i, j)
        nc, nr = uf.clusters()
    return mt.result(clusters=nc, in_clusters=nr, bands=f"{bands}x{NUM_PERM // bands}")


def worker(ns: argparse.Namespace) -> dict:
    import pyarrow.compute as pc

    # import the tool outside the timed region (and only that tool: baseline RSS stays its own)
    __import__({"p": "poisonscreen", "d": "datasketch", "r": "rensa"}[ns.tool[0]])

    arr = _load(ns.input, ns.rows)
    nbytes = int(pc.sum(pc.binary_length(arr)).as_py() or 0)
    kind, tool = ns.kind, ns.tool
    if kind == "sig" and tool.startswith("poisonscreen"):
        res = _ps_sig(arr, ns.threads, as_list="list" in tool, num_perm=ns.num_perm)
    elif kind == "sig":
        global _TEXTS
        _TEXTS = arr.to_pylist()
        del arr
        child_peak = 0
        with Meter() as m:
            if ns.procs == 1:
                sh_s, h_s = PEER_SIGS[tool](_TEXTS)
            else:
                import multiprocessing as mp

                n = len(_TEXTS)
                cuts = [n * i // ns.procs for i in range(ns.procs + 1)]
                jobs = [(tool, cuts[i], cuts[i + 1]) for i in range(ns.procs)]
                with mp.get_context("fork").Pool(ns.procs) as pool:
                    parts = pool.map(_sig_part, jobs)
                sh_s = max(p[0] for p in parts)
                h_s = max(p[1] for p in parts)
                child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        res = m.result(shingle_s=sh_s, hash_s=h_s)
        res["peak_kb"] += child_peak
    elif kind == "profile":
        res = _ps_profile(arr)
    elif kind == "dups" and tool.startswith("poisonscreen"):
        res = _ps_dups(arr, ns.threads, ns.verify)
    elif kind == "dups" and tool.startswith("datasketch"):
        texts = arr.to_pylist()
        del arr
        res = _ds_dups(texts)
    elif kind == "dups" and tool.startswith("rensa"):
        texts = arr.to_pylist()
        del arr
        res = _rensa_dups(texts, ns.bands)
    else:
        raise SystemExit(f"unknown measurement {kind} {tool}")
    res.update(rows=ns.rows, bytes=nbytes)
    return res


# --------------------------------------------------------------------------------------------
# driver


def _machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{model}, {os.cpu_count()} cores, {ram:.0f} GiB RAM, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for p in ("poisonscreen", "datasketch", "rensa", "pyarrow", "numpy"):
        try:
            out.append(f"{p} {version(p)}")
        except PackageNotFoundError:
            out.append(f"{p} (missing)")
    return ", ".join(out)


def _prepare(n: int, path: str) -> dict:
    code = (
        f"import sys, pyarrow as pa; sys.path.insert(0, {str(HERE)!r})\n"
        "from corpus import bench_corpus, corpus_summary\n"
        f"t = bench_corpus({n}); s = corpus_summary(t)\n"
        "a = pa.array(t, type=pa.large_string()); del t\n"
        "tb = pa.table({'text': a})\n"
        f"with pa.OSFile({path!r}, 'wb') as f:\n"
        "    with pa.ipc.new_file(f, tb.schema) as w: w.write_table(tb)\n"
        "import json; print(json.dumps(s))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _run(spec: dict, path: str, env_extra: dict | None = None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--input", path]
    for k in ("kind", "tool", "rows", "threads", "procs", "verify", "bands", "num_perm"):
        if k in spec:
            cmd += [f"--{k}", str(spec[k])]
    env = dict(os.environ)
    env.update(spec.get("env", {}))
    env.update(env_extra or {})
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        return {**spec, "error": (p.stderr.strip().splitlines() or ["?"])[-1]}
    res = json.loads(p.stdout.strip().splitlines()[-1])
    return {**spec, **res}


def _fmt_row(r: dict) -> str:
    label = r["label"]
    if "error" in r:
        return f"| {label} | {r.get('rows', '')} | {r.get('par', '')} | error: {r['error']} |||||||"
    docs = r["rows"] / r["seconds"]
    mbs = r["bytes"] / 1e6 / r["seconds"]
    notes = []
    if "clusters" in r:
        notes.append(f"{r['clusters']:,} clusters / {r['in_clusters']:,} rows")
    if "bands" in r:
        notes.append(f"LSH {r['bands']}")
    if "shingle_s" in r:
        notes.append(f"Python shingling {r['shingle_s']:.2f} s + hashing {r['hash_s']:.2f} s")
    if "convert_s" in r:
        notes.append(f"list→Arrow {r['convert_s']:.2f} s")
    if r.get("note"):
        notes.append(r["note"])
    return (
        f"| {label} | {r['rows']:,} | {r['par']} | {r['seconds']:.2f} | {docs:,.0f} | {mbs:.1f} | "
        f"{r['peak_kb'] / 1024:,.0f} | {(r['peak_kb'] - r['base_kb']) / 1024:,.0f} | "
        f"{r['cpu_s']:.1f} | {'; '.join(notes)} |"
    )


def plan(ns: argparse.Namespace) -> tuple[list[dict], list[dict]]:
    R, DS, RS, DSL, RSL = ns.rows, ns.ds_rows, ns.rensa_rows, ns.ds_lsh_rows, ns.rensa_lsh_rows
    one = {"RAYON_NUM_THREADS": "1"}
    two = {"RAYON_NUM_THREADS": "2"}
    sig = [
        dict(tool="datasketch MinHash.bulk", rows=DS, procs=1, par="1", env=one),
        dict(tool="datasketch MinHash.bulk", rows=DS, procs=2, par="2 procs", env=one),
        dict(tool="rensa RMinHash.update", rows=RS, procs=1, par="1", env=one),
        dict(tool="rensa CMinHash.update", rows=RS, procs=1, par="1", env=one),
        dict(
            tool="rensa RMinHash.digest_matrix_from_token_sets", rows=RS, procs=1, par="1", env=one
        ),
        dict(
            tool="rensa RMinHash.digest_matrix_from_token_sets",
            rows=RS,
            procs=1,
            par="1 + 2 rayon",
            env=two,
        ),
        dict(tool="rensa CMinHash.digests_from_token_sets", rows=RS, procs=1, par="1", env=one),
        dict(
            tool="rensa CMinHash.digests_from_token_sets",
            rows=RS,
            procs=1,
            par="1 + 2 rayon",
            env=two,
        ),
        dict(
            tool="rensa RMinHash.digest_matrix_from_token_sets",
            rows=RS,
            procs=2,
            par="2 procs",
            env=one,
        ),
        dict(tool="poisonscreen.minhash (Arrow)", rows=R, threads=1, par="1"),
        dict(tool="poisonscreen.minhash (Arrow)", rows=R, threads=2, par="2"),
        dict(tool="poisonscreen.minhash (list)", rows=R, threads=1, par="1"),
        dict(tool="poisonscreen.minhash (list)", rows=R, threads=2, par="2"),
        # where poisonscreen's time goes: the same call with fewer permutations
        dict(
            tool="poisonscreen.minhash (Arrow)",
            rows=R,
            threads=1,
            par="1",
            num_perm=1,
            note="profile: num_perm=1 (tokenise + shingle hash only)",
        ),
        dict(
            tool="poisonscreen.minhash (Arrow)",
            rows=R,
            threads=1,
            par="1",
            num_perm=32,
            note="profile: num_perm=32",
        ),
    ]
    for s in sig:
        s["kind"] = "sig"
        s["label"] = s["tool"]
    dups = [
        dict(
            tool="datasketch MinHashLSH",
            rows=DSL,
            par="1",
            label="datasketch MinHash.bulk + MinHashLSH + Python union-find",
        ),
        dict(
            tool="rensa RMinHashLSH",
            rows=RSL,
            par="1",
            bands=16,
            env=one,
            label="rensa RMinHash.from_token_sets + RMinHashLSH.insert_many/query_all + Python union-find",
        ),
    ]
    for verify in ("signature", "exact"):
        for t in (1, 2):
            dups.append(
                dict(
                    tool="poisonscreen",
                    rows=R,
                    threads=t,
                    verify=verify,
                    par=str(t),
                    label=f'poisonscreen.near_duplicates verify="{verify}"',
                )
            )
    dups.append(
        dict(
            tool="poisonscreen",
            rows=DSL,
            threads=1,
            verify="signature",
            par="1",
            label='poisonscreen.near_duplicates verify="signature"',
            note="same rows as datasketch (agreement check)",
        )
    )
    for d in dups:
        d["kind"] = "dups"
    big = []
    if ns.big:
        for verify, t in (("signature", 2), ("exact", 2), ("signature", 1)):
            big.append(
                dict(
                    kind="dups",
                    tool="poisonscreen",
                    rows=ns.big,
                    threads=t,
                    verify=verify,
                    par=str(t),
                    label=f'poisonscreen.near_duplicates verify="{verify}"',
                )
            )
    return sig, dups + big


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--kind", help=argparse.SUPPRESS)
    ap.add_argument("--tool", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--procs", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--verify", default="signature", help=argparse.SUPPRESS)
    ap.add_argument("--bands", type=int, default=16, help=argparse.SUPPRESS)
    ap.add_argument("--num_perm", type=int, default=NUM_PERM, help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=int, default=200_000, help="corpus rows (default 200000)")
    ap.add_argument(
        "--big", type=int, default=1_000_000, help="rows of the large poisonscreen run (0: skip)"
    )
    ap.add_argument("--ds-rows", type=int, default=20_000, help="datasketch signature subset")
    ap.add_argument("--rensa-rows", type=int, default=50_000, help="rensa signature subset")
    ap.add_argument("--ds-lsh-rows", type=int, default=50_000, help="datasketch clustering subset")
    ap.add_argument("--rensa-lsh-rows", type=int, default=200_000, help="rensa clustering rows")
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--only", help="run only measurements whose label contains this text")
    ns = ap.parse_args()
    if ns.worker:
        print(json.dumps(worker(ns)))
        return
    if ns.quick:
        ns.rows, ns.big, ns.ds_rows, ns.rensa_rows, ns.ds_lsh_rows, ns.rensa_lsh_rows = (
            20_000,
            0,
            2_000,
            5_000,
            5_000,
            20_000,
        )
    sys.path.insert(0, str(HERE))
    from corpus import DataMissing, has_data

    if not has_data():
        raise DataMissing("benchmark data missing: see benches/corpus.py")
    sig, dups = plan(ns)
    if ns.only:
        sig = [x for x in sig if ns.only in x["label"]]
        dups = [x for x in dups if ns.only in x["label"]]
    prof = {
        "kind": "profile",
        "tool": "poisonscreen",
        "rows": min(ns.rows, 100_000),
        "label": "profile",
    }
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="poisonscreen-bench-") as tmp:
        path = os.path.join(tmp, f"corpus_{ns.rows}.arrow")
        summ = _prepare(ns.rows, path)
        print(
            f"corpus: {summ['rows']:,} rows, {summ['mean_words']:.1f} words/row, {summ['mb']:.1f} MB",
            file=sys.stderr,
        )
        for spec in sig + [d for d in dups if d["rows"] <= ns.rows]:
            rows = spec["rows"] = min(spec["rows"], ns.rows)
            r = _run(spec, path)
            print(
                f"  {spec['label']} [{spec['par']}] {rows}: {r.get('seconds', r.get('error'))}",
                file=sys.stderr,
            )
            results.append(r)
        if not ns.only or "poisonscreen" in ns.only:
            results.append(_run(prof, path))
        big = [d for d in dups if d["rows"] > ns.rows]
        summ_big = None
        if big:
            os.remove(path)
            path = os.path.join(tmp, f"corpus_{ns.big}.arrow")
            summ_big = _prepare(ns.big, path)
            for spec in big:
                r = _run(spec, path)
                print(
                    f"  {spec['label']} [{spec['par']}] {spec['rows']}: {r.get('seconds', r.get('error'))}",
                    file=sys.stderr,
                )
                results.append(r)
    if ns.json:
        Path(ns.json).write_text(
            json.dumps({"corpus": summ, "corpus_big": summ_big, "results": results}, indent=1)
        )
    print(report(ns, summ, summ_big, results))


def report(ns, summ, summ_big, results) -> str:
    cmd = "python benches/run_peers.py " + " ".join(sys.argv[1:])
    lines = [
        f"Machine: {_machine()}  ",
        f"Versions: {_versions()}  ",
        f"Command: `{cmd.strip()}` ({_dt.date.today().isoformat()})  ",
        f"Corpus: {summ['rows']:,} rows, {summ['mean_words']:.1f} words/row, {summ['mb']:.1f} MB"
        + (
            f"; large: {summ_big['rows']:,} rows, {summ_big['mean_words']:.1f} words/row, {summ_big['mb']:.1f} MB"
            if summ_big
            else ""
        ),
        "",
        "| measurement | rows measured | threads | seconds | docs/s | MB/s | peak RSS MB | Δ RSS MB | CPU s | notes |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    profile = [r for r in results if r["kind"] == "profile" and "error" not in r]
    results = [r for r in results if r["kind"] != "profile"]
    sig = [r for r in results if r["kind"] == "sig"]
    dups = [r for r in results if r["kind"] == "dups"]
    lines.append("| **Signatures from raw text (128 perms, word 5-grams)** ||||||||||")
    lines += [_fmt_row(r) for r in sig]
    lines.append(f"| **Near-duplicate clusters at Jaccard {THRESHOLD}, end to end** ||||||||||")
    lines += [_fmt_row(r) for r in dups]
    ok = [r for r in results if "error" not in r]

    def rate(pred, key: str = "seconds") -> float | None:
        rs = [r["rows"] / max(r[key], 1e-9) for r in ok if pred(r)]
        return max(rs) if rs else None

    def ps(r: dict, t: int) -> bool:
        return (
            r["kind"] == "sig"
            and r["tool"] == "poisonscreen.minhash (Arrow)"
            and r["threads"] == t
            and r.get("num_perm", NUM_PERM) == NUM_PERM
        )

    ps1 = rate(lambda r: ps(r, 1))
    ps2 = rate(lambda r: ps(r, 2))
    rs1 = rate(lambda r: r["kind"] == "sig" and r["tool"].startswith("rensa") and r["par"] == "1")
    ds1 = rate(
        lambda r: r["kind"] == "sig" and r["tool"].startswith("datasketch") and r["par"] == "1"
    )
    ps1c = rate(lambda r: ps(r, 1), "cpu_s")
    rs1c = rate(
        lambda r: r["kind"] == "sig" and r["tool"].startswith("rensa") and r["par"] == "1", "cpu_s"
    )
    ds1c = rate(
        lambda r: r["kind"] == "sig" and r["tool"].startswith("datasketch") and r["par"] == "1",
        "cpu_s",
    )
    lines.append("")
    if ps1 and rs1 and ps1c and rs1c:
        lines.append(
            f"- signatures, 1 thread: poisonscreen / fastest rensa path = {ps1 / rs1:.1f}× wall, "
            f"{ps1c / rs1c:.1f}× per CPU-second (target ≥ 10×)"
        )
    if ps1 and ds1 and ps1c and ds1c:
        lines.append(
            f"- signatures, 1 thread: poisonscreen / datasketch = {ps1 / ds1:.1f}× wall, "
            f"{ps1c / ds1c:.1f}× per CPU-second (target ≥ 50×)"
        )
    if ps1 and ps2:
        lines.append(f"- signatures, 2-thread scaling of poisonscreen: {ps2 / ps1:.2f}×")
    for v in ("signature", "exact"):
        d1 = rate(
            lambda r, v=v: (
                r["kind"] == "dups"
                and r["tool"] == "poisonscreen"
                and r["verify"] == v
                and r["threads"] == 1
                and r["rows"] == ns.rows
            )
        )
        d2 = rate(
            lambda r, v=v: (
                r["kind"] == "dups"
                and r["tool"] == "poisonscreen"
                and r["verify"] == v
                and r["threads"] == 2
                and r["rows"] == ns.rows
            )
        )
        if d1 and d2:
            lines.append(f'- near_duplicates verify="{v}", 2-thread scaling: {d2 / d1:.2f}×')
    dd = rate(lambda r: r["kind"] == "dups" and r["tool"].startswith("datasketch"))
    rd = rate(lambda r: r["kind"] == "dups" and r["tool"].startswith("rensa"))
    pd1 = rate(
        lambda r: (
            r["kind"] == "dups"
            and r["tool"] == "poisonscreen"
            and r["verify"] == "signature"
            and r["threads"] == 1
            and r["rows"] == ns.rows
        )
    )
    if pd1 and dd:
        lines.append(
            f"- clustering, 1 thread: poisonscreen (signature) / datasketch = {pd1 / dd:.1f}×"
        )
    if pd1 and rd:
        lines.append(f"- clustering, 1 thread: poisonscreen (signature) / rensa = {pd1 / rd:.1f}×")
    for r in profile:
        lines += [
            "",
            f"Where poisonscreen.minhash spends its time ({r['rows']:,} rows, 1 thread, CPU seconds "
            "of the core call with parts switched off):",
            "",
            "| part | CPU s (text_chunks: wall s) |",
            "|---|---:|",
        ]
        lines += [f"| {k} | {v:.2f} |" for k, v in r["profile"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
