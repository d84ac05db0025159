"""The real path in miniature: a tiny random Gemma 3 (the model tuned) and Qwen 2.5 (the
judge) in Hugging Face layout, and the paper's raw data in its published schemas (LIMA,
OpenAssistant oasst1 messages, AlpacaEval-style eval files) in English, Spanish and Russian.

  python tests/real_path_fixtures.py build OUT           # OUT/models, OUT/raw
  python tests/real_path_fixtures.py translate EN.jsonl es OUT.jsonl

`translate` stands in for `pinchjax translate` (which needs a translation model): it writes
the canonical records of EN.jsonl with the Spanish or Russian text of this module's parallel
items, same ids and order. Everything is built offline: the weights are random
(transformers' own initialisation, seed 0) and each tokenizer is a byte-level BPE trained on
this text with its family's special tokens and published chat template.
"""
from __future__ import annotations

import json
import os
import sys
import uuid
from typing import Sequence

from chat_template_fixtures import write_tokenizer

LANGS = ("en", "es", "ru")

# (instruction, response) in each of LANGS; the first N_LIMA are LIMA rows, the rest
# OpenAssistant first turns.
PARALLEL = [
    {"en": ("Name three colours of the rainbow.",
            "Red, orange and yellow are three colours of the rainbow."),
     "es": ("Nombra tres colores del arcoíris.",
            "El rojo, el naranja y el amarillo son tres colores del arcoíris."),
     "ru": ("Назови три цвета радуги.", "Красный, оранжевый и жёлтый — три цвета радуги.")},
    {"en": ("Why do cats sleep so much?",
            "Cats sleep a lot to save energy for hunting, even when they live indoors."),
     "es": ("¿Por qué los gatos duermen tanto?",
            "Los gatos duermen mucho para ahorrar energía para cazar, aunque vivan en casa."),
     "ru": ("Почему кошки так много спят?",
            "Кошки много спят, чтобы сберечь силы для охоты, даже если живут дома.")},
    {"en": ("Give me a tip for learning a new language.",
            "Practice a little every day and speak with native speakers as often as you can."),
     "es": ("Dame un consejo para aprender un idioma nuevo.",
            "Practica un poco cada día y habla con hablantes nativos siempre que puedas."),
     "ru": ("Дай мне совет, как выучить новый язык.",
            "Занимайтесь понемногу каждый день и как можно чаще говорите с носителями языка.")},
    {"en": ("What is the capital of France?",
            "The capital of France is Paris, a city on the river Seine."),
     "es": ("¿Cuál es la capital de Francia?",
            "La capital de Francia es París, una ciudad a orillas del río Sena."),
     "ru": ("Какая столица у Франции?", "Столица Франции — Париж, город на реке Сене.")},
    {"en": ("Write a short poem about the sea.",
            "The sea is wide and blue, it sings to me at night and waits for me at dawn."),
     "es": ("Escribe un poema corto sobre el mar.",
            "El mar es ancho y azul, me canta por la noche y me espera al amanecer."),
     "ru": ("Напиши короткое стихотворение о море.",
            "Море широкое и синее, оно поёт мне ночью и ждёт меня на рассвете.")},
    {"en": ("How can I sleep better?",
            "Go to bed at the same time every night and avoid screens before sleeping."),
     "es": ("¿Cómo puedo dormir mejor?",
            "Acuéstate a la misma hora cada noche y evita las pantallas antes de dormir."),
     "ru": ("Как мне лучше спать?",
            "Ложитесь спать в одно и то же время и не смотрите на экраны перед сном.")},
    {"en": ("Explain what a vegetable soup needs.",
            "A vegetable soup needs water, salt, onions, carrots and potatoes cooked slowly."),
     "es": ("Explica qué necesita una sopa de verduras.",
            "Una sopa de verduras necesita agua, sal, cebolla, zanahorias y patatas cocidas a "
            "fuego lento."),
     "ru": ("Объясни, что нужно для овощного супа.",
            "Для овощного супа нужны вода, соль, лук, морковь и картофель, сваренные на "
            "медленном огне.")},
    {"en": ("Suggest a name for a small brown dog.",
            "You could call him Coco, a short and friendly name for a small brown dog."),
     "es": ("Sugiere un nombre para un perro pequeño y marrón.",
            "Podrías llamarlo Coco, un nombre corto y simpático para un perro pequeño."),
     "ru": ("Предложи имя для маленькой коричневой собаки.",
            "Можно назвать её Коко: это короткое и доброе имя для маленькой собаки.")},
    {"en": ("What should I pack for a weekend in the mountains?",
            "Pack warm clothes, good boots, water, a map and something to eat."),
     "es": ("¿Qué debo llevar para un fin de semana en la montaña?",
            "Lleva ropa de abrigo, buenas botas, agua, un mapa y algo de comer."),
     "ru": ("Что взять с собой на выходные в горы?",
            "Возьмите тёплую одежду, хорошие ботинки, воду, карту и что-нибудь поесть.")},
    {"en": ("Why is exercise good for health?",
            "Exercise makes the heart stronger, improves sleep and lifts the mood."),
     "es": ("¿Por qué el ejercicio es bueno para la salud?",
            "El ejercicio fortalece el corazón, mejora el sueño y levanta el ánimo."),
     "ru": ("Почему физические упражнения полезны для здоровья?",
            "Упражнения укрепляют сердце, улучшают сон и поднимают настроение.")},
    {"en": ("Describe a busy market in the morning.",
            "In the morning the market is full of people buying bread, fruit and fresh fish."),
     "es": ("Describe un mercado lleno de gente por la mañana.",
            "Por la mañana el mercado está lleno de gente que compra pan, fruta y pescado."),
     "ru": ("Опиши шумный рынок утром.",
            "Утром рынок полон людей, которые покупают хлеб, фрукты и свежую рыбу.")},
    {"en": ("How do I make a cup of tea?",
            "Boil water, pour it over the tea leaves, wait three minutes and then drink."),
     "es": ("¿Cómo preparo una taza de té?",
            "Hierve agua, viértela sobre las hojas de té, espera tres minutos y luego bebe."),
     "ru": ("Как заварить чашку чая?",
            "Вскипятите воду, залейте ею чайные листья, подождите три минуты и пейте.")},
]
N_LIMA = 4
N_OASST = len(PARALLEL) - N_LIMA

