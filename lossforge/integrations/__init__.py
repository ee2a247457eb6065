"""Bridges from lossforge objectives to training libraries.

    lossforge.integrations.trl   LossforgeDPOTrainer: TRL's DPOTrainer with a lossforge loss
                                 (needs the ``llm`` extra: pip install -e '.[llm]')

Nothing here is imported by ``import lossforge``; each bridge imports its library itself.
"""
