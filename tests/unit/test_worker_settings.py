"""The process settings of both services: workers and the garbage collector's tuning are checked
at start with the setting's name, and a worker's metrics address follows from the configured one."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from billing_common import gc_tuning, workers
from ledger_service.__main__ import cli as ledger_cli
from ledger_service.config import LedgerSettings
from rating_service.__main__ import cli as rating_cli
from rating_service.config import RatingSettings


def test_defaults_are_one_process_and_a_tuned_collector() -> None:
    for settings in (LedgerSettings(), RatingSettings()):
        assert settings.workers == 1
        assert settings.gc_freeze
        assert gc_tuning.gc_threshold(settings.gc_threshold) == (10_000, 50, 100)


@pytest.mark.parametrize("env", [{"WORKERS": "0"}, {"WORKERS": "65"}, {"WORKERS": "-2"}])
@pytest.mark.parametrize("prefix", ["LEDGER", "RATING"])
def test_a_worker_count_outside_its_range_is_refused_by_name(
    env: dict[str, str], prefix: str
) -> None:
    source = {f"{prefix}_{k}": v for k, v in env.items()}
    cls = LedgerSettings if prefix == "LEDGER" else RatingSettings
    with pytest.raises(ValueError, match=r"workers=-?\d+ is outside 1\.\.64"):
        cls.from_env(source)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("50000,50,100", (50_000, 50, 100)),
        (" 700,10,10 ", (700, 10, 10)),
        ("", None),
    ],
)
def test_gc_thresholds_are_read_or_left_to_python(
    text: str, expected: tuple[int, int, int] | None
) -> None:
    assert gc_tuning.gc_threshold(text) == expected


@pytest.mark.parametrize("text", ["50000", "a,b,c", "0,10,10", "50000,0,10", "1,2,3,4"])
def test_gc_thresholds_that_cannot_work_are_refused_by_name(text: str) -> None:
    with pytest.raises(ValueError, match="gc_threshold"):
        LedgerSettings(gc_threshold=text)
    with pytest.raises(ValueError, match="gc_threshold"):
        RatingSettings(gc_threshold=text)


@pytest.mark.parametrize("cli", [ledger_cli, rating_cli])
def test_the_command_line_exits_2_naming_a_bad_worker_count(
    cli: object, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli(["serve", "--workers", "0"])  # type: ignore[operator]
    assert exit_.value.code == 2
    assert "workers=0 is outside 1..64" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("listen", "worker", "expected"),
    [
        ("127.0.0.1:9464", 0, "127.0.0.1:9464"),
        ("127.0.0.1:9464", 3, "127.0.0.1:9467"),
        ("0.0.0.0:0", 2, "0.0.0.0:0"),
        ("", 1, ""),
    ],
)
def test_each_worker_serves_metrics_on_the_port_plus_its_index(
    listen: str, worker: int, expected: str
) -> None:
    assert workers.worker_metrics_listen(listen, worker) == expected


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    gc.callbacks.remove(gc_tuning._gc_observe)


@pytest.mark.usefixtures("restore_gc")
def test_tuning_freezes_start_up_objects_sets_thresholds_and_times_collections() -> None:
    gc_tuning.tune_gc(True, (60_000, 20, 30))
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (60_000, 20, 30)
    before = gc_tuning.GC_PAUSE.labels("2")._sum.get()  # type: ignore[attr-defined]
    gc.collect()
    assert gc_tuning.GC_PAUSE.labels("2")._sum.get() > before  # type: ignore[attr-defined]
