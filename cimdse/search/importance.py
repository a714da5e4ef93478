"""Parameter importances of a run's trials table (Optuna's PED-ANOVA through `optuna_api`), for importance.png and
report.html."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from . import optuna_api as oa

IMPORTANCE_MAX_TRIALS = 1000   # feasible trials sampled into the in-memory study (0.1 ms each)


def param_importances(df, objectives: Sequence[tuple[str, str]], distributions: Mapping, seed: int = 0,
                      max_trials: int = IMPORTANCE_MAX_TRIALS) -> dict[str, dict[str, float]]:
    """{objective: {parameter: importance}} over the feasible rows of a trials table (at most `max_trials`,
    sampled with `seed`), each objective evaluated as a target in its own direction.

    A run computes them once (`cimdse.run.outputs.run_importances`) and hands the result to both importance.png and
    report.html (about 0.1 s per 1,000 trials, most of it Optuna copying trials into its in-memory study)."""
    feas = df[df["feasible"]]
    if len(feas) > max_trials:
        feas = feas.sample(max_trials, random_state=seed).sort_values("trial")
    names = list(distributions)
    metrics = [m for m, _ in objectives]
    values = feas[metrics].to_numpy(dtype=float) if metrics else feas[[]].to_numpy(dtype=float)
    params = feas[names].to_dict("records")
    return oa.param_importances(params, values, objectives, distributions)
