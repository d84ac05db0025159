"""report.md and its figures for a study's results directory.

Written to `RESULTS_DIR/report/`: report.md (the judge's health, the headline findings with
their verdicts and numbers, then one section per experiment with its table and figure, and
every judge step's health at the end) and the PNGs it links. Scores are IF_L(M) =
SxS(M, M_L) in percent with 95% bootstrap intervals; checker accuracy and language fidelity
are shares of responses in percent. Cells whose judge is unreliable (pinchjax.judge.health)
are left out of every score, table and finding.
"""
from __future__ import annotations

import os
from typing import Sequence

from pinchjax.judge import agreement, health, human_import
from pinchjax.study import figures, findings, runner
from pinchjax.study import grid as grid_lib
from pinchjax.study.results import Estimate, Judged, Results

REPORT_DIR = "report"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
  def line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
  return [line(header), "|" + "---|" * len(header), *map(line, rows), ""]


def _est(e: Estimate | None, r: Results | None = None, cfg: str = "",
         langs: Sequence[str] = ()) -> str:
  """The estimate; without one, `unreliable` when the judge of one of its cells is."""
  if e is not None:
    return str(e)
  return "unreliable" if r and any((cfg, l) in r.unreliable for l in langs) else "-"


def _pct(x: float | None) -> str:
  return "-" if x is None else f"{100 * x:.1f}"


def _mean_metric(r: Results, cfg: str, langs: Sequence[str], name: str) -> float | None:
  values = [v for l in langs if (v := r.metric(cfg, l, name)) is not None]
  return sum(values) / len(values) if values else None


def _steps(r: Results) -> list[str]:
  steps = r.manifest["steps"].values()
  count = {s: sum(e["status"] == s for e in steps) for s in ("done", "failed", "skipped")}
  seconds = sum(e.get("seconds", 0.0) for e in steps if e["status"] == "done")
  lines = [f"Steps: {count['done']} done, {count['failed']} failed, {count['skipped']} "
           f"skipped; {seconds:.0f} s of step time.", ""]
  for step_id, e in sorted(r.manifest["steps"].items()):
    if e["status"] == "failed":
      lines.append(f"- FAILED `{step_id}`: {e['error']}")
  return lines + [""] if len(lines) > 2 else lines


def _health_rows(judged: Sequence[Judged]) -> list[str]:
  def row(j: Judged) -> list[str]:
    h = j.health
    return [f"`{j.step}`", "-" if h["judge_games"] is None else str(h["judge_games"]),
            *(_pct(h[name]) for name in health.RATES),
            health.verdict(h) if j.reliable else f"**{health.verdict(h)}**"]
  return _table(("judge step", "judge calls", "parse errors %", "failed calls %",
                 "position consistency %", "first-slot preference %", "identical pairs %",
                 "reliable"), [row(j) for j in judged])


def _limits(r: Results) -> str:
  limits = sorted({(j.health.get("max_error_rate"), j.health.get("max_identical_share"))
                   for j in r.judged} - {(None, None)})
  return "; ".join(f"{_pct(e)}% and {_pct(i)}%" for e, i in limits) or "-"


def _health_summary(r: Results) -> list[str]:
  bad = [j for j in r.judged if not j.reliable]
  lines = ["## Judge health", "",
           f"{len(r.judged)} judge steps, {len(r.judged) - len(bad)} reliable, {len(bad)} "
           "unreliable. A judge step is unreliable when its unreadable (parse errors) and failed "
           "judge calls exceed `judge_health.max_error_rate` of its calls, or when more than "
           "`judge_health.max_identical_share` of its pairs tie as identical responses without "
           f"a call (here {_limits(r)}; the model judged against itself is exempt from the "
           "second). An unreliable cell is left out of every score, table and finding below; "
           "a finding that needs one is not measured. Every step's numbers are in "
           "[Judge health of every step](#judge-health-of-every-step).", ""]
  return lines + (_health_rows(bad) if bad else [])


def unreliable_judges(results_dir: str) -> list[str]:
  """One line per unreliable judge step of a results directory: which, and why."""
  return [f"UNRELIABLE {j.step}: {'; '.join(j.health['reasons'])}"
          for j in Results(results_dir).judged if not j.reliable]


