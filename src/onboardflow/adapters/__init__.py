"""Adapters: the code that talks to the external services (SPEC §9).

One package per service (``pumpd``, ``cdn``, ``extraction``, ``companies``), each with a ``protocol``
(the typed interface and its records), a ``simulated`` implementation (the default, deterministic for
a seed) and an ``http`` one; Pumpd also has a ``command`` one. Shared pieces: ``error_mapping`` (every
foreign failure becomes a typed error in one place), ``faults`` (failure injection and latency),
``simulation`` (call log and fault harness of the simulated services), ``http_client``, ``redaction``,
``sandbox`` (the simulated services served over HTTP) and ``registry`` (``build_adapters``).

Adapters import only ``onboardflow.errors`` and ``onboardflow.domain``; never the store, runtime,
API or CLI.
"""
