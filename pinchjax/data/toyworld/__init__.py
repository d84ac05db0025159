"""A synthetic 12-language world for miniature instruction-tuning studies on a CPU.

Twelve languages (the paper's, in their own scripts, with disjoint vocabularies and
different word orders and affixes) name the same 93 concepts. A pretraining corpus states
facts about them in plain sentences; eight instruction task families ask about those facts
in every language, with parallel train and eval sets and a deterministic checker.

  build_toyworld(out_dir, seed)                  writes the corpus and instruction sets
  vocabulary.train_vocabulary(out_dir, size)     its sentencepiece model
  registration.register_toyworld(out_dir, vocab) SeqIO tasks and the paper's mixtures
  check(record, response), response_in_language(text, lang), identify(text)   checkers

Modules, in dependency order: concepts (what is true), phonology + typology + lexicon (how
each language says it), facts (relations and ids), sentences (statements, questions,
answers), corpus (pretraining text), tasks (instruction sets), checkers, build, cli;
vocabulary and registration import the data layer (seqio, sentencepiece).
"""
from pinchjax.data.toyworld.build import build_toyworld
from pinchjax.data.toyworld.checkers import check, identify, response_in_language

__all__ = ["build_toyworld", "check", "identify", "response_in_language"]
