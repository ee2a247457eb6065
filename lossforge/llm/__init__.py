"""The LLM test bed: tiny language models trained on program-generated, program-scored tasks.

    tasks.py    tasks (add, sort, reverse): prompts, correct answers, graded wrong answers,
                exact scorers, and the preference-data variants (clean, noisy-<r>,
                mixed-quality, length-controlled, verbose-wrong)
    model.py    character tokenizer and random-init Llama built in code, greedy decoding,
                SFT (cached), preference training through TRL with any lossforge objective
    fitness.py  the test bed as a search fitness (``python -m lossforge.search --fitness llm``)

Everything runs offline on CPU; nothing is downloaded. Needs the ``llm`` extra
(``pip install -e '.[llm]'`` in a checkout).
"""
