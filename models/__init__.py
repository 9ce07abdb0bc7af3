"""Floor 1: every model behind one interface per kind (LLM, ASR, TTS, VAD).

Callers import the interfaces from ``models.llm``, ``models.asr``, ``models.tts`` and
``models.vad`` and build backends with ``models.registry``; vendor modules stay below.
This package imports nothing else of ours.
"""
