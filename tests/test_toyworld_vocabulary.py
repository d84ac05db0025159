"""The toy world's sentencepiece vocabulary covers corpus and instructions without UNK."""
import seqio

from pinchjax import languages
from pinchjax.data import canonical
from pinchjax.data.toyworld import build, vocabulary


def test_vocabulary_encodes_everything_without_unk(tmp_path):
  out = str(tmp_path)
  build.build_toyworld(out, seed=0, sentences_per_language=650, list_items=40)
  vocab = seqio.SentencePieceVocabulary(vocabulary.train_vocabulary(out, 3000))
  unk = vocab.tokenizer.unk_id()
  texts = list(vocabulary.texts(out))
  for lang in languages.PAPER_LANGUAGES:  # eval text is covered too, though not trained on
    texts += [r.instruction for r in canonical.read_jsonl(
        build.instruction_path(out, "eval", lang), lang=lang)]
  assert len(texts) > 8000
  assert all(unk not in vocab.encode(t) for t in texts)
  # The chat template's markers are single tokens.
  for marker in ("<user>", "<model>"):
    assert vocab.tokenizer.piece_to_id(marker) in vocab.encode(f"x {marker} y")
