"""Latency of architectures on devices: measured (here or on an agent), from a per-layer table, or predicted.

The one entry point most code needs is :func:`latency_for`, the best source available for a
device; :func:`measure_arch` measures (and caches) one architecture. This package is the
only part of hwsearch that imports onnxruntime.

Everything public is re-exported here from private sub-modules (``_measure``, ``_runtime``,
``_cache``, ``_agent``, ``_client``, ``_lut``, ``_lut_keys``, ``_lut_model``, ``_lut_kernels``,
``_lut_build``, ``_predictor``, ``_points``,
``_estimate``, ``_validation``, ``_loo``, ``_onnx_check``; the predictor's ``_features``,
``_fitting``, ``_corpus`` and ``_crossval``), and loaded only when first used:
a board that runs just the agent never imports numpy's fitting code, pydantic or the
profiles, and ``import hwsearch.latency`` costs nothing until a name is asked for. The
sub-modules import one another directly, never this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hwsearch._lazy import attach

# private sub-module -> the public names it provides
_PROVIDERS: dict[str, tuple[str, ...]] = {
    "_measure": ("cache_key", "measure_arch", "measure_model"),
    "_batch": ("batch_one",),
    "_cache": ("CACHE_ENV", "DEFAULT_CACHE", "CacheKey", "LatencyCache", "default_cache_path"),
    "_client": ("AgentClient",),
    "_agent": (
        "DEFAULT_HOST",
        "TOKEN_ENV",
        "AgentServer",
        "add_agent_arguments",
        "agent_main",
        "serve",
        "serve_parsed",
    ),
    "_onnx_check": ("check_onnx_bytes",),
    "_runtime": (
        "available_providers",
        "check_provider",
        "host_description",
        "measure_onnx",
        "open_session",
        "resolve_threads",
        "runtime_version",
        "time_session",
    ),
    "_estimate": ("Estimator", "estimator_for", "latency_for"),
    "_lut": ("LayerTable", "LookupTableError"),
    "_lut_keys": ("BlockKey", "arch_blocks", "space_block_keys", "with_leads"),
    "_lut_model": ("block_onnx",),
    "_lut_kernels": ("Kernel", "kernel_mismatches", "model_kernels"),
    "_lut_build": (
        "DEFAULT_ANCHORS",
        "BuildResult",
        "build_table",
        "check_buildable",
        "default_anchors",
        "lut_path",
        "plan_jobs",
    ),
    "_points": (
        "Point",
        "direct_points",
        "measured_points",
        "points_path",
        "published_points",
        "read_points_csv",
        "target_config",
        "write_measured_points",
    ),
    "_predictor": (
        "DevicePredictor",
        "FamilyPrior",
        "default_family",
        "family_pool",
        "family_profiles",
        "fit_device",
        "fit_family",
        "fit_predictor",
    ),
    "_validation": ("ValidationResult", "ValidationRow", "check_estimable", "sample_archs", "validate", "write_rows"),
    "_loo": ("LooRow", "configuration_loo", "device_loo", "loo_summary", "point_label"),
    "_crossval": ("RECIPE", "CvRow", "FamilyCheck", "Summary", "macs_line_ms", "recipe_archs", "summarize"),
    "_corpus": ("ConfigGroup", "Figure", "figure_family", "reference_figures", "reference_groups"),
    "_fitting": ("Hyper",),
}
__getattr__, __dir__, __all__ = attach(__name__, _PROVIDERS)

if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from hwsearch.latency._agent import (
        DEFAULT_HOST,
        TOKEN_ENV,
        AgentServer,
        add_agent_arguments,
        agent_main,
        serve,
        serve_parsed,
    )
    from hwsearch.latency._batch import batch_one
    from hwsearch.latency._cache import CACHE_ENV, DEFAULT_CACHE, CacheKey, LatencyCache, default_cache_path
    from hwsearch.latency._client import AgentClient
    from hwsearch.latency._corpus import ConfigGroup, Figure, figure_family, reference_figures, reference_groups
    from hwsearch.latency._crossval import (
        RECIPE,
        CvRow,
        FamilyCheck,
        Summary,
        macs_line_ms,
        recipe_archs,
        summarize,
    )
    from hwsearch.latency._estimate import Estimator, estimator_for, latency_for
    from hwsearch.latency._fitting import Hyper
    from hwsearch.latency._loo import LooRow, configuration_loo, device_loo, loo_summary, point_label
    from hwsearch.latency._lut import LayerTable, LookupTableError
    from hwsearch.latency._lut_build import (
        DEFAULT_ANCHORS,
        BuildResult,
        build_table,
        check_buildable,
        default_anchors,
        lut_path,
        plan_jobs,
    )
    from hwsearch.latency._lut_kernels import Kernel, kernel_mismatches, model_kernels
    from hwsearch.latency._lut_keys import BlockKey, arch_blocks, space_block_keys, with_leads
    from hwsearch.latency._lut_model import block_onnx
    from hwsearch.latency._measure import cache_key, measure_arch, measure_model
    from hwsearch.latency._onnx_check import check_onnx_bytes
    from hwsearch.latency._points import (
        Point,
        direct_points,
        measured_points,
        points_path,
        published_points,
        read_points_csv,
        target_config,
        write_measured_points,
    )
    from hwsearch.latency._predictor import (
        DevicePredictor,
        FamilyPrior,
        default_family,
        family_pool,
        family_profiles,
        fit_device,
        fit_family,
        fit_predictor,
    )
    from hwsearch.latency._runtime import (
        available_providers,
        check_provider,
        host_description,
        measure_onnx,
        open_session,
        resolve_threads,
        runtime_version,
        time_session,
    )
    from hwsearch.latency._validation import (
        ValidationResult,
        ValidationRow,
        check_estimable,
        sample_archs,
        validate,
        write_rows,
    )
