"""A terminal table of one judging's scores (the dict from pinchjax.judge.scoring.score)."""
from __future__ import annotations

from typing import Any

from pinchjax.judge import health


def _num(x: float | None, fmt: str = "{:.1f}") -> str:
  return "-" if x is None else fmt.format(x)


def _ci(ci: list[float] | None) -> str:
  return "-" if ci is None else f"[{ci[0]:.1f}, {ci[1]:.1f}]"


def render(scores: dict[str, Any]) -> str:
  fid = scores["fidelity"]["candidate"]["per_language"]
  rows = [("lang", "score", f"{scores['ci_level']:.0%} CI", "n", "W/T/L", "unscored",
           "in-lang")]
  for lang, s in scores["per_language"].items():
    rows.append((lang, _num(s["score"]), _ci(s["ci"]), str(s["n"]),
                 f"{s['wins']}/{s['ties']}/{s['losses']}", str(s["unscored"]),
                 _num(fid[lang]["share"], "{:.0%}")))
  macro = scores["macro"]
  rows.append(("macro", _num(macro["score"]), _ci(macro["ci"]), "", "", "",
               _num(scores["fidelity"]["candidate"]["share"], "{:.0%}")))
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
  lines = [f"{scores['candidate_run']} vs {scores['baseline_run']} "
           f"(judge {scores['judge_id']}, prompt {scores['prompt_id']})"]
  lines += ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                      enumerate(zip(r, widths))) for r in rows]
  d = scores["diagnostics"]
  lines.append(
      f"position consistency {_num(d['position_consistency'], '{:.2f}')}, first-slot "
      f"preference {_num(d['first_slot_preference'], '{:.2f}')}, parse errors "
      f"{d['parse_errors']}, failed calls {d['failures']}, cached {d['cached_games']}/"
      f"{d['judge_games']}, mean length ratio {_num(d['mean_length_ratio'], '{:.2f}')}")
  h = scores["health"]
  lines.append(f"identical pairs (tied without a call) {_num(h['identical_share'], '{:.0%}')}; "
               f"judge reliable: {health.verdict(h)}")
  return "\n".join(lines)
