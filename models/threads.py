"""sklearn's OpenMP threads, held to one while the models fit and predict.

HistGradientBoosting runs on OpenMP threads, by default one per core. On a machine whose cores are
busy with anything else (a host serving, a Prefect worker, a test run) those threads spin-wait for
each other: measured here (2 cores) on `wasmops models backtest-forecast` of a 1,300-hour series,
2.5 s with the default on an idle machine and 2.4 s on one thread; with two CPU-bound processes
beside it 7.7 s against 2.6 s; and in a full test run (about five runnable processes) one backtest
took 282 s instead of 1 s. Our fits are small (a few thousand rows): a second thread gains
nothing measurable on an idle machine, so they always run on one, whatever ``OMP_NUM_THREADS``
says. ``threadpoolctl`` (sklearn's own dependency) sets the limit; its controller is built once
(~2.5 ms), each limit costs ~15 µs.
"""

from __future__ import annotations

from functools import wraps

_controller = None


def one_thread(fn):
    """Run ``fn`` with OpenMP (sklearn's native loops) on one thread."""

    @wraps(fn)
    def inner(*args, **kwargs):
        with _limit():
            return fn(*args, **kwargs)

    return inner


def _limit():
    global _controller
    if _controller is None:
        import sklearn.ensemble  # noqa: F401 - loads the OpenMP runtime the controller must see
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="openmp")
