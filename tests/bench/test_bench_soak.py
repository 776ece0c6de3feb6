"""The short soak of CI: every scenario runs and nothing fails (issue 12, permanent tests)."""

from __future__ import annotations

from latentstage.bench.soak import SoakConfig, run_soak


def test_a_short_soak_tries_every_scenario_and_nothing_fails(tmp_path):
    config = SoakConfig(minutes=0.1, sessions=2, fps=10, cycles=40, kills=2, slow_readers=1,
                        idle=1)
    outcomes = {o.name: o for o in run_soak(config, tmp_path)}
    assert set(outcomes) == {"sessions", "connect/disconnect", "kill -9 during save",
                             "slow readers", "idle sessions", "attacks"}
    for o in outcomes.values():
        assert o.tried > 0 and o.failed == 0, (o.name, o.failures)
    assert outcomes["connect/disconnect"].tried == 40
    assert outcomes["kill -9 during save"].tried == 2
    assert outcomes["attacks"].tried == 8


def test_the_soak_command_prints_the_table(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from latentstage.bench import soak as bench_soak
    from latentstage.runtime.cli import app

    def quick(config, folder=None, progress=None):
        assert (config.minutes, config.kills) == (0.5, 0)
        out = bench_soak.Outcome("sessions", 10, "poses", figures=["2 sessions"])
        broken = bench_soak.Outcome("attacks", 8, "attacks")
        broken.fail("image bombs: expected INVALID_ARGUMENT")
        return [out, broken]

    monkeypatch.setattr(bench_soak, "run_soak", quick)
    result = CliRunner().invoke(app, ["bench", "soak", "--minutes", "0.5", "--kills", "0"])
    assert result.exit_code == 1  # a failure is an exit status, not only a line
    assert "sessions" in result.output and "10 poses" in result.output
    assert "image bombs: expected INVALID_ARGUMENT" in result.output
