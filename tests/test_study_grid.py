"""The study grid: the paper's experiments as deduplicated train -> infer -> judge steps."""
import gin
import pytest

from pinchjax import languages
from pinchjax.data import mixtures
from pinchjax.study import grid


def _study(**kw):
  return grid.Study(name="t", dataset="toy", evalset="toy_eval", **kw)


def test_full_paper_grid_counts():
  g = grid.expand(_study())
  kinds = [s.kind for s in g.steps]
  # 12 mono + 12 pinch + 11 seen (P=0 is pinch_p0) + (1 + 5x3) num_langs (K=1 is English
  # only in every ordering) + 6 pairs.
  assert kinds.count("train") == 12 + 12 + 11 + 16 + 6 == 57
  # 12x12 + 12x12 + 11x12 + 16 models x 6 unseen + 6 pairs x 10 others.
  assert kinds.count("infer") == kinds.count("judge") == 144 + 144 + 132 + 96 + 60 == 576
  assert len({s.id for s in g.steps}) == len(g.steps)


def test_steps_follow_their_dependencies():
  g = grid.expand(_study())
  seen = set()
  for s in g.steps:
    assert set(s.deps) <= seen, s.id
    seen.add(s.id)


def test_judge_against_monolingual_baseline():
  g = grid.expand(_study(experiments=("pinch",), pinch_values=(10,), languages=("en", "fi")))
  steps = {s.id: s for s in g.steps}
  judge = steps["judge/pinch_p10_s0/fi"]
  assert judge.params["baseline"] == "mono_fi_s0"
  assert judge.deps == ("infer/pinch_p10_s0/fi", "infer/mono_fi_s0/fi")
  assert steps["train/mono_fi_s0"].params["mixture"] == "toy_mono_fi"
  assert steps["infer/pinch_p10_s0/fi"].params["task"] == "toy_eval_fi"
  # Baselines are trained and scored only in their own language when not in the mono matrix.
  assert "infer/mono_fi_s0/en" not in steps
  # The diagonal (baseline against itself) depends on one generation file.
  assert steps["judge/mono_fi_s0/fi"].deps == ("infer/mono_fi_s0/fi",)
  assert sorted(g.models) == ["mono_en_s0", "mono_fi_s0", "pinch_p10_s0"]


def test_shared_models_are_one_step_with_all_tags():
  g = grid.expand(_study(experiments=("pinch", "seen"), languages=("en", "fi", "cs"),
                         seen=("en", "fi"), pinch_values=(0, 10), seen_pinch_values=(0, 10)))
  assert g.models["pinch_p0_s0"].tags == {"pinch": 0, "seen": 0}
  assert g.models["pinch_seen_p10_s0"].mixture == "toy_pinch_seen_p10"
  assert [s.id for s in g.steps].count("train/pinch_p0_s0") == 1


def test_num_langs_scored_on_unseen_and_pairs_on_the_others():
  g = grid.expand(_study(experiments=("num_langs", "pairs"), languages=("en", "fi", "cs", "zh"),
                         seen=("en", "fi"), k_values=(1, 2), pairs=(("fi", "en"), ("zh", "cs"))))
  cells = set(g.cells)
  assert {("k2_o1_s0", "cs"), ("k2_o1_s0", "zh")} <= cells
  assert ("k2_o1_s0", "en") not in cells
  assert [m for m in g.models if m.startswith("k")] == ["k1_o0_s0", "k2_o0_s0", "k2_o1_s0",
                                                         "k2_o2_s0"]
  assert g.models["k2_o2_s0"].tags == {"num_langs": [2, 2]}
  assert {("pair_fi_en_s0", "cs"), ("pair_fi_en_s0", "zh")} <= cells
  assert ("pair_fi_en_s0", "en") not in cells
  assert g.models["pair_zh_cs_s0"].mixture == "toy_pair_zh_cs"


def test_data_step_comes_first_and_feeds_train_and_infer():
  g = grid.expand(_study(experiments=("mono",), languages=("en",), data={"fn": "f"},
                         base_checkpoint="b"))
  steps = {s.id: s for s in g.steps}
  assert g.steps[0].id == "data" and g.steps[0].params == {"fn": "f"}
  assert steps["train/mono_en_s0"].deps == ("data",)
  assert steps["infer/mono_en_s0/en"].deps == ("data", "train/mono_en_s0")
  assert steps["infer/base/en"].deps == ("data",)
  assert steps["judge/base/en"].deps == ("infer/base/en", "infer/mono_en_s0/en")


