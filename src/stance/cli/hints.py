"""One-line hints for Hydra composition errors a new user meets first.

``hint_for_missing_config`` turns Hydra's multi-line "Could not find 'data/NAME'"
(a ``MissingConfigException``, which Hydra reports with exit status 1) into one line
that lists the configs there are and says how to add a folder of one's own.
:func:`stance.cli.common.run_hydra` prints it as ``error: ...`` and exits 2.
"""

from __future__ import annotations

from hydra.errors import MissingConfigException

HOW_TO_ADD = ("to use your own, put {path}.yaml in a folder of yours and add it with --config-dir DIR "
              "or 'hydra.searchpath=[file:///abs/DIR]' (docs/data.md)")


def hint_for_missing_config(err: BaseException) -> str | None:
    """The one-line message for a config that Hydra could not find, or None for other errors."""
    if not isinstance(err, MissingConfigException):
        return None
    path = err.missing_cfg_file or "?"
    group, _, name = path.rpartition("/")
    if not group:  # a primary config (train, prepare...): the install itself is broken, or --config-name is wrong
        return f"no primary config {path!r} in the search path; check --config-name and --config-dir"
    options = sorted(err.options or [])
    have = f"the {group} configs are {', '.join(options)}" if options else f"there are no {group} configs"
    return f"no config {group}={name} ({path}.yaml): {have}; " + HOW_TO_ADD.format(path=path)