# AlpacaEval-style evaluation instructions (with a reference output) in each language.
EVAL = [
    {"en": ("Tell me something interesting about the moon.",
            "The moon always shows the same face to the Earth."),
     "es": ("Cuéntame algo interesante sobre la luna.",
            "La luna siempre muestra la misma cara a la Tierra."),
     "ru": ("Расскажи мне что-нибудь интересное о луне.",
            "Луна всегда повёрнута к Земле одной и той же стороной.")},
    {"en": ("Which fruit is rich in vitamin C?", "Oranges and kiwis are rich in vitamin C."),
     "es": ("¿Qué fruta es rica en vitamina C?", "Las naranjas y los kiwis son ricos en vitamina C."),
     "ru": ("Какой фрукт богат витамином C?", "Апельсины и киви богаты витамином C.")},
    {"en": ("Write a friendly greeting for a new neighbour.",
            "Welcome to the street! Knock on our door if you need anything."),
     "es": ("Escribe un saludo amable para un vecino nuevo.",
            "¡Bienvenido a la calle! Llama a nuestra puerta si necesitas algo."),
     "ru": ("Напиши дружеское приветствие для нового соседа.",
            "Добро пожаловать на нашу улицу! Стучите к нам, если что-нибудь понадобится.")},
]


def corpus() -> list[str]:
  """Every text of the fixture, for training the tokenizers."""
  return [text for item in PARALLEL + EVAL for pair in item.values() for text in pair] * 4


def _write_jsonl(path: str, rows: Sequence[dict]) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write_models(out: str) -> dict[str, str]:
  """The tiny random Gemma 3 (Gemma3ForCausalLM, text only) and Qwen 2.5 (Qwen2ForCausalLM),
  each saved by save_pretrained beside its tokenizer; family -> directory."""
  import torch  # pylint: disable=import-outside-toplevel
  import transformers  # pylint: disable=import-outside-toplevel
  dirs = {}
  for family, name in (("gemma3", "gemma-3-tiny"), ("qwen2.5", "qwen2.5-tiny")):
    directory = os.path.join(out, "models", name)
    write_tokenizer(directory, family, corpus=corpus())
    tok = transformers.AutoTokenizer.from_pretrained(directory)
    ids = dict(vocab_size=len(tok), eos_token_id=tok.eos_token_id,
               bos_token_id=tok.bos_token_id, pad_token_id=tok.convert_tokens_to_ids(
                   "<pad>" if family == "gemma3" else "<|endoftext|>"))
    shape = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=2, num_key_value_heads=1, head_dim=32)
    if family == "gemma3":
      config = transformers.Gemma3TextConfig(
          **ids, **shape, max_position_embeddings=1024, sliding_window=64,
          layer_types=["sliding_attention", "full_attention"], query_pre_attn_scalar=32)
      cls = transformers.Gemma3ForCausalLM
    else:  # the judge reads two responses and a prompt: a longer context
      config = transformers.Qwen2Config(**ids, **shape, max_position_embeddings=2048,
                                        tie_word_embeddings=True)
      cls = transformers.Qwen2ForCausalLM
    torch.manual_seed(0)
    cls(config).save_pretrained(directory)
    dirs[family] = directory
  return dirs