def test_seeds_and_base_model():
  g = grid.expand(_study(experiments=("mono",), languages=("en", "fi"), seeds=(0, 1),
                         base_checkpoint="toy_base/checkpoint"))
  assert sorted(g.models) == ["base", "mono_en_s0", "mono_en_s1", "mono_fi_s0", "mono_fi_s1"]
  steps = {s.id: s for s in g.steps}
  assert steps["infer/base/fi"].params["checkpoint"] == "toy_base/checkpoint"
  assert steps["infer/base/fi"].deps == ()
  assert steps["judge/base/fi"].params["baseline"] == "mono_fi_s0"
  assert steps["judge/mono_en_s1/fi"].params["baseline"] == "mono_fi_s1"


def test_default_pairs_are_the_data_layers():
  g = grid.expand(_study(experiments=("pairs",), pairs_seed=3))
  pairs = [tuple(m.tags["pairs"]) for m in g.models.values() if "pairs" in m.tags]
  assert pairs == mixtures.random_pairs(languages.PAPER_LANGUAGES, 3)
  assert sorted(l for p in pairs for l in p) == sorted(languages.PAPER_LANGUAGES)
  with pytest.raises(ValueError, match="odd"):
    grid.expand(_study(experiments=("pairs",), languages=("en", "fi", "cs")))


def test_bad_studies_fail_with_the_field_named():
  with pytest.raises(ValueError, match="unknown experiment 'monolingual'"):
    _study(experiments=("monolingual",))
  with pytest.raises(ValueError, match="k_values: 7"):
    grid.expand(_study(experiments=("num_langs",), k_values=(7,)))
  with pytest.raises(languages.UnknownLanguageError):
    _study(languages=("en", "xx"))
  with pytest.raises(ValueError, match="include 'en'"):
    _study(languages=("fi", "cs"), seen=("fi",))


def test_study_from_gin():
  gin.clear_config()
  gin.parse_config("""
      Study.name = 'g'
      Study.dataset = 'toy'
      Study.evalset = 'toy_eval'
      Study.languages = 'en,fi'
      Study.seen = ['en']
      Study.experiments = ['mono']
      Study.train = {'gin_files': ['gin/runs/tune.gin']}
  """)
  try:
    study = grid.Study()
  finally:
    gin.clear_config()
  assert study.languages == ("en", "fi") and study.unseen == ("fi",)
  train = [s for s in grid.expand(study).steps if s.kind == "train"]
  assert train[0].params == {"model": "mono_en_s0", "mixture": "toy_mono_en", "seed": 0,
                             "gin_files": ["gin/runs/tune.gin"], "study_bindings": [
      "import pinchjax.data.registry",
      "register_configured.datasets = ['toy']",
      "register_configured.evalsets = ['toy_eval']",
      "register_dataset.languages = ['en', 'fi']",
      "register_dataset.seen = ['en']",
      "register_dataset.budget = None",
      "register_dataset.seed = 0",
      "register_dataset.percents = []",  # no pinch experiment: no pinch mixture
      "register_dataset.n_orderings = 3",
      "register_evalset.languages = ['en', 'fi']"]}


def test_study_level_gin_leaves_out_the_study():
  gin.clear_config()
  gin.parse_config("""
      import pinchjax.data.registry
      DATA_DIR = '/d'
      Study.name = 'g'
      Study.languages = ['en', 'fi']
      register_configured.data_dir = %DATA_DIR
  """)
  try:
    text = grid.study_level_gin()
    gin.clear_config()
    gin.parse_config("Study.name = 'only the study'")
    assert grid.study_level_gin() == ""
  finally:
    gin.clear_config()
  assert "Study" not in text and "DATA_DIR = '/d'" in text
  assert "register_configured.data_dir = %DATA_DIR" in text
  steps = {s.kind: s for s in grid.expand(_study(experiments=("mono",), languages=("en",),
                                                 data={"fn": "f"}), text).steps}
  assert steps["data"].params["study_bindings"] == [text]
  assert steps["judge"].params["study_bindings"] == [text]
  assert steps["train"].params["study_bindings"][0] == text  # then the registration


def test_data_languages_reach_the_registration():
  study = _study(experiments=("pinch", "seen"), languages=("en", "fi", "zh"),
                 data_languages="paper", data_seen="seen", pinch_values=(10, 100),
                 seen_pinch_values=(0, 10))
  bindings = grid.registration_bindings(study)
  assert f"register_dataset.languages = {list(languages.PAPER_LANGUAGES)!r}" in bindings
  assert f"register_dataset.seen = {list(languages.SEEN)!r}" in bindings
  assert "register_dataset.percents = [0, 10, 100]" in bindings
  assert "register_evalset.languages = ['en', 'fi', 'zh']" in bindings  # scored languages
  assert study.seen == ("en", "fi")
  with pytest.raises(ValueError, match=r"data_languages lacks evaluated languages: \['zh'\]"):
    _study(languages=("en", "zh"), data_languages=("en", "fi"))
  with pytest.raises(ValueError, match="disagree on the evaluated languages"):
    _study(languages=("en", "fi", "zh"), seen=("en",), data_languages="paper",
           data_seen="seen")