def _human(r: Results) -> list[str]:
  """Judge-human agreement, when `pinchjax judge import-human` wrote it into the results
  directory (RESULTS_DIR/human/agreement.json, from a package exported with --study)."""
  path = os.path.join(r.dir, human_import.HUMAN_DIR, human_import.SUMMARY)
  if not os.path.exists(path):
    return []
  summary = runner.read_json(path)
  header, *rows = agreement.table_rows(summary)
  return ["## Human evaluation", "",
          f"Raters' labels on sampled judged pairs ({summary['labels_read']} labels; "
          f"{summary['ci_level']:.0%} bootstrap intervals over pairs). Agreement counts a tie "
          "as a third label (MT-Bench 'with ties'); 'w/o ties' keeps the votes where neither "
          "side says tie. The paper's judge-human agreement: en 79.5%, es 77%, ru 76.5%, "
          "he 75%.", "", *_table(header, rows)]


def _findings(r: Results) -> list[str]:
  rows = [(f.claim, f.here, f"**{f.verdict}**", f.rule) for f in findings.check_all(r)]
  return ["## Headline findings of the paper, in these results", "",
          *_table(("paper", "here", "verdict", "rule"), rows)]


def _mono(r: Results, out: str) -> list[str]:
  m = findings.mono_matrix(r)
  if not m:
    return []
  langs = r.languages
  lines = ["## Monolingual models: cross-lingual transfer", "",
           "IF_L(M_tuned) = SxS(M_tuned, M_L); rows: tuning language, columns: evaluated "
           "language. The diagonal is 50 by construction.", ""]
  if figures.transfer_heatmap(r, os.path.join(out, "transfer_heatmap.png")):
    lines += ["![transfer heatmap](transfer_heatmap.png)", ""]
  rows = [[f"mono_{t}"] + [f"{m[t][l]:.1f}" if l in m[t] else _est(None, r, f"mono_{t}", [l])
                           for l in langs]
          for t in langs if t in m]
  lines += _table(["tuned on"] + langs, rows)
  rows = [[f"mono_{t}"] + [_pct(r.metric(f"mono_{t}", l, "accuracy")) for l in langs]
          for t in langs if t in m]
  if any(x != "-" for row in rows for x in row[1:]):
    lines += ["Checker accuracy (% of responses with the right answer in the right language):",
              "", *_table(["tuned on"] + langs, rows)]
  return lines


def _diagnostics(r: Results) -> list[str]:
  """The base model's diagnostics (pinchjax.study.diagnostics), when the study measured
  them: why monolingual transfer does or does not happen."""
  entry = r.manifest["steps"].get(grid_lib.DIAGNOSE)
  if not entry or entry["status"] != "done":
    return []
  d = runner.read_json(os.path.join(r.dir, "steps", *grid_lib.DIAGNOSE.split("/"),
                                    entry["outputs"]["diagnostics"]))
  pivot = d["pivot"]
  rows = []
  for lang, x in d["languages"].items():
    best = x["similarity"][x["best_layer"]] if "similarity" in x else None
    per_layer = (" ".join(f"{s['parallel'] - s['shuffled']:+.2f}" for s in x["similarity"])
                 if best else "-")
    rows.append([lang, _pct(x["cloze"]), _pct(x.get("dictionary")),
                 "-" if best is None else f"{x['best_layer']}",
                 "-" if best is None else f"{best['parallel']:.2f} / {best['shuffled']:.2f}",
                 _pct(best and best["retrieval"]), per_layer])
  families = list(next(iter(d["languages"].values())).get("cloze_by_family", {}))
  by_family = ([*_table(["cloze % by family", *families],
                        [[lang, *(_pct(x["cloze_by_family"].get(f)) for f in families)]
                         for lang, x in d["languages"].items()])] if families else [])
  return ["## The base model's knowledge and links between languages", "",
          f"Measured on the base before tuning, over {d['items']} held-out facts (the eval "
          "items' facts). Cloze: % of fact statements whose answer the base predicts greedily "
          "from the words before it (does it know the facts in that language?). Dictionary: "
          f"% of forced choices \"word = ?\" to and from {pivot} won by the right word "
          f"(chance {100 * d['dictionary_chance']:.0f}%). Similarity: cosine of mean-pooled "
          f"hidden states of parallel statements in {pivot} and the language, centred per "
          "language, at the layer where it most exceeds shuffled pairs (layer 0: "
          f"embeddings); retrieval: % of {pivot} statements whose nearest neighbour is their "
          f"translation (chance {100 / d['items']:.1f}%). Transfer from {pivot} needs the "
          "facts known in the target language and shared representations.", "",
          *_table(["language", "cloze %", "dictionary %", "best layer",
                   "parallel / shuffled cosine", "retrieval %",
                   "parallel - shuffled per layer"], rows), *by_family]


