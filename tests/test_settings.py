import re
from pathlib import Path

import pytest

from reko.errors import SettingsError
from reko.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_defaults_point_to_the_embedded_index(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env({})
    # the relative default is resolved once, against the working directory at read time
    assert s.data_dir == tmp_path / "reko-data" and s.data_dir.is_absolute()
    monkeypatch.chdir("/")
    assert s.data_dir == tmp_path / "reko-data"
    assert s.resolved_index_url.startswith("sqlite:////") and s.resolved_index_url.endswith("/reko-data/index.db")
    assert s.analyzer == "local" and s.sample_fps == 1.0


def test_environment_values_are_parsed_into_their_types(tmp_path):
    s = Settings.from_env({"REKO_DATA_DIR": str(tmp_path), "REKO_SAMPLE_FPS": "2.5",
                           "REKO_SEGMENT_GAP_MS": "3000", "REKO_INDEX_URL": "http://127.0.0.1:9200"})
    assert s.data_dir == tmp_path and s.sample_fps == 2.5 and s.segment_gap_ms == 3000
    assert s.resolved_index_url == "http://127.0.0.1:9200"


@pytest.mark.parametrize("env", [{"REKO_SAMPLE_FPS": "fast"}, {"REKO_SAMPLE_FPS": "0"},
                                 {"REKO_SEGMENT_PAD_MS": "-5"}, {"REKO_ANALYZER": "magic"},
                                 {"REKO_WORKERS": "1.5"}])
def test_bad_values_raise_a_settings_error_naming_the_variable(env):
    with pytest.raises(SettingsError, match=next(iter(env))):
        Settings.from_env(env)


def test_a_data_dir_that_is_a_file_is_a_settings_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SettingsError, match="REKO_DATA_DIR.*is a file"):
        Settings.from_env({"REKO_DATA_DIR": str(tmp_path / "file")})


def test_every_setting_is_documented_in_the_readme():
    readme = README.read_text(encoding="utf-8")
    documented = set(re.findall(r"`(REKO_[A-Z_]+)`", readme))
    names = {env for env, _, _ in Settings.documented()}
    missing = names - documented
    assert not missing, f"settings missing from README.md: {sorted(missing)}"
    assert not documented - names, "README documents settings that do not exist"
