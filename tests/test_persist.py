"""Storing finished batches on a second process (cimdse/search/persist.py): every batch lands in the journal, in
order, by the time `close` returns, and a failure there is raised by the run."""

from __future__ import annotations

import multiprocessing as mp

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import create_trial

from cimdse.search.optuna_api import open_storage
from cimdse.search.persist import BatchStore

needs_fork = pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="no fork on this platform")


def _batch(start: int, n: int) -> list:
    return [create_trial(params={"x": i}, distributions={"x": IntDistribution(0, 10_000)}, values=[float(i)],
                         user_attrs={"energy_uj": i * 0.5}) for i in range(start, start + n)]


@needs_fork
@pytest.mark.parametrize("background", [False, True])
def test_every_batch_is_stored_in_order_when_close_returns(tmp_path, background):
    storage = open_storage(None, tmp_path)
    study = optuna.create_study(storage=storage, study_name="s")
    store = BatchStore(study, background=background)
    for k in range(5):
        store.add(_batch(25 * k, 25))
    store.close()
    again = optuna.load_study(study_name="s", storage=open_storage(None, tmp_path))
    trials = again.get_trials()
    assert [t.number for t in trials] == list(range(125))
    assert [t.params["x"] for t in trials] == list(range(125))
    assert trials[-1].user_attrs == {"energy_uj": 62.0}
    assert not mp.active_children()


class _Broken:
    def add_trials(self, trials):
        raise OSError(28, "No space left on device")


@needs_fork
def test_a_failure_on_the_storing_process_is_raised():
    store = BatchStore(_Broken(), background=True)
    store.add(_batch(0, 2))
    with pytest.raises(RuntimeError, match="storing the trials in the study failed"):
        store.close()
    assert not mp.active_children()
