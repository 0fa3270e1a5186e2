"""llmdoctor: the environment doctor for training and serving LLMs on NVIDIA GPUs."""

__version__ = "0.1.0"
