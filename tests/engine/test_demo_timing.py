"""The demo's time model (``a2video.demo.timing``): work counted, stages predicted, the stage clock.

The counts are checked against a generated synthetic set's list files, the predictions against
what each bound means (loader-bound, compute-bound, serial without workers), and the clock's
running estimate with a fake clock.
"""

from __future__ import annotations

import pytest

from a2video.demo import recipe as demo
from a2video.demo import timing as demo_timing
from a2video.demo.timing import Costs, StageClock, StageWork, predict_seconds

SIZE = demo.DemoSize(videos_per_class=5, pretrain_epochs=3, finetune_epochs=4, test_clips=2, test_crops=3,
                     finetune_val_every=2)


def costs(**changes: float) -> Costs:
    values = {"cores": 2, "threads": 1, "workers": 2, "train_step": 0.1, "eval_view": 0.001,
              "train_clip_load": 0.0001, "val_video_load": 0.0001, "test_video_load": 0.0001, "video_write": 0.02}
    return Costs(**{**values, **changes})


def lines(path: str) -> int:
    with open(path) as handle:
        return len(handle.read().splitlines())


def test_demo_work_counts_what_the_generated_sets_hold(synthetic_sets, tmp_path, monkeypatch):
    monkeypatch.setitem(demo.SIZES, "test", SIZE)
    configs = demo.demo_configs(str(tmp_path), size="test", workers=0)
    stages = {stage.name: stage for stage in demo_timing.demo_work(configs, SIZE.videos_per_class)}
    source, target = synthetic_sets("source", 5, 3), synthetic_sets("target", 5, 3)
    split = {name: {s: lines(getattr(dataset, f"{s}_list")) for s in ("train", "val", "test")}
             for name, dataset in (("source", source), ("target", target))}

    assert stages["data"].videos_written == sum(sum(counts.values()) for counts in split.values())
    batch = configs["pretrain"]["data"]["batch_size"]
    for name, dataset, epochs in (("pretrain", "source", 3), ("finetune", "target", 4)):
        stage = stages[name]
        train = split[dataset]["train"]
        # The loader drops an incomplete last batch when there is more than one batch.
        assert stage.steps_per_epoch == (train // batch if train > batch else 1)
        assert stage.train_steps == epochs * stage.steps_per_epoch
        assert stage.val_videos == split[dataset]["val"] and stage.val_views == 1
    assert stages["pretrain"].val_passes == 1  # once, after the last epoch
    assert stages["finetune"].val_passes == 4 // 2
    assert stages["test"].test_videos == split["target"]["test"]
    assert stages["test"].test_views == SIZE.test_clips * SIZE.test_crops


def test_data_stage_spreads_the_videos_over_the_cores():
    stage = StageWork("data", videos_written=300)
    assert predict_seconds(stage, costs(video_write=0.02, cores=4)) == pytest.approx(
        300 * 0.02 * (1 + demo_timing.WRITE_OVERHEAD) / 4)


def test_training_stage_is_bound_by_the_network_when_loading_is_cheap():
    stage = StageWork("pretrain", epochs=2, steps_per_epoch=10, batch_size=16, val_passes=0)
    fixed = (2 * demo_timing.EPOCH_OVERHEAD_STEPS + demo_timing.STAGE_OVERHEAD_STEPS) * 0.1
    expected = 20 * 0.1 * (1 + demo_timing.STEP_OVERHEAD) + fixed
    assert predict_seconds(stage, costs(train_clip_load=1e-6)) == pytest.approx(expected)


def test_training_stage_is_bound_by_the_workers_when_loading_dominates():
    stage = StageWork("pretrain", epochs=1, steps_per_epoch=10, batch_size=16, val_passes=0)
    slow_loading = costs(train_clip_load=0.05, workers=2, cores=16, threads=14)  # 0.8 s per batch, 2 workers
    network_part = predict_seconds(stage, costs(train_clip_load=1e-9, cores=16, threads=14))
    loader_part = 10 * 16 * 0.05 * (1 + demo_timing.LOAD_OVERHEAD) / 2
    fixed = (demo_timing.EPOCH_OVERHEAD_STEPS + demo_timing.STAGE_OVERHEAD_STEPS) * 0.1
    assert predict_seconds(stage, slow_loading) == pytest.approx(loader_part + fixed)
    assert predict_seconds(stage, slow_loading) > network_part


def test_without_workers_loading_and_computing_add_up():
    stage = StageWork("test", test_videos=10, test_views=12)
    serial = predict_seconds(stage, costs(workers=0, threads=2, test_video_load=0.5))
    fixed = demo_timing.STAGE_OVERHEAD_STEPS * 0.1
    assert serial == pytest.approx(10 * (12 * 0.001 + 0.5) + fixed)
    # With two workers on two cores the same work overlaps: less, but at least the loading spread over them.
    overlapped = predict_seconds(stage, costs(workers=2, threads=1, test_video_load=0.5))
    assert 10 * 0.5 / 2 + fixed <= overlapped < serial


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_stage_clock_rescales_the_rest_by_how_the_finished_training_stages_went():
    fake = FakeClock()
    clock = StageClock({"data": 10.0, "pretrain": 100.0, "finetune": 50.0, "test": 20.0}, now=fake)
    assert clock.begin("data") == "[0:00 elapsed, about 3:00 in all]"  # nothing measured yet: 180 s
    fake.now += 20.0  # the data took twice its prediction: other work, so no correction for training
    assert clock.begin("pretrain") == "[0:20 elapsed, about 3:10 in all]"  # 20 + 100 + 50 + 20
    fake.now += 150.0  # pre-training took 1.5 times its prediction: the rest is scaled by 1.5
    assert clock.begin("finetune") == f"[2:50 elapsed, about {demo_timing.clock(170 + 1.5 * 70)} in all]"
    fake.now += 50.0  # fine-tuning as predicted: 200 s spent on 150 predicted
    note = clock.begin("test")
    assert note == f"[3:40 elapsed, about {demo_timing.clock(220 + 20 * 200 / 150)} in all]"
    fake.now += 5.0
    clock.end()
    assert clock.records["data"]["wall_s"] == pytest.approx(20.0)
    assert clock.records["test"] == pytest.approx({"wall_s": 5.0, "predicted_s": 20.0,
                                                   "cpu_main_s": clock.records["test"]["cpu_main_s"],
                                                   "cpu_children_s": clock.records["test"]["cpu_children_s"]})
    assert clock.elapsed() == pytest.approx(225.0)


def test_clock_format():
    assert demo_timing.clock(0.4) == "0:00"
    assert demo_timing.clock(59.6) == "1:00"
    assert demo_timing.clock(3 * 60 + 7) == "3:07"
