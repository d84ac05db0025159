"""The data layer: dataset layouts in, SeqIO tasks and mixtures, packed training batches out.

  canonical   the canonical record and its JSONL format (errors name file, line, field)
  rows        rows of a JSON array or JSONL file (BOM, bad UTF-8), shared reader pieces
  deepjson    JSON nested deeper than the json module's recursion allows
  formats     readers: LIMA, Alpaca, Aya, AlpacaFarm, canonical (and OpenAssistant's)
  oasst       OpenAssistant message and tree exports, selected as their export tools do
  mapped      any JSON/JSONL layout through a field map (--format json --map ...)
  langcheck   is an imported file in the language it is imported as?
  paperset    the paper's 1,000 LIMA + 3,640 OASST English set
  mixtures    the paper's mixtures as pure functions of (ids, budget, languages, P, seed)
  chat        chat templates per model family, shared by training and inference
  vocab       sentencepiece and Hugging Face tokenizer.json vocabularies; sentencepiece training
  sources     the layout on disk, a seqio DataSource over it, the task recipe
  registry    datasets on disk -> SeqIO tasks and mixtures by name
  features    decoder features (seqio names) and packing
  pipeline    the resumable training stream and the one-pass eval stream
  synthetic   a random parallel set for tests and benchmarks
  cli, vocab_cli   `pinchjax data ...` (import, import-generations, ...), `pinchjax vocab train`
  toyworld/   the synthetic multilingual world of the miniature study
"""