def _sweep(r: Results, out: str, experiment: str, groups: dict[str, list[str]], title: str,
           figure: str, draw) -> list[str]:
  points = figures.sweep(r, experiment, groups)
  if not any(points.values()):
    return []
  lines = [f"## {title}", ""]
  if draw(r, os.path.join(out, figure)):
    lines += [f"![{title}]({figure})", ""]
  by_p: dict[float, dict[str, Estimate]] = {}
  for label, pts in points.items():
    for p, e in pts:
      by_p.setdefault(p, {})[label] = e
  cfgs = dict(r.sweep(experiment))
  rows = [[f"{p:g}" + (f" ({cfgs[p]})" if cfgs[p] == "mono_en" else "")]
          + [_est(by_p[p].get(label), r, cfgs[p], langs) for label, langs in groups.items()]
          + [_pct(_mean_metric(r, cfgs[p], langs, "accuracy")) for langs in groups.values()]
          for p in sorted(by_p)]
  header = (["P"] + [f"IF {label}" for label in groups]
            + [f"accuracy {label}" for label in groups])
  return lines + _table(header, rows)


def _num_langs(r: Results, out: str) -> list[str]:
  points = findings.unseen_points(r)
  if not points:
    return []
  lines = ["## Number of tuning languages", "",
           f"Unseen-language average IF ({', '.join(r.study['unseen'])}) of models tuned on "
           "K seen languages, budget split evenly, per ordering.", ""]
  if figures.num_languages_curve(r, os.path.join(out, "num_languages.png")):
    lines += ["![number of languages](num_languages.png)", ""]
  unseen = r.study["unseen"]
  rows = [[f"k{k}_o{o}", str(k), str(o), _est(r.score(cfg, unseen), r, cfg, unseen)]
          for (k, o), cfg in r.configs("num_langs")]
  return lines + _table(["model", "K", "ordering", "IF unseen average"], rows)


def _pairs(r: Results) -> list[str]:
  configs = r.configs("pairs")
  if not configs:
    return []
  rows = []
  for (l1, l2), cfg in configs:
    others = [l for l in r.languages if l not in (l1, l2)]
    rows.append([f"{l1}+{l2}", _est(r.score(cfg, others), r, cfg, others),
                 _pct(_mean_metric(r, cfg, others, "accuracy"))])
  return ["## Bilingual pairs", "", "Average over the languages outside each pair.", "",
          *_table(["pair", "IF others", "accuracy others"], rows)]


def _base(r: Results) -> list[str]:
  langs = [l for l in r.languages if r.has("base", l)]
  if not langs:
    return []
  return ["## The base model before tuning", "",
          *_table(["", *langs],
                  [["IF", *(f"{r.score('base', l).value:.1f}" for l in langs)],
                   ["accuracy", *(_pct(r.metric("base", l, "accuracy")) for l in langs)],
                   ["fidelity", *(_pct(r.metric("base", l, "fidelity")) for l in langs)]])]


def _fidelity(r: Results, out: str) -> list[str]:
  configs = sorted({cfg for cfg, _ in r.cells})
  if not figures.fidelity_heatmap(r, configs, os.path.join(out, "fidelity.png")):
    return []
  rows = [[cfg, _pct(_mean_metric(r, cfg, r.languages, "fidelity"))] for cfg in configs]
  return ["## Response-language fidelity", "",
          "Share of responses written in the instruction's language.", "",
          "![fidelity](fidelity.png)", "", *_table(["model", "fidelity (mean)"], rows)]


def build(results_dir: str) -> str:
  """Writes the report of a results directory; returns the path of report.md."""
  r = Results(results_dir)
  out = os.path.join(results_dir, REPORT_DIR)
  os.makedirs(out, exist_ok=True)
  s = r.study
  lines = [f"# Study report: {s['name']}", "",
           f"Dataset `{s['dataset']}`, eval set `{s['evalset']}`; languages "
           f"{', '.join(s['languages'])} (seen: {', '.join(s['seen'])}; unseen: "
           f"{', '.join(s['unseen']) or 'none'}); seeds {s['seeds']}; "
           f"{len(s['models'])} models, {len(r.cells)} scored (model, language) cells.", "",
           *_steps(r), *_health_summary(r), *_human(r), *_findings(r), *_mono(r, out),
           *_diagnostics(r),
           *_sweep(r, out, "pinch", figures.pinch_groups(r), "Pinch sweep", "pinch_curve.png",
                   figures.pinch_curve),
           *_sweep(r, out, "seen", figures.seen_groups(r), "Pinch over the seen languages",
                   "seen_curve.png", figures.seen_curve),
           *_num_langs(r, out), *_pairs(r), *_base(r), *_fidelity(r, out),
           "## Judge health of every step", "", *_health_rows(r.judged)]
  path = os.path.join(out, "report.md")
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(lines))
  return path
