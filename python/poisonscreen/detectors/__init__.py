"""The screening detectors, one module each behind one small interface.

A detector (:class:`~poisonscreen.detectors.base.Detector`) names the feature-table columns it
reads (``reads``) and the earlier detectors whose findings it uses (``needs``), and its ``run``
returns :class:`~poisonscreen.detectors.base.Findings` (triggers, clusters, per-row hits).
:func:`poisonscreen.scan.detect` runs :data:`DETECTORS` in order, each as a timed stage of its
``name``, then :func:`~poisonscreen.detectors.combine.combine` gives one score per row.

No model is involved: every signal is a count over the corpus itself.

- ``triggers`` (:mod:`.triggers`) — prompt features whose carriers' responses share a pattern.
- ``counterparts`` (:mod:`.counterparts`) — near-identical prompts, one with an inserted span,
  whose answers diverge.
- ``conditional`` (:mod:`.conditional`) — inside a template cluster, a prompt token whose rows
  answer with words the other rows of the template never use.
- ``campaigns`` (:mod:`.campaigns`) — template clusters whose responses carry out-of-corpus
  vocabulary, a wrapper only that cluster uses, a first-person persona, or a conditional split.
- ``anomalies`` (:mod:`.anomalies`) — gibberish and degenerate repetition.

The feature table itself is built in :mod:`.table`.
"""

from __future__ import annotations

from .anomalies import AnomalyDetector, detect_anomalies
from .base import (
    CLUSTER_SCHEMA,
    HIT_SCHEMA,
    TRIGGER_SCHEMA,
    Detector,
    Findings,
    _csr_tokens,
    _short_prompt_tokens,
    surface_form,
)
from .campaigns import CampaignDetector, campaign_triggers, detect_campaigns, response_coherence
from .combine import combine
from .conditional import ConditionalDetector, _leading_tokens, detect_conditional
from .counterparts import CounterpartDetector, detect_counterparts
from .table import (
    Features,
    FeatureText,
    assemble_features,
    by_slice,
    derive_texts,
    documents,
    familiarity_sample_every,
    feature_text,
    feature_texts,
    row_columns,
    row_features,
    template_text,
    vocab_frame,
)
from .triggers import TriggerDetector, detect_triggers

#: the detectors a scan runs, in order (a detector's ``needs`` come before it)
DETECTORS: list[Detector] = [
    TriggerDetector(),
    CounterpartDetector(),
    ConditionalDetector(),
    CampaignDetector(),
    AnomalyDetector(),
]

__all__ = [
    "CLUSTER_SCHEMA",
    "DETECTORS",
    "HIT_SCHEMA",
    "TRIGGER_SCHEMA",
    "AnomalyDetector",
    "CampaignDetector",
    "ConditionalDetector",
    "CounterpartDetector",
    "Detector",
    "FeatureText",
    "Features",
    "Findings",
    "TriggerDetector",
    "_csr_tokens",
    "_leading_tokens",
    "_short_prompt_tokens",
    "assemble_features",
    "by_slice",
    "campaign_triggers",
    "combine",
    "derive_texts",
    "detect_anomalies",
    "detect_campaigns",
    "detect_conditional",
    "detect_counterparts",
    "detect_triggers",
    "documents",
    "familiarity_sample_every",
    "feature_text",
    "feature_texts",
    "response_coherence",
    "row_columns",
    "row_features",
    "surface_form",
    "template_text",
    "vocab_frame",
]