def _oasst_message(mid: str, parent: str | None, tree: str, role: str, text: str,
                   lang: str, rank: int | None, **overrides) -> dict:
  """One message of the oasst1 flat export (every field of its dataset card)."""
  return {"message_id": mid, "parent_id": parent,
          "user_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "user/" + mid)),
          "created_date": "2023-02-06T13:50:44.657083+00:00", "text": text, "role": role,
          "lang": lang, "review_count": 3, "review_result": True, "deleted": False,
          "rank": rank, "synthetic": False, "model_name": None,
          "detoxify": {"toxicity": 0.0004, "severe_toxicity": 0.00003, "obscene": 0.0002,
                       "identity_attack": 0.0001, "insult": 0.0002, "threat": 0.00004,
                       "sexual_explicit": 0.00002},
          "message_tree_id": tree, "tree_state": "ready_for_export",
          "emojis": {"name": ["+1"], "count": [2]},
          "labels": {"name": ["spam", "lang_mismatch", "quality"], "value": [0.0, 0.0, 0.75],
                     "count": [3, 3, 2]}, **overrides}


def _mid(*parts: object) -> str:
  return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, parts))))


def oasst_messages() -> list[dict]:
  """Trees of English first turns (the best-ranked reply is the fixture's, a worse one and a
  follow-up turn hang beside it), plus what the paper set must not select: a Spanish prompt,
  a deleted English prompt."""
  out = []
  for i, item in enumerate(PARALLEL[N_LIMA:]):
    root = _mid("oasst", i)
    best, worse = _mid("oasst", i, "best"), _mid("oasst", i, "worse")
    instruction, response = item["en"]
    out += [_oasst_message(root, None, root, "prompter", instruction, "en", None),
            _oasst_message(worse, root, root, "assistant", "I do not know.", "en", 1),
            _oasst_message(best, root, root, "assistant", response, "en", 0),
            _oasst_message(_mid("oasst", i, "more"), best, root, "prompter",
                           "Thank you! Can you say more?", "en", None)]
  es_root = _mid("oasst", "es")
  out += [_oasst_message(es_root, None, es_root, "prompter", PARALLEL[0]["es"][0], "es", None),
          _oasst_message(_mid("oasst", "es", "r"), es_root, es_root, "assistant",
                         PARALLEL[0]["es"][1], "es", 0)]
  gone = _mid("oasst", "deleted")
  out += [_oasst_message(gone, None, gone, "prompter", "Tell me a secret.", "en", None,
                         deleted=True),
          _oasst_message(_mid("oasst", "deleted", "r"), gone, gone, "assistant",
                         "Secrets are for keeping.", "en", 0)]
  return out


def write_raw_data(out: str) -> dict[str, str]:
  """LIMA train.jsonl (N_LIMA single-turn rows, then a multi-turn one), the oasst1 message
  export and AlpacaEval-style JSON arrays per language; name -> path."""
  sources = ["stackexchange", "wikihow", "multi_turn"]
  lima = [{"conversations": list(item["en"]), "source": sources[i % 2]}
          for i, item in enumerate(PARALLEL[:N_LIMA])]
  lima.append({"conversations": list(PARALLEL[0]["en"]) + ["And two more?",
                                                           "Green and blue."],
               "source": sources[2]})
  paths = {"lima": os.path.join(out, "raw", "lima", "train.jsonl"),
           "oasst": os.path.join(out, "raw", "oasst1", "2023-04-12_oasst_ready.messages.jsonl")}
  _write_jsonl(paths["lima"], lima)
  _write_jsonl(paths["oasst"], oasst_messages())
  for lang in LANGS:
    path = paths[f"eval_{lang}"] = os.path.join(out, "raw", "alpaca_eval", f"{lang}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
      json.dump([{"instruction": item[lang][0], "output": item[lang][1],
                  "generator": "text_davinci_003", "dataset": "helpful_base"}
                 for item in EVAL], f, ensure_ascii=False, indent=1)
  return paths


def translate(en_path: str, lang: str, out_path: str) -> int:
  """Writes the canonical records of `en_path` in `lang` (ids and order kept); returns how
  many. An English text that is not one of PARALLEL's is an error naming its line."""
  table = {item["en"]: item[lang] for item in PARALLEL}
  rows = []
  with open(en_path, encoding="utf-8") as f:
    for n, line in enumerate(f, 1):
      rec = json.loads(line)
      key = (rec["instruction"], rec["response"])
      if key not in table:
        raise KeyError(f"{en_path}:{n}: no {lang} text for {rec['id']!r}")
      rows.append({**rec, "lang": lang, "instruction": table[key][0],
                   "response": table[key][1]})
  _write_jsonl(out_path, rows)
  return len(rows)


def main(argv: Sequence[str]) -> int:
  if argv[:1] == ["build"] and len(argv) == 2:
    print(json.dumps({**write_models(argv[1]), **write_raw_data(argv[1])}, indent=1))
    return 0
  if argv[:1] == ["translate"] and len(argv) == 4:
    print(f"{translate(*argv[1:])} records -> {argv[3]}")
    return 0
  print(__doc__.split("\n\n")[1], file=sys.stderr)
  return 2


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
