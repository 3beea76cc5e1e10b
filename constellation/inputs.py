"""Inputs given to run, execute or resume, checked against the pipeline's declared inputs."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from constellation.codec import DecodeError, decode
from constellation.errors import InputError
from constellation.ir import Pipeline
from constellation.suggest import did_you_mean
from constellation.types import show


def validate_inputs(
    pipeline: Pipeline,
    given: Mapping[str, object],
    *,
    already: Mapping[str, object] = {},
    validators: Mapping[str, Callable[[object], object]] | None = None,
) -> dict[str, object]:
    """The given inputs as run-time values; InputError names the first bad one and says why.

    Values are JSON-like (``json.loads`` output, or Python values of the same shapes).
    ``already`` are inputs an execution has (for resume: giving one again is an error).
    ``validators`` (``codec.validator`` per input, precomputed by a plan) are a faster
    ``decode``.
    """
    specs = pipeline.input_specs
    values: dict[str, object] = {}
    for name, value in given.items():
        spec = specs.get(name)
        if spec is None:
            known = sorted(specs)
            hint = did_you_mean(name, known)
            listed = ", ".join(f"'{k}'" for k in known) if known else "none"
            raise InputError(
                f"Unknown input '{name}': "
                + (hint[0].upper() + hint[1:] if hint else f"the pipeline's inputs are {listed}")
            )
        if name in already:
            raise InputError(f"Input '{name}' was already provided; it cannot be given again")
        try:
            values[name] = (
                validators[name](value) if validators is not None else decode(value, spec.type)
            )
        except DecodeError as err:
            where = f" at {err.path}" if err.path else ""
            detail = str(err).split(": ", 1)[1] if err.path else str(err)
            raise InputError(
                f"Input '{name}'{where}: {detail} (the input is declared as {show(spec.type)})"
            ) from None
    return values
