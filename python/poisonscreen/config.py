"""Settings of a scan (:class:`ScanConfig`), shared by the local engine, the Ray engine, the
CLI and every detector."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .exceptions import ConfigError


@dataclass(frozen=True)
class ScanConfig:
    """Settings of a scan. Defaults suit corpora of thousands to billions of rows."""

    seed: int = 0
    flag_threshold: float = 0.5
    #: least carriers of a trigger candidate (a prompt feature): rarer features are not tested
    min_support: int = 10
    #: least carriers showing a response pattern for it to be tested against a feature
    min_pattern: int = 8
    #: most carriers of a trigger candidate, as a share of the usable rows (in a small corpus at
    #: least min(300, a tenth of the rows): published attacks put a trigger on up to 300 rows)
    trigger_max_share: float = 0.02
    #: family-wise error rate of the trigger tests: a feature is a trigger when its statistic
    #: reaches ln(tests / trigger_alpha), so on clean data false triggers are this unlikely
    trigger_alpha: float = 0.01
    trigger_orders: tuple[int, ...] = (1, 2, 3, 4)
    response_similarity: float = 0.5
    template_similarity: float = 0.4
    min_cluster: int = 20
    num_perm: int = 64
    familiarity_sample: int = 300_000
    #: most text (MB) of the familiarity reference: responses longer on average than
    #: ``familiarity_sample_mb / familiarity_sample`` are sampled more sparsely, so that the
    #: reference's bigram table does not grow with the length of the responses
    familiarity_sample_mb: float = 128.0
    threads: int | None = None
    #: where the similarity stage (cluster coherence) runs: "auto" (a GPU when CuPy finds one,
    #: else the CPU), "cpu" or "gpu"; summary.json's "backend" says which ran
    device: str = "auto"
    #: hold the corpus text in a memory-mapped scratch file (in ``spill_dir``, default the
    #: system temporary directory, or /var/tmp where that is a tmpfs; the file is unlinked as
    #: soon as it is mapped) instead of in process memory: the kernel pages text in and out as
    #: the stages read it, so the scan's own memory grows with the number of rows, not with the
    #: length of their text. It needs about 2.5x the corpus text in free disk space
    spill: bool = True
    spill_dir: str | None = None
    #: most memory (MB) for the table of every prompt's token hashes that trigger mining keeps
    #: so that each prompt is tokenised once rather than once per mining pass (8 bytes per
    #: token; estimated before it is built as 2 bytes per byte of prompt text, which English
    #: text stays under). A corpus whose table would not fit is mined from the text, slower
    #: and with no memory per token (see benches/README.md); 0: never keep the table
    token_table_mb: float = 2048
    #: most text (MB) whose shingle sets the near-duplicate clusterings' exact Jaccard check
    #: holds at once (about 1.5 bytes per byte of text); candidate pairs whose rows hold more
    #: are verified in blocks, slower, with the same result. The Ray engine verifies per batch
    verify_text_mb: float = 512

    # --- what a run must have screened, and input limits (issue 16). Kept in one block ---
    #: the largest share of rows that may fail to parse (0..1) for the run to count as screened:
    #: above it, or when no row parsed at all, ``scan`` raises :class:`InputError` (CLI exit 3)
    #: instead of returning findings about the few rows it could read
    max_failed: float = 0.01
    #: deepest nesting of a record's JSON (the record itself is level 1); deeper records fail
    #: with a reason instead of exhausting the parser's stack
    max_depth: int = 64
    #: longest record: a JSON Lines line of more bytes is skipped without being held in memory,
    #: a record of another format whose text (system + prompt + response) has more characters
    #: fails; both become failed rows with a reason
    max_row_bytes: int = 64 << 20

    def _validate_run_limits(self) -> None:
        """Checks of the block above, and of the integers the core takes unsigned."""
        if not (math.isfinite(self.max_failed) and 0.0 <= self.max_failed <= 1.0):
            raise ConfigError(f"max_failed must be a fraction in [0, 1], got {self.max_failed}")
        for name, low in (("max_depth", 2), ("max_row_bytes", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ConfigError(f"{name} must be an integer of at least {low}, got {v!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")
        if not 0 <= self.seed < 2**64:
            raise ConfigError(f"seed must be in 0 .. 2**64-1, got {self.seed}")
        if self.threads is not None and (
            isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1
        ):
            raise ConfigError(f"threads must be a positive integer or None, got {self.threads!r}")

    def validate(self, check_device: bool = True) -> None:
        self._validate_run_limits()
        if not 0.0 < self.flag_threshold <= 1.0:
            raise ConfigError(f"flag_threshold must be in (0, 1], got {self.flag_threshold}")
        if self.min_support < 2:
            raise ConfigError(f"min_support must be at least 2, got {self.min_support}")
        if self.min_pattern < 2:
            raise ConfigError(f"min_pattern must be at least 2, got {self.min_pattern}")
        if not 0.0 < self.trigger_max_share <= 1.0:
            raise ConfigError(f"trigger_max_share must be in (0, 1], got {self.trigger_max_share}")
        if not 0.0 < self.trigger_alpha < 1.0:
            raise ConfigError(f"trigger_alpha must be in (0, 1), got {self.trigger_alpha}")
        if not self.trigger_orders or min(self.trigger_orders) < 1 or max(self.trigger_orders) > 8:
            raise ConfigError(f"trigger_orders must be in 1..8, got {self.trigger_orders}")
        for name in ("response_similarity", "template_similarity"):
            v = getattr(self, name)
            if not 0.0 < v < 1.0:
                raise ConfigError(f"{name} must be in (0, 1), got {v}")
        if self.min_cluster < 2:
            raise ConfigError(f"min_cluster must be at least 2, got {self.min_cluster}")
        if self.device not in ("auto", "cpu", "gpu"):
            raise ConfigError(f"device must be 'auto', 'cpu' or 'gpu', got {self.device!r}")
        if self.familiarity_sample < 1:
            raise ConfigError(
                f"familiarity_sample must be at least 1, got {self.familiarity_sample}"
            )
        if not (math.isfinite(self.familiarity_sample_mb) and self.familiarity_sample_mb > 0):
            raise ConfigError(
                f"familiarity_sample_mb must be a positive number, got {self.familiarity_sample_mb}"
            )
        if self.token_table_mb < 0:
            raise ConfigError(f"token_table_mb must be at least 0, got {self.token_table_mb}")
        if not (math.isfinite(self.verify_text_mb) and self.verify_text_mb > 0):
            raise ConfigError(
                f"verify_text_mb must be a positive number, got {self.verify_text_mb}"
            )
        if self.spill_dir is not None and not Path(self.spill_dir).is_dir():
            raise ConfigError(f"spill_dir {self.spill_dir!r} is not a directory")
        if self.device == "gpu" and check_device:
            from .similarity import get_backend

            get_backend("gpu")  # says what is missing before any work starts
