"""Per-language sound (letter) inventories from which the synthetic words are drawn.

Each language draws syllables from its own script and inventory (Czech hačeks, Finnish
vowel harmony letters and long vowels, Italian open syllables, Swahili prenasalised CV
syllables, Arabic and Hebrew consonantal spellings, Devanagari consonant + vowel-sign
syllables, Han characters), so languages that share a script still look different and
their vocabularies are disjoint (the lexicon enforces disjointness).
"""
from __future__ import annotations

import dataclasses
import random


@dataclasses.dataclass(frozen=True)
class Phonology:
  onsets: tuple[str, ...]
  vowels: tuple[str, ...]
  codas: tuple[str, ...] = ("",)
  medial: tuple[str, ...] = ()  # onsets that never start a word (geminates)
  # Final-letter substitutions (Hebrew final forms).
  finals: tuple[tuple[str, str], ...] = ()

  def word(self, rng: random.Random, syllables: int) -> str:
    parts = [rng.choice(self.onsets + (self.medial if i else ())) + rng.choice(self.vowels)
             for i in range(syllables)]
    word = "".join(parts) + rng.choice(self.codas)
    for plain, final in self.finals:
      if word.endswith(plain):
        word = word[:-len(plain)] + final
    return word


def _split(letters: str) -> tuple[str, ...]:
  return tuple(letters.split())


# Han: one character per "syllable"; the vowel slot is empty.
_HAN = ("天 地 山 水 火 木 金 土 日 月 风 云 雨 雪 花 草 石 田 林 海 江 河 湖 光 明 星 春 夏 秋 冬 "
        "东 西 南 北 中 上 下 左 右 前 后 里 外 大 小 多 少 长 高 新 老 红 白 黑 青 黄 家 门 车 "
        "马 牛 羊 鸟 鱼 米 面 茶 酒 书 字 语 言 声 心 手 口 目 耳 头 身 力 工 开 关 走 来 去 "
        "出 入 生 学 知 见 听 说 写 读 吃 喝 买 卖 想 爱 问 答 京 城 村 路 桥 楼 窗 灯 布 衣 "
        "纸 笔 刀 弓 网 瓜 豆 果 叶 根 乐 歌 舞 画 球 棋 钟 表 船 桌 椅 床 瓶 杯 碗 盘")

PHONOLOGIES: dict[str, Phonology] = {
    "ar": Phonology(
        onsets=_split("ب ت ث ج ح خ د ذ ر ز س ش ص ض ط ظ ع غ ف ق ك م ن ه"),
        vowels=("", "ا", "و", "ي"), codas=("", "ة", "ن", "ر")),
    "zh": Phonology(onsets=_split(_HAN), vowels=("",)),
    "cs": Phonology(
        onsets=_split("b č d h k l m n p r ř s š t v z ž st pr kr hl zd"),
        vowels=_split("a e ě i o u y á í ů"), codas=("", "", "k", "l", "n", "s", "t", "ch")),
    "et": Phonology(
        onsets=_split("h j k l m n p r s t v kr tr"),
        vowels=_split("a e i o u õ ä ö ü aa ee uu õu"), codas=("", "", "s", "k", "t", "l", "d")),
    "fi": Phonology(
        onsets=_split("h j k l m n p r s t v"),
        vowels=_split("a e i o u y ä ö aa ää ii uo ie yö"), codas=("", "", "n", "s", "t", "l"),
        medial=_split("kk tt pp")),
    "he": Phonology(
        onsets=_split("ב ג ד ז ח ט כ ל מ נ ס ע פ צ ק ר ש ת"),
        vowels=("", "", "ו", "י", "א"),
        codas=("", "ם", "ן", "ת"),
        finals=(("כ", "ך"), ("מ", "ם"), ("נ", "ן"), ("פ", "ף"), ("צ", "ץ"))),
    "hi": Phonology(
        onsets=_split("क ख ग घ च ज ट ड त द न प ब म र ल व स ह श"),
        vowels=("", "ा", "ि", "ी", "ु", "ू", "े", "ो"), codas=("", "", "ं", "न", "र")),
    "it": Phonology(
        onsets=_split("b c d f g l m n p r s t v z sc ch gh br tr"),
        vowels=_split("a e i o u ia io"), medial=_split("gl ll tt zz cc")),
    "ru": Phonology(
        onsets=_split("б в г д ж з к л м н п р с т ф х ч ш пр ст гр"),
        vowels=_split("а е и о у ы я ю"), codas=("", "", "й", "н", "т", "к", "ль", "в")),
    "es": Phonology(
        onsets=_split("b c d f g j l ll m n ñ p r s t v qu ch"),
        vowels=_split("a e i o u ue ie á é ó"), codas=("", "", "s", "n", "r", "l")),
    "sw": Phonology(
        onsets=_split("b ch d f g h j k l m mb n nd ng ny p s sh t w z"),
        vowels=_split("a e i o u")),
}
